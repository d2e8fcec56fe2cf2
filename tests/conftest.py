"""Fixtures: the app, a fake Google, and real servers (local provider, gunicorn, Redis, Chromium).

The machinery behind them is in tests/helpers.py and scripts/launch.py. Each fixture imports what it
needs (the app among it) when it first runs: pytest-xdist's controller process, which runs no test,
imports this file before it starts the workers, and then waits for nothing heavy.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest
from jinja2 import BytecodeCache

from .guard import (  # noqa: F401  (the harness's rule, tests/guard.py: `make test-fast` starts no server)
    SERVER_FIXTURES,
    pytest_collection,
    pytest_collection_modifyitems,
    pytest_configure,
    pytest_fixture_setup,
    pytest_runtest_call,
    pytest_runtest_setup,
    pytest_unconfigure,
)

if TYPE_CHECKING:
    from joserfc.jwk import RSAKey


@pytest.fixture(scope="session")
def signing_key() -> RSAKey:
    from joserfc.jwk import RSAKey

    return RSAKey.generate_key(2048, parameters={"kid": "google-key-1", "use": "sig", "alg": "RS256"})


@pytest.fixture
def google(signing_key):
    import requests_mock

    from .helpers import FakeGoogle

    with requests_mock.Mocker() as mocker:  # any URL not registered here raises: nothing reaches Google
        yield FakeGoogle(mocker, signing_key)


class CompiledTemplates(BytecodeCache):
    """Jinja's compiled templates kept for the whole run: every app the tests make has a Jinja environment of
    its own, which would compile each template again (half the time of a signed-in page in a new app).
    A template whose source changes gets a new checksum, so it is compiled again."""

    def __init__(self) -> None:
        self.code: dict[str, bytes] = {}

    def load_bytecode(self, bucket) -> None:
        if bucket.key in self.code:
            bucket.bytecode_from_string(self.code[bucket.key])

    def dump_bytecode(self, bucket) -> None:
        self.code[bucket.key] = bucket.bytecode_to_string()


COMPILED_TEMPLATES = CompiledTemplates()


def new_app(config: dict):
    """create_app with the environment and any .env ignored, sharing compiled templates with the others."""
    from app import create_app

    app = create_app(config, environ={})
    app.jinja_env.bytecode_cache = COMPILED_TEMPLATES
    return app


@pytest.fixture
def make_app(tmp_path):
    """create_app with test settings; the environment and any .env are ignored."""
    from .helpers import base_config

    return lambda **overrides: new_app(base_config(tmp_path, **overrides))


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def auth(client, google):
    from .helpers import AuthActions

    return AuthActions(client, google)


@pytest.fixture(scope="session")
def local_provider():
    """oidc-provider-mock on 127.0.0.1, started the way `make run` starts it."""
    from .helpers import Provider

    provider = Provider()
    yield provider
    provider.stop()


@pytest.fixture(scope="session")
def gunicorn_factory(tmp_path_factory):
    """Start gunicorn instances that all stop at the end of the session."""
    from .helpers import Gunicorn, server_env

    started: list[Gunicorn] = []

    def start(**env: str) -> Gunicorn:
        directory = tmp_path_factory.mktemp("gunicorn")
        env.setdefault("SESSION_CACHELIB_DIR", str(directory / "sessions"))
        server = Gunicorn(server_env(**env), directory / "gunicorn.log")  # the Dockerfile's CMD
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def app_server(gunicorn_factory, local_provider):
    """One gunicorn for the whole session, signed in against the local provider."""
    return gunicorn_factory(GOOGLE_CLIENT_ID="e2e-client", GOOGLE_CLIENT_SECRET="e2e-secret",
                            GOOGLE_SERVER_METADATA_URL=local_provider.metadata_url)


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium (Debian's) for the session, driven by Playwright."""
    from .helpers import CHROMIUM, CHROMIUM_ARGS, require

    require(os.path.exists(CHROMIUM), f"Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    from .helpers import private_redis

    server = private_redis(tmp_path_factory, "redis")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory):
    """Three redis-server nodes made one Redis Cluster (primaries only) by `redis-cli --cluster create`;
    REDIS_CLUSTER_URL may name any of them (`redis://127.0.0.1:<port>`)."""
    from .helpers import private_redis_cluster

    nodes = private_redis_cluster(tmp_path_factory, "cluster-node")
    yield nodes
    for node in nodes:
        node.stop()
