"""Prometheus metrics of the sign-in, all defined here, all named `google_signin_*`.

Recorded always (an increment costs about a microsecond) in prometheus_client's default registry,
so a host app that serves that registry gets them; the reference app serves them only with
METRICS_PORT, from gunicorn's master (gunicorn.conf.py: multiprocess mode, summed over the workers).
Every label takes values from a fixed set, never from the request or the provider: a route is the
Flask endpoint ("unknown" for no route), a sign-in refusal is its error code, a provider call is
named after the endpoint it reached. docs/metrics.md has the PromQL for each.

prometheus_client chooses multiprocess mode when it is imported, from PROMETHEUS_MULTIPROC_DIR:
gunicorn.conf.py sets it before a worker imports this module.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from flask import Flask, Response, current_app, has_app_context, request
from prometheus_client import Counter, Histogram

from .store import Records, Window

NAMESPACE = "google_signin"
T = TypeVar("T")

HTTP_REQUESTS = Counter("http_requests", "HTTP responses by Flask endpoint and status.", ["route", "status"],
                        namespace=NAMESPACE)
SIGNINS = Counter("signins", "Sign-ins finished at /callback: success, refused (reason: the error code) or failed "
                  "(the session store did not answer).", ["outcome", "reason"], namespace=NAMESPACE)
TOKEN_REFRESHES = Counter("token_refreshes", "Access-token refreshes: success, refused (the grant is gone) or failed "
                          "(the provider did not answer).", ["outcome"], namespace=NAMESPACE)
SESSIONS_ENDED = Counter("sessions_ended", "Signed-in sessions ended, by cause.", ["cause"], namespace=NAMESPACE)
SECURITY_EVENTS = Counter("security_events", "Cross-Account Protection events applied, by event type.", ["event"],
                          namespace=NAMESPACE)
RATE_LIMITED = Counter("rate_limited", "Requests refused with 429 by a rate limit, by Flask endpoint.", ["route"],
                       namespace=NAMESPACE)
PROVIDER_DURATION = Histogram("provider_request_duration_seconds", "Calls to the provider and Google APIs, "
                              "by endpoint, failed ones included.", ["endpoint"], namespace=NAMESPACE)
STORE_DURATION = Histogram("session_store_duration_seconds", "Session store operations, failed ones included.",
                           ["operation"], namespace=NAMESPACE,
                           buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5))
STORE_ERRORS = Counter("session_store_errors", "Session store operations that failed (the store did not answer).",
                       ["operation"], namespace=NAMESPACE)

# The fixed label values; those listed here are exported at 0 from the start, so rate() sees them.
REFRESH_OUTCOMES = ("success", "refused", "failed")
SESSION_END_CAUSES = ("sign_out", "expiry", "elsewhere", "everywhere", "security_event")
STORE_OPERATIONS = ("get", "put", "delete", "index", "pending", "limit", "ping")
# Provider metadata keys -> endpoint label (oidc.GoogleClient.server_metadata, once discovery is loaded)
METADATA_ENDPOINTS = {"token_endpoint": "token", "userinfo_endpoint": "userinfo", "jwks_uri": "jwks",
                      "revocation_endpoint": "revoke"}


def init_metrics(app: Flask) -> None:
    """Count every response by endpoint and status; export the fixed label values at 0."""
    SIGNINS.labels("success", "none")
    for outcome in REFRESH_OUTCOMES:
        TOKEN_REFRESHES.labels(outcome)
    for cause in SESSION_END_CAUSES:
        SESSIONS_ENDED.labels(cause)
    app.after_request(count_response)


def route() -> str:
    """The Flask endpoint that served the request ("static" for static files), "unknown" for no route."""
    return request.endpoint or "unknown"


# HTTP_REQUESTS' child per (route, status), as labels() returned it: looking one up there costs more than
# the count. Bounded: routes are the app's endpoints, statuses the codes it answers with.
_http_requests: dict[tuple[str, int], Any] = {}


def count_response(response: Response) -> Response:
    key = (route(), response.status_code)
    counter = _http_requests.get(key)
    if counter is None:
        counter = _http_requests[key] = HTTP_REQUESTS.labels(key[0], str(key[1]))
    counter.inc()
    return response


def signin(outcome: str, reason: str = "none") -> None:
    """outcome: success, refused (reason: the SignInError code) or failed (reason: store_unavailable)."""
    SIGNINS.labels(outcome, reason).inc()


def token_refresh(outcome: str) -> None:
    TOKEN_REFRESHES.labels(outcome).inc()


def session_ended(cause: str, count: int = 1) -> None:
    """cause: one of SESSION_END_CAUSES."""
    SESSIONS_ENDED.labels(cause).inc(count)


def security_event(event: str) -> None:
    SECURITY_EVENTS.labels(event).inc()


def rate_limited() -> None:
    RATE_LIMITED.labels(route()).inc()


def provider_endpoint(url: str) -> str:
    """A fixed name for a provider URL: discovery, token, userinfo, jwks, revoke, risc, calendar, else other."""
    if not has_app_context():
        return "other"
    config = current_app.config
    url = url.partition("?")[0]
    if url == config["GOOGLE_SERVER_METADATA_URL"]:
        return "discovery"
    client = current_app.extensions.get("google_signin_client")
    metadata = getattr(client, "server_metadata", None) or {}
    for key, name in METADATA_ENDPOINTS.items():
        if metadata.get(key) == url:
            return name
    transmitter = current_app.extensions.get("google_signin_risc")
    if url == config["RISC_CONFIGURATION_URL"] or (transmitter is not None and url == transmitter.jwks_uri):
        return "risc"
    calendar = config["GOOGLE_CALENDAR_API_URL"]
    if url == calendar or url.startswith(calendar + "/"):
        return "calendar"
    return "other"


def observe_provider_call(url: str, seconds: float) -> None:
    PROVIDER_DURATION.labels(provider_endpoint(url)).observe(seconds)


class TimedRecords:
    """A session store (store.Records) whose operations are timed, and counted when they fail.

    Anything else (a store's own attributes, which tests look at) is the wrapped store's.
    """

    def __init__(self, records: Records) -> None:
        self.records = records
        self.store_errors = records.store_errors
        self._durations = {op: STORE_DURATION.labels(op) for op in STORE_OPERATIONS}
        self._errors = {op: STORE_ERRORS.labels(op) for op in STORE_OPERATIONS}

    def _timed(self, operation: str, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        started = time.perf_counter()
        try:
            return call(*args, **kwargs)
        except self.store_errors:
            self._errors[operation].inc()
            raise
        finally:
            self._durations[operation].observe(time.perf_counter() - started)

    def get(self, key: str) -> bytes | None:
        return self._timed("get", self.records.get, key)

    def put(self, key: str, blob: bytes, ttl: int, *, exists: bool | None) -> bool:
        return self._timed("put", self.records.put, key, blob, ttl, exists=exists)

    def delete(self, key: str) -> None:
        self._timed("delete", self.records.delete, key)

    def index_set(self, key: str, field: str, blob: bytes, expires_at: int) -> None:
        self._timed("index", self.records.index_set, key, field, blob, expires_at)

    def index_get(self, key: str) -> dict[str, bytes]:
        return self._timed("index", self.records.index_get, key)

    def index_remove(self, key: str, *fields: str) -> None:
        self._timed("index", self.records.index_remove, key, *fields)

    def add_pending(self, key: str, blob: bytes, ttl: int, cap: int, windows: Sequence[Window] = ()) -> int:
        return self._timed("pending", self.records.add_pending, key, blob, ttl, cap, windows)

    def count(self, windows: Sequence[Window]) -> int:
        return self._timed("limit", self.records.count, windows)

    def pending_key(self, name: str) -> str:
        return self.records.pending_key(name)

    def take_pending(self, key: str) -> bytes | None:
        return self._timed("pending", self.records.take_pending, key)

    def ping(self) -> None:
        self._timed("ping", self.records.ping)

    def __getattr__(self, name: str) -> Any:  # only for names not found on the wrapper itself
        if name == "records":  # not set yet (a copy being built): no recursion
            raise AttributeError(name)
        return getattr(self.records, name)
