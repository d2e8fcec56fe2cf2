"""HTTP to the provider with a hard deadline, not just a per-read timeout.

requests' timeout bounds each socket read, not the whole answer: a provider sending a byte a
second would hold a worker for hours. ProviderSession starts a timer for each call and, at the
deadline, shuts down the sockets that call opened; the blocked read wakes and the call fails
as a Timeout (a 503 page).
"""

from __future__ import annotations

import contextlib
import contextvars
import socket
import threading
import time
from typing import Any

import requests
from authlib.integrations.requests_client import OAuth2Session
from flask import current_app, g, has_app_context, has_request_context
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from .. import metrics
from ..settings import settings

# Provider metadata keys -> the endpoint's name in metrics (once discovery is loaded)
METADATA_ENDPOINTS = {"token_endpoint": "token", "userinfo_endpoint": "userinfo", "jwks_uri": "jwks",
                      "revocation_endpoint": "revoke"}

_connections: contextvars.ContextVar[list[socket.socket] | None] = contextvars.ContextVar(
    "provider_connections", default=None)


class _WatchedConnection(HTTPConnection):
    """Hands its socket, once connected, to the running ProviderSession.request's watchdog.

    Every call opens its own connections (Authlib builds a new session per call), so registering
    at connect() sees all of them. The socket itself is kept: http.client drops `sock` once a
    `Connection: close` answer has begun.
    """

    def connect(self) -> None:
        super().connect()
        watched = _connections.get()
        if watched is not None:
            watched.append(self.sock)


class _WatchedHTTPConnection(_WatchedConnection, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_WatchedConnection, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class ProviderSession(OAuth2Session):
    """Authlib's requests session, with a watchdog that cuts the call's connections at `deadline`.

    Built inside a request, it takes the request's time budget: the first provider call of a
    request starts a PROVIDER_TIMEOUT budget in `g`, and every later call shares what is left.
    Outside a request (a lookup at start-up), `budget` seconds from now, when given.
    """

    deadline: float | None = None  # time.monotonic() value
    endpoint: str | None = None  # the name metrics give its calls; None: told by the URL (endpoint_name)

    def __init__(self, *args: Any, endpoint: str | None = None, budget: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.endpoint = endpoint
        for adapter in self.adapters.values():
            if isinstance(adapter, HTTPAdapter):
                adapter.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}
        if has_request_context():
            budget = settings()["PROVIDER_TIMEOUT"]
            self.deadline = g.setdefault("provider_deadline", time.monotonic() + budget)
            self.default_timeout = max(0.2, self.deadline - time.monotonic())
        elif budget is not None:
            self.deadline = time.monotonic() + budget
            self.default_timeout = budget

    def request(self, method: str, url: str, withhold_token: bool = False, auth: Any = None,
                **kwargs: Any) -> requests.Response:
        """Every call, failed ones too, is timed for metrics.PROVIDER_DURATION, named by its endpoint."""
        started = time.perf_counter()
        try:
            return self._under_deadline(method, url, withhold_token, auth, **kwargs)
        finally:
            metrics.provider_call(self.endpoint or endpoint_name(url), time.perf_counter() - started)

    def _under_deadline(self, method: str, url: str, withhold_token: bool, auth: Any,
                        **kwargs: Any) -> requests.Response:
        response: requests.Response
        if self.deadline is None:
            response = super().request(method, url, withhold_token=withhold_token, auth=auth, **kwargs)
            return response
        connections: list[socket.socket] = []
        expired = threading.Event()

        def cut() -> None:
            expired.set()
            for sock in connections:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked read in the request thread

        watchdog = threading.Timer(max(0.0, self.deadline - time.monotonic()), cut)
        reset = _connections.set(connections)
        watchdog.start()
        try:
            response = super().request(method, url, withhold_token=withhold_token, auth=auth, **kwargs)
            return response
        except requests.RequestException:
            if expired.is_set():
                raise requests.Timeout("the provider's answer did not complete in time") from None
            raise
        finally:
            watchdog.cancel()
            _connections.reset(reset)


def endpoint_name(url: str) -> str:
    """A fixed name for a provider URL: discovery, token, userinfo, jwks, revoke, risc, else other."""
    if not has_app_context():
        return "other"
    url = url.partition("?")[0]
    if url == settings()["GOOGLE_SERVER_METADATA_URL"]:
        return "discovery"
    client = current_app.extensions.get("google_signin_client")
    metadata = getattr(client, "server_metadata", None) or {}
    for key, name in METADATA_ENDPOINTS.items():
        if metadata.get(key) == url:
            return name
    return "other"
