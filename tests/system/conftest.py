"""Fixtures only the system tests use: gunicorn behind a TLS proxy, `make run` itself, and a look into
the shared Redis."""

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


@pytest.fixture(scope="session")
def make_run(tmp_path_factory):
    """scripts/serve.py as `make run` starts it without Google credentials, on free ports: its own local
    provider, a client registered with the calendar scope, and the sample Calendar API."""
    import subprocess
    import sys
    from types import SimpleNamespace

    from launch import stop

    from ..helpers import ROOT, free_port, server_env, wait_http

    port, provider_port = free_port(), free_port()
    log_path = tmp_path_factory.mktemp("make-run") / "serve.log"
    env = server_env(PORT=str(port), LOCAL_PROVIDER_PORT=str(provider_port))
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "serve.py")], cwd=ROOT, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", process, seconds=60)
    except RuntimeError:
        stop(process)
        raise RuntimeError(log_path.read_text()) from None
    yield SimpleNamespace(url=f"http://127.0.0.1:{port}", provider=f"http://127.0.0.1:{provider_port}", log=log_path)
    stop(process)
