"""Fixtures only the system tests use: gunicorn behind a TLS proxy, and a look into the shared Redis."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def https_app_server(gunicorn_factory, local_provider, tmp_path_factory):
    """One gunicorn behind a TLS-terminating proxy (tests/tls_proxy.py), set up as docs/deployment.md
    says for nginx: `.url` is https://127.0.0.1:<proxy port>, `.gunicorn` the server behind it."""
    from ..tls_proxy import TLSProxy

    server = gunicorn_factory(GOOGLE_CLIENT_ID="e2e-https-client", GOOGLE_CLIENT_SECRET="e2e-secret",
                              GOOGLE_SERVER_METADATA_URL=local_provider.metadata_url, TRUSTED_PROXIES="1",
                              SESSION_COOKIE_SECURE="true", FORWARDED_ALLOW_IPS="127.0.0.1")
    proxy = TLSProxy(server.port, tmp_path_factory.mktemp("tls-proxy"))
    proxy.gunicorn = server
    yield proxy
    proxy.stop()


@pytest.fixture(scope="session")
def redis_store(redis_server):
    """A client on the shared redis-server, to look at the stored sessions."""
    import redis

    client = redis.Redis.from_url(redis_server.url, socket_timeout=2)
    yield client
    client.close()
