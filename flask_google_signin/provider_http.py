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
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_connections: contextvars.ContextVar[list | None] = contextvars.ContextVar("provider_connections", default=None)


class _WatchedConnection:
    """Keeps its socket: http.client drops `sock` once a `Connection: close` answer has begun."""

    def connect(self) -> None:
        super().connect()
        self.watched_sock = self.sock


class _WatchedPool:
    """Hands every connection it lends out to the running ProviderSession.request's watchdog."""

    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)
        watched = _connections.get()
        if watched is not None:
            watched.append(conn)
        return conn


class _WatchedHTTPConnection(_WatchedConnection, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_WatchedConnection, HTTPSConnection):
    pass


class _WatchedHTTPPool(_WatchedPool, HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(_WatchedPool, HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class ProviderSession(OAuth2Session):
    """Authlib's requests session, with a watchdog that cuts the call's connections at `deadline`."""

    deadline: float | None = None  # time.monotonic() value, set by GoogleClient

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for adapter in self.adapters.values():
            if isinstance(adapter, HTTPAdapter):
                adapter.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}

    def request(self, method: str, url: str, withhold_token: bool = False, auth: Any = None,
                **kwargs: Any) -> requests.Response:
        if self.deadline is None:
            return super().request(method, url, withhold_token=withhold_token, auth=auth, **kwargs)
        connections: list = []
        expired = threading.Event()

        def cut() -> None:
            expired.set()
            for conn in connections:
                with contextlib.suppress(OSError, AttributeError):
                    conn.watched_sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked read in the request thread

        watchdog = threading.Timer(max(0.0, self.deadline - time.monotonic()), cut)
        reset = _connections.set(connections)
        watchdog.start()
        try:
            return super().request(method, url, withhold_token=withhold_token, auth=auth, **kwargs)
        except requests.RequestException:
            if expired.is_set():
                raise requests.Timeout("the provider's answer did not complete in time") from None
            raise
        finally:
            watchdog.cancel()
            _connections.reset(reset)
