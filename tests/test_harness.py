"""The test harness's own rule (tests/guard.py): a test not marked slow starts no server, so
`make test-fast` (-m "not slow") starts none: not in the test, not in a fixture of any scope (session,
package, module, class, function), not while test modules are imported, and not in a pytest-xdist worker.
The inner suites run in a pytest of their own (pytester, in this process: the guard nests), with the guard
loaded as here.
"""

from __future__ import annotations

import importlib.util
import re
import socket
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import pytest

from .conftest import SERVER_FIXTURES  # the collection check lives there
from .helpers import ROOT, require

pytest_plugins = ["pytester"]

GUARD_MESSAGE = 'starts {what}: `make test-fast` (-m "not slow") starts no server; mark it @pytest.mark.slow'


def test_a_fast_test_cannot_open_a_listening_socket():
    with socket.socket() as sock, pytest.raises(pytest.fail.Exception, match=r"mark it @pytest\.mark\.slow"):
        sock.listen()


def test_a_fast_test_cannot_start_a_server_program():
    with pytest.raises(pytest.fail.Exception, match="a server process"):
        subprocess.Popen([sys.executable, "-m", "gunicorn", "--version"])


def test_a_fast_test_may_run_a_short_helper():
    assert subprocess.run([sys.executable, "-c", "print('ok')"], capture_output=True, text=True).stdout == "ok\n"


def test_server_fixtures_are_listed_for_the_collection_check():
    """Every fixture that starts a server is in SERVER_FIXTURES (the collection check reads it)."""
    known = {"local_provider", "gunicorn_factory", "app_server", "https_app_server", "browser", "page", "redis_server",
             "hostile_server"}
    assert known <= SERVER_FIXTURES


# --------------------------------------------------------------------------- inner suites

INNER_CONFTEST = '''
import socket
import subprocess
import sys

import pytest

pytest_plugins = ["tests.guard"]


def listening():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


@pytest.fixture(scope="session")
def session_socket():
    with listening() as sock:
        yield sock


@pytest.fixture(scope="session")
def session_process():
    """A server program (python -m http.server) started once for the session."""
    process = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "0"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield process
    process.kill()
    process.wait()


@pytest.fixture(scope="package")
def package_socket():
    with listening() as sock:
        yield sock


@pytest.fixture(scope="module")
def module_socket():
    with listening() as sock:
        yield sock


@pytest.fixture(scope="class")
def class_socket():
    with listening() as sock:
        yield sock


@pytest.fixture
def function_socket():
    try:
        sock = listening()
    except Exception:  # a fixture that hides errors does not hide the refusal (a BaseException)
        sock = None
    yield sock
'''

INNER_TESTS = '''
import pytest
{mark}

def test_session_socket(session_socket):
    pass


def test_session_process(session_process):
    pass


def test_package_socket(package_socket):
    pass


def test_module_socket(module_socket):
    pass


class TestClass:
    def test_class_socket(self, class_socket):
        pass


def test_function_socket(function_socket):
    pass


def test_in_the_test_itself():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
'''

INNER_TEST_IDS = ["test_session_socket", "test_session_process", "test_package_socket", "test_module_socket",
                  "TestClass::test_class_socket", "test_function_socket", "test_in_the_test_itself"]


@pytest.fixture
def inner(pytester, monkeypatch):
    """An inner project: tests.guard importable (by xdist's workers too), the `slow` marker declared, the
    conftest above. No plugin is loaded that the inner suite does not name (`-p xdist.plugin` where it
    needs xdist): workers start sooner."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makeini("[pytest]\nmarkers =\n    slow: starts servers\n")
    pytester.makeconftest(INNER_CONFTEST)
    pytester.mkpydir("suite")

    def write(mark: str = "") -> None:
        (pytester.path / "suite" / "test_inner.py").write_text(textwrap.dedent(INNER_TESTS.format(mark=mark)))

    def run(*args: str):
        return pytester.runpytest_inprocess("-p", "no:cacheprovider", *args)

    write()
    return SimpleNamespace(write=write, run=run)


def assert_each_refused(result) -> None:
    """Every inner test fails, in setup (its fixture) or in the test, with the guard's message."""
    output = result.stdout.str()
    for test_id in INNER_TEST_IDS:
        refusal = re.escape(f"suite/test_inner.py::{test_id} ") + r"starts (a listening socket|a server process)"
        assert re.search(refusal, output), f"{test_id} was not refused:\n{output}"
    assert output.count(GUARD_MESSAGE.format(what="a listening socket")) >= 6, output
    assert "starts a server process (" in output and "http.server" in output, output
    outcomes = result.parseoutcomes()
    assert outcomes.get("errors", 0) + outcomes.get("failed", 0) == len(INNER_TEST_IDS), outcomes
    assert "passed" not in outcomes, outcomes
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_fast_run_refuses_a_server_from_a_fixture_of_any_scope_and_the_same_suite_marked_slow_passes(inner):
    assert_each_refused(inner.run("-m", "not slow"))

    inner.write(mark="pytestmark = pytest.mark.slow")
    result = inner.run()  # the whole suite, as `make test` runs it: slow tests may start servers
    result.assert_outcomes(passed=len(INNER_TEST_IDS))
    assert "starts no server" not in result.stdout.str()


def test_fast_run_refuses_a_server_in_pytest_xdist_workers(inner):
    require(importlib.util.find_spec("xdist") is not None, "pytest-xdist (requirements-dev.txt)")
    result = inner.run("-p", "xdist.plugin", "-m", "not slow", "-n", "2")
    assert_each_refused(result)
    assert re.search(r"created: 2/2 workers", result.stdout.str()), result.stdout.str()


def test_fast_run_refuses_a_server_started_while_a_test_module_is_imported(inner, pytester):
    pytester.makepyfile(test_import_time='''
        import socket

        import pytest

        pytestmark = pytest.mark.slow
        SERVER = socket.socket()
        SERVER.bind(("127.0.0.1", 0))
        SERVER.listen()


        def test_nothing():
            pass
    ''')
    result = inner.run("-m", "not slow", "test_import_time.py")
    result.stdout.fnmatch_lines(["*collection " + GUARD_MESSAGE.format(what="a listening socket")])
    assert result.ret == pytest.ExitCode.INTERRUPTED
    inner.run("test_import_time.py").assert_outcomes(passed=1)  # the whole suite: slow modules may
