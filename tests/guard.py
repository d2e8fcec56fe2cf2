"""The harness's rule, as a pytest plugin: a test not marked `slow` starts no server, so `make test-fast`
(`pytest -m "not slow"`) starts none.

Three checks, each naming the test and saying to mark it slow:
- at collection, a test that asks for a server fixture (SERVER_FIXTURES) must be marked slow;
- while a test that is not slow sets up (fixtures of every scope: a session-, package-, module- or
  class-scoped fixture is set up inside the setup of the first test that needs it) and runs, no socket
  may listen, no server program may start, and no fixture in SERVER_FIXTURES may be set up (even one
  asked for through request.getfixturevalue);
- when the selection leaves slow tests out (`-m "not slow"`), the same holds while the test modules
  are imported (collection).

The refusal is pytest.fail, a BaseException, so `except Exception` around a server start does not
hide it. It works the same in each pytest-xdist worker (each loads this plugin). tests/conftest.py
loads it; tests/test_harness.py runs it on inner suites with pytester.
"""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

SERVER_FIXTURES = {"local_provider", "gunicorn_factory", "app_server", "https_app_server", "browser", "page",
                   "redis_server", "redis_store", "redis_cluster", "hostile_server", "make_run"}
# Programs that serve (or drive a browser); short-lived helpers such as hadolint or `python -c` are fine.
SERVER_PROGRAMS = ("gunicorn", "redis-server", "redis-sentinel", "oidc_provider_mock", "chromium", "playwright",
                   "wrk", "serve.py", "http.server")
MESSAGE = "starts {what}: `make test-fast` (-m \"not slow\") starts no server; mark it @pytest.mark.slow"

_guarding: str | None = None  # what runs now under the rule (a test's node id, or "collection"), else None
_configured = 0  # pytest sessions using the guard in this process (a pytester run inside a test is a second)
_listen = socket.socket.listen
_popen_init = subprocess.Popen.__init__


def refuse(what: str) -> None:
    pytest.fail(f"{_guarding} {MESSAGE.format(what=what)}", pytrace=False)


def guarded_listen(self, *args, **kwargs):
    if _guarding is not None:
        refuse("a listening socket")
    return _listen(self, *args, **kwargs)


def guarded_popen_init(self, args, *rest, **kwargs):
    if _guarding is not None:
        words = [args] if isinstance(args, str | bytes | os.PathLike) else list(args)
        if any(name in str(word) for word in words for name in SERVER_PROGRAMS):
            refuse(f"a server process ({' '.join(map(str, words))})")
    _popen_init(self, args, *rest, **kwargs)


def leaves_slow_out(config: pytest.Config) -> bool:
    return "not slow" in " ".join((config.getoption("markexpr", "") or "").split())


def pytest_configure(config: pytest.Config) -> None:
    global _configured
    _configured += 1
    socket.socket.listen = guarded_listen
    subprocess.Popen.__init__ = guarded_popen_init


def pytest_unconfigure(config: pytest.Config) -> None:
    global _configured
    _configured -= 1
    if not _configured:
        socket.socket.listen = _listen
        subprocess.Popen.__init__ = _popen_init


def guard(what: str | None) -> str | None:
    """Set what is guarded (a hook wrapper restores the previous value after, so runs nest); returns it."""
    global _guarding
    previous, _guarding = _guarding, what
    return previous


@pytest.hookimpl(wrapper=True)
def pytest_collection(session: pytest.Session):
    previous = guard("collection" if leaves_slow_out(session.config) else None)
    try:
        return (yield)
    finally:
        guard(previous)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test that uses a server fixture must be marked slow, so `pytest -m "not slow"` starts none."""
    unmarked = [item.nodeid for item in items
                if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())) and not item.get_closest_marker("slow")]
    if unmarked:
        raise pytest.UsageError("these tests start servers but are not marked slow:\n  " + "\n  ".join(unmarked))


def _guarded_phase(item: pytest.Item):
    previous = guard(None if item.get_closest_marker("slow") else item.nodeid)
    try:
        return (yield)
    finally:
        guard(previous)


# setup (where fixtures of every scope start) and call; not teardown, where servers only stop
pytest_runtest_setup = pytest.hookimpl(wrapper=True)(_guarded_phase)
pytest_runtest_call = pytest.hookimpl(wrapper=True)(_guarded_phase)


@pytest.hookimpl(tryfirst=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef, request: pytest.FixtureRequest) -> None:
    if _guarding is not None and fixturedef.argname in SERVER_FIXTURES:
        refuse(f"the server fixture {fixturedef.argname!r}")
