"""Prometheus metrics of the sign-in, all defined here, all named `google_signin_*`.

Recorded in prometheus_client's default registry, so a host app that serves that registry gets
them. prometheus_client is optional (the `metrics` extra): without it every metric below is a
stand-in that records nothing, and the rest of the package calls them all the same.
Every label takes values from a fixed set, never from the request or the provider: a route is the
Flask endpoint ("unknown" for no route), a sign-in refusal is its error code, a provider call is
named after the endpoint it reached. docs/metrics.md has the PromQL for each.

prometheus_client chooses its multiprocess mode when it is imported (from PROMETHEUS_MULTIPROC_DIR),
so a server that sums workers' metrics sets that variable before the workers import this module.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, request

try:
    import prometheus_client
except ModuleNotFoundError:  # the `metrics` extra is not installed: nothing is recorded
    prometheus_client = None  # type: ignore[assignment]

NAMESPACE = "google_signin"


class Unrecorded:
    """A metric without prometheus_client: takes the same calls, records nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def labels(self, *values: str) -> Unrecorded:
        return self

    def inc(self, amount: float = 1) -> None:
        pass

    def observe(self, amount: float) -> None:
        pass


def counter(name: str, documentation: str, labels: list[str]) -> Any:
    if prometheus_client is None:
        return Unrecorded()
    return prometheus_client.Counter(name, documentation, labels, namespace=NAMESPACE)


def histogram(name: str, documentation: str, labels: list[str], **options: Any) -> Any:
    if prometheus_client is None:
        return Unrecorded()
    return prometheus_client.Histogram(name, documentation, labels, namespace=NAMESPACE, **options)


# Until an app switches metrics on (GOOGLE_SIGNIN_METRICS), nothing is recorded, and nothing of the
# extension's appears in prometheus_client's registry.
HTTP_REQUESTS: Any = Unrecorded()
SIGNINS: Any = Unrecorded()
BEARER: Any = Unrecorded()
TOKEN_REFRESHES: Any = Unrecorded()
SESSIONS_ENDED: Any = Unrecorded()
SECURITY_EVENTS: Any = Unrecorded()
RATE_LIMITED: Any = Unrecorded()
PENDING_SHED: Any = Unrecorded()
PROVIDER_DURATION: Any = Unrecorded()
STORE_DURATION: Any = Unrecorded()
STORE_ERRORS: Any = Unrecorded()
GROUP_CHECKS: Any = Unrecorded()
GROUP_CHECK_DURATION: Any = Unrecorded()


def enable() -> None:
    """Register the metrics in prometheus_client's default registry, once per process."""
    global HTTP_REQUESTS, SIGNINS, BEARER, TOKEN_REFRESHES, SESSIONS_ENDED, SECURITY_EVENTS, RATE_LIMITED, PENDING_SHED
    global PROVIDER_DURATION, STORE_DURATION, STORE_ERRORS, GROUP_CHECKS, GROUP_CHECK_DURATION
    if not isinstance(SIGNINS, Unrecorded) or prometheus_client is None:
        return
    HTTP_REQUESTS = counter("http_requests", "HTTP responses by Flask endpoint and status.", ["route", "status"])
    SIGNINS = counter("signins", "Sign-ins finished at /callback: success, refused (reason: the error code) or "
                      "failed (the session store did not answer).", ["outcome", "reason"])
    BEARER = counter("bearer_requests", "Requests with a bearer ID token on a view that accepts one: accepted, "
                     "invalid_token (401), refused (403: the allow-lists or the user_loader) or unavailable (the "
                     "provider's keys could not be had).", ["outcome"])
    TOKEN_REFRESHES = counter("token_refreshes", "Access-token refreshes: success, refused (the grant is gone) or "
                              "failed (the provider did not answer).", ["outcome"])
    SESSIONS_ENDED = counter("sessions_ended", "Signed-in sessions ended, by cause.", ["cause"])
    SECURITY_EVENTS = counter("security_events", "Cross-Account Protection events applied, by event type.", ["event"])
    RATE_LIMITED = counter("rate_limited", "Requests refused with 429 by a rate limit, by Flask endpoint.", ["route"])
    PENDING_SHED = counter("pending_signins_shed", "Pending sign-ins dropped at PENDING_SIGNINS_MAX to make room "
                           "for a new one: the oldest of the network holding the most.", [])
    PROVIDER_DURATION = histogram("provider_request_duration_seconds", "Calls to the provider and Google APIs, "
                                  "by endpoint, failed ones included.", ["endpoint"])
    STORE_DURATION = histogram("session_store_duration_seconds", "Session store operations, failed ones included.",
                               ["operation"],
                               buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5))
    STORE_ERRORS = counter("session_store_errors", "Session store operations that failed (the store did not answer).",
                           ["operation"])
    GROUP_CHECKS = counter("group_checks", "Group membership answers: member or not_member from the Cloud "
                           "Identity API, cached from the session store, or failed (no answer).", ["outcome"])
    GROUP_CHECK_DURATION = histogram("group_check_duration_seconds", "Membership checks at the Cloud Identity "
                                     "API, the token fetch included, failed ones included.", [])


# The fixed label values; those listed here are exported at 0 from the start, so rate() sees them.
REFRESH_OUTCOMES = ("success", "refused", "failed")
BEARER_OUTCOMES = ("accepted", "invalid_token", "refused", "unavailable")
SESSION_END_CAUSES = ("sign_out", "expiry", "elsewhere", "everywhere", "security_event", "user_loader", "policy",
                      "group", "group_unverified")
STORE_OPERATIONS = ("get", "put", "delete", "index", "pending", "limit", "ping")
GROUP_OUTCOMES = ("member", "not_member", "cached", "failed")


def init_metrics(app: Flask) -> None:
    """Count every response of the app by endpoint and status; export the fixed label values at 0."""
    SIGNINS.labels("success", "none")
    for outcome in REFRESH_OUTCOMES:
        TOKEN_REFRESHES.labels(outcome)
    for outcome in BEARER_OUTCOMES:
        BEARER.labels(outcome)
    for cause in SESSION_END_CAUSES:
        SESSIONS_ENDED.labels(cause)
    for outcome in GROUP_OUTCOMES:
        GROUP_CHECKS.labels(outcome)
    app.after_request(count_response)


def route() -> str:
    """The Flask endpoint that served the request ("static" for static files), "unknown" for no route."""
    return request.endpoint or "unknown"


def count_response(response: Response) -> Response:
    HTTP_REQUESTS.labels(route(), str(response.status_code)).inc()
    return response


def signin(outcome: str, reason: str = "none") -> None:
    """outcome: success, refused (reason: the SignInError code) or failed (reason: store_unavailable)."""
    SIGNINS.labels(outcome, reason).inc()


def bearer(outcome: str) -> None:
    """outcome: one of BEARER_OUTCOMES."""
    BEARER.labels(outcome).inc()


def token_refresh(outcome: str) -> None:
    TOKEN_REFRESHES.labels(outcome).inc()


def session_ended(cause: str, count: int = 1) -> None:
    """cause: one of SESSION_END_CAUSES."""
    SESSIONS_ENDED.labels(cause).inc(count)


def security_event(event: str) -> None:
    SECURITY_EVENTS.labels(event).inc()


def rate_limited() -> None:
    RATE_LIMITED.labels(route()).inc()


def pending_shed() -> None:
    PENDING_SHED.inc()


def provider_call(endpoint: str, seconds: float) -> None:
    """endpoint: discovery, token, userinfo, jwks, revoke, risc, google_api, cloud_identity, groups_token or other."""
    PROVIDER_DURATION.labels(endpoint).observe(seconds)


def group_check(outcome: str, seconds: float | None = None) -> None:
    """outcome: one of GROUP_OUTCOMES; `seconds` for an answer the API was asked for."""
    GROUP_CHECKS.labels(outcome).inc()
    if seconds is not None:
        GROUP_CHECK_DURATION.observe(seconds)
