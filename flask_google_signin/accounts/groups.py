"""Google Workspace group membership, from the Cloud Identity Groups API, kept current.

The app asks as its own service account (GOOGLE_SIGNIN_GROUPS_CREDENTIALS, else Application Default
Credentials), which holds a read-only groups admin role in the Admin console: no domain-wide
delegation, no admin to impersonate. google-auth makes the account's token (the `groups` extra);
every call, the token's included, goes through a ProviderSession, so it ends at the same deadline
as every other call to Google, and an error answer ends it at once (google-auth would retry with
back-off sleeps, past any deadline).

Answers are kept per user and group in the session store, sealed with the session index's key
under an HMAC of the user's email and the group, so every instance shares them and the store holds
no address in clear. An answer younger than GROUPS_TTL is used as it is. An older one is asked
again, by one request of that user at a time (a lock record in the store); the others use the last
answer meanwhile. When the API fails, a session keeps its last answer for GROUPS_STALE seconds
past the TTL; a new sign-in never uses an answer older than the TTL. After a failure this process
waits BACKOFF seconds before asking again, so an outage costs no page view a call's whole deadline.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import quote, urlencode

import requests
from flask import Flask, current_app

from .. import metrics
from ..errors import GroupsUnavailable, SignInError
from ..oidc.http import ProviderSession
from ..sessions.identity import GoogleIdentity
from ..sessions.record import GroupsSeen, SessionRecord
from ..settings import ConfigError, config_key, settings
from .google_api import LOCK_POLL, lock_lease
from .index import SessionIndex, index

try:
    import google.auth
    from google.auth import exceptions as auth_errors
    from google.auth import transport as auth_transport
    from google.oauth2 import service_account
except ModuleNotFoundError as exc:  # the `groups` extra is not installed
    if exc.name not in ("google", "google.auth", "google.oauth2"):
        raise
    HAVE_GOOGLE_AUTH = False
else:
    HAVE_GOOGLE_AUTH = True

log = logging.getLogger(__name__)

SCOPE = "https://www.googleapis.com/auth/cloud-identity.groups.readonly"
INSTALL = "pip install 'flask-google-signin[groups]'"
BACKOFF = 10  # seconds this process asks nothing after the API or the token source failed
RETRY_MISSING = 60  # seconds before a group that was not found is looked up again
API_VERSION = "v1"
GROUP_NAME = re.compile(r"groups/[A-Za-z0-9_-]+")  # what groups:lookup answers: the only path we build on


@dataclass(frozen=True)
class Answer:
    member: bool
    checked_at: float  # Unix time the API said so


def now() -> float:
    """The clock answers are aged by (one name, so a test can move it)."""
    return time.time()


# --------------------------------------------------------------------------- the API, as the service account


class TokenResponse(auth_transport.Response if HAVE_GOOGLE_AUTH else object):  # type: ignore[misc]
    """A requests answer, as google-auth's transport hands it back."""

    def __init__(self, response: requests.Response) -> None:
        self.response = response

    @property
    def status(self) -> int:
        return self.response.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        return self.response.headers

    @property
    def data(self) -> bytes:
        return self.response.content


class TokenRequest(auth_transport.Request if HAVE_GOOGLE_AUTH else object):  # type: ignore[misc]
    """google-auth's transport for the token fetch (and the metadata server under Application Default
    Credentials): each call a ProviderSession under the deadline, redirects not followed, and any
    answer but 200 an error at once, so google-auth's own retries never start."""

    def __init__(self, budget: float) -> None:
        self.budget = budget  # outside a request; a request's own deadline wins

    def __call__(self, url: str, method: str = "GET", body: Any = None, headers: Mapping[str, str] | None = None,
                 timeout: Any = None, **kwargs: Any) -> TokenResponse:
        try:
            with ProviderSession(endpoint="groups_token", budget=self.budget) as http:
                if http.deadline is not None and time.monotonic() >= http.deadline:
                    raise GroupsUnavailable("timeout")
                response = http.request(method, url, withhold_token=True, data=body, headers=dict(headers or {}),
                                        allow_redirects=False)
        except requests.Timeout:
            raise GroupsUnavailable("timeout") from None
        except requests.RequestException as exc:
            # as google-auth's own transport says it (google-auth's functions are not typed)
            raise auth_errors.TransportError(type(exc).__name__) from None  # type: ignore[no-untyped-call]
        if response.status_code != 200:
            raise auth_errors.TransportError(f"the token source answered {response.status_code}")  # type: ignore[no-untyped-call]
        return TokenResponse(response)


class Directory:
    """The Cloud Identity Groups API as this app's service account sees it: one per app, shared by its
    threads. Group emails are looked up once (`groups:lookup`) and their resource names kept."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.base = f"{str(config['CLOUD_IDENTITY_URL']).rstrip('/')}/{API_VERSION}"
        self.nested = bool(config["GROUPS_NESTED"])
        self.budget = float(config["PROVIDER_TIMEOUT"])
        self.credentials: Any = None
        if config["GROUPS_CREDENTIALS"]:
            try:
                self.credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                    config["GROUPS_CREDENTIALS"], scopes=[SCOPE])
            except (ValueError, KeyError) as exc:
                raise ConfigError(f"{config_key('GROUPS_CREDENTIALS')} is invalid: not a service account's JSON key "
                                  f"({type(exc).__name__})") from None
        self.names: dict[str, str] = {}  # group email -> groups/<id>
        self.missing: dict[str, float] = {}  # group email -> when it was found missing (time.monotonic)
        self.failing_until = 0.0  # time.monotonic(): BACKOFF after a failure
        self.token_lock = threading.Lock()

    def access_token(self) -> str:
        """The service account's access token: google-auth's, renewed by it when it nears expiry."""
        with self.token_lock:
            request = TokenRequest(self.budget)
            try:
                if self.credentials is None:
                    self.credentials, _ = google.auth.default(scopes=[SCOPE], request=request)
                if not self.credentials.valid:
                    self.credentials.refresh(request)
            except auth_errors.DefaultCredentialsError:
                log.error("groups: no credentials (set %s, or run where Application Default Credentials are found)",
                          config_key("GROUPS_CREDENTIALS"),
                          extra={"event": "groups_failed", "reason": "no credentials"})
                raise GroupsUnavailable("refused") from None
            except auth_errors.RefreshError as exc:
                log.warning("groups: the token source refused the service account: %s", str(exc)[:200],
                            extra={"event": "groups_failed", "reason": "token refused"})
                raise GroupsUnavailable("refused") from None
            except auth_errors.TransportError as exc:
                log.warning("groups: the token source did not answer: %s", str(exc)[:200],
                            extra={"event": "groups_failed", "reason": "token unavailable"})
                raise GroupsUnavailable("unavailable") from None
            return str(self.credentials.token)

    def call(self, path: str, params: Mapping[str, str]) -> requests.Response:
        """GET one API path; GroupsUnavailable when nothing usable came back. During BACKOFF after a
        failure, nothing is asked."""
        if time.monotonic() < self.failing_until:
            raise GroupsUnavailable("unavailable")
        try:
            token = self.access_token()
            # quote_via=quote: spaces as %20 (the transitive check's query is a CEL expression)
            url = f"{self.base}/{path}?{urlencode(params, quote_via=quote)}"
            with ProviderSession(endpoint="cloud_identity", budget=self.budget) as http:
                response: requests.Response = http.request(
                    "GET", url, withhold_token=True, allow_redirects=False,
                    headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
        except requests.Timeout:
            self.failed("timeout")
        except requests.RequestException as exc:
            self.failed("unavailable", type(exc).__name__)
        except GroupsUnavailable as exc:
            self.failed(exc.kind)
        if response.status_code == 401 and self.credentials is not None:
            self.credentials.token = None  # ended early: a new one next time
        if response.status_code == 401 or response.status_code == 429 or response.status_code >= 500:
            self.failed("refused" if response.status_code == 401 else "unavailable", str(response.status_code))
        return response

    def failed(self, kind: str, detail: str = "") -> NoReturn:
        self.failing_until = time.monotonic() + BACKOFF
        log.warning("groups: the Cloud Identity API gave no answer", extra={"event": "groups_failed",
                                                                            "reason": f"{kind} {detail}".strip()})
        raise GroupsUnavailable(kind)

    def group_name(self, group: str) -> str:
        """`groups/<id>` for a group email, looked up once. A group not found, or not visible to the
        account, is a configuration error: logged naming it, and looked up again after RETRY_MISSING."""
        if group in self.names:
            return self.names[group]
        if time.monotonic() - self.missing.get(group, -RETRY_MISSING) < RETRY_MISSING:
            raise GroupsUnavailable("misconfigured", group)
        response = self.call("groups:lookup", {"groupKey.id": group})
        name = json_field(response, "name") if response.status_code == 200 else None
        if isinstance(name, str) and GROUP_NAME.fullmatch(name):
            self.names[group] = name
            self.missing.pop(group, None)
            return name
        if response.status_code in (403, 404):
            self.missing[group] = time.monotonic()
            log.error("groups: the group %s is not found, or the service account cannot see it (%s): check the "
                      "name, and the account's admin role", group, response.status_code,
                      extra={"event": "groups_misconfigured", "reason": group})
            raise GroupsUnavailable("misconfigured", group)
        self.failed("unavailable", f"groups:lookup answered {response.status_code}")

    def is_member(self, group: str, email: str) -> bool:
        """Direct membership (memberships:lookup: 200 member, 404 not); with GROUPS_NESTED, through
        nested groups too (checkTransitiveMembership, whose 403 means the member's edition does not
        offer it: not a member, logged)."""
        name = self.group_name(group)
        if self.nested:
            literal = email.replace("\\", "\\\\").replace("'", "\\'")
            response = self.call("/".join((name, "memberships:checkTransitiveMembership")),
                                 {"query": f"member_key_id == '{literal}'"})
            if response.status_code == 200:
                return json_field(response, "hasMembership") is True  # left out when false
            if response.status_code == 403:
                log.warning("groups: checkTransitiveMembership refused (403): the member's edition may not offer "
                            "it; counted as not a member", extra={"event": "groups_transitive_refused",
                                                                  "reason": group})
                return False
        else:
            response = self.call("/".join((name, "memberships:lookup")), {"memberKey.id": email})
            if response.status_code == 200:
                return True
            if response.status_code == 404:
                return False
        self.failed("unavailable", f"membership answered {response.status_code}")


def json_field(response: requests.Response, name: str) -> Any:
    try:
        data = response.json()
    except ValueError:
        return None
    return data.get(name) if isinstance(data, dict) else None


def init_groups(app: Flask, config: Mapping[str, Any]) -> None:
    """The app's Directory (when google-auth is installed), and the start-up lookup of ALLOWED_GROUPS:
    a group not found is logged (and check_groups, the readiness probe's question, says so); an API
    that does not answer is only warned of."""
    wanted = config["ALLOWED_GROUPS"] or config["GROUPS_CREDENTIALS"]
    if not HAVE_GOOGLE_AUTH:
        if wanted:
            raise ConfigError(f"{config_key('ALLOWED_GROUPS')} or {config_key('GROUPS_CREDENTIALS')} is set, but "
                              f"google-auth is not installed: {INSTALL}")
        return
    directory = Directory(config)
    app.extensions["google_signin_groups"] = directory
    for group in config["ALLOWED_GROUPS"]:
        try:
            directory.group_name(group)
        except GroupsUnavailable as exc:
            if exc.kind != "misconfigured":
                log.warning("groups: the start-up lookup of %s failed (%s); tried again when needed", group, exc.kind)


def directory() -> Directory:
    found: Directory | None = current_app.extensions.get("google_signin_groups")
    if found is None:
        raise ConfigError(f"group checks need google-auth: {INSTALL}")
    return found


def configured_groups() -> list[str]:
    """ALLOWED_GROUPS, then the groups the app's group_required views name."""
    found = list(settings()["ALLOWED_GROUPS"])
    for view in current_app.view_functions.values():
        found += [group for group in getattr(view, "google_signin_groups", ()) if group not in found]
    return found


def check_groups() -> None:
    """Raise GroupsUnavailable naming a configured group that is not found or that the service account
    cannot see (looked up again at most once a minute); an API that does not answer is not a
    configuration error, and is not asked here."""
    found = current_app.extensions.get("google_signin_groups")
    if found is None:
        return
    for group in configured_groups():
        if group in found.missing:
            found.group_name(group)


# --------------------------------------------------------------------------- answers, kept in the store


def cache_key(email: str, group: str, under: SessionIndex) -> str:
    return f"groups:{under.space}:{under.digest(f'member|{group}|{email}')}"


def lock_key(email: str) -> str:
    return f"groups-lock:{index().space}:{index().digest('member|' + email)}"


def cached(email: str, group: str) -> Answer | None:
    """The stored answer, under the current SECRET_KEY's name or a fallback's (before a rotation)."""
    for each in index().generations:
        key = cache_key(email, group, each)
        blob = each.records.get(key)
        data = None if blob is None else each.vault.sealer.open(each.entry_key, blob, key)
        if data is not None:
            return Answer(bool(data["member"]), float(data["at"]))
    return None


def ask(email: str, group: str) -> Answer:
    """The API's answer, stored for every instance until it is too old to use even when stale."""
    started = time.perf_counter()
    try:
        member = directory().is_member(group, email)
    except GroupsUnavailable:
        metrics.group_check("failed", time.perf_counter() - started)
        raise
    metrics.group_check("member" if member else "not_member", time.perf_counter() - started)
    answer = Answer(member, now())
    config, key = settings(), cache_key(email, group, index())
    blob = index().vault.sealer.seal(index().entry_key, {"member": member, "at": answer.checked_at}, key)
    index().records.put(key, blob, int(config["GROUPS_TTL"]) + int(config["GROUPS_STALE"]) + lock_lease(), exists=None)
    return answer


def ask_due(email: str, groups: Sequence[str], found: dict[str, Answer | None]) -> None:
    for group in groups:
        try:
            found[group] = ask(email, group)
        except GroupsUnavailable:
            pass  # logged where it failed; the last answer, if any, stays


def answers(email: str, groups: Sequence[str], *, signing_in: bool) -> dict[str, Answer | None]:
    """Each group's answer for `email`: the stored one while younger than GROUPS_TTL, else the API's.
    A sign-in asks at once. A session's request asks while holding the user's lock; when another
    request holds it, this one waits only if it has no usable answer of its own."""
    ttl = int(settings()["GROUPS_TTL"])
    found = {group: cached(email, group) for group in groups}
    due = [group for group in groups if not young(found[group], ttl)]
    for group in groups:
        if group not in due:
            metrics.group_check("cached")
    if not due:
        return found
    if signing_in:
        ask_due(email, due, found)
        return found
    records, lock, lease = index().records, lock_key(email), lock_lease()
    give_up = time.monotonic() + lease
    while not records.put(lock, b"checking", lease, exists=False):
        if all(usable(found[group], signing_in=False) for group in due) or time.monotonic() > give_up:
            return found
        time.sleep(LOCK_POLL)
        found.update({group: cached(email, group) for group in due})
    try:
        found.update({group: cached(email, group) for group in due})  # another request's, just before the lock
        ask_due(email, [group for group in due if not young(found[group], ttl)], found)
    finally:
        records.delete(lock)
    return found


def young(answer: Answer | None, ttl: int) -> bool:
    return answer is not None and now() - answer.checked_at < ttl


def usable(answer: Answer | None, *, signing_in: bool) -> bool:
    """Within the TTL for a sign-in; within the TTL and the stale window for a session's request."""
    config = settings()
    limit = int(config["GROUPS_TTL"]) + (0 if signing_in else int(config["GROUPS_STALE"]))
    return young(answer, limit)


def member_groups(who: GoogleIdentity | Mapping[str, Any], groups: Sequence[str], *,
                  signing_in: bool = False) -> dict[str, Answer]:
    """Of `groups`, those the user is a member of, with their answers. Membership is by email, so an
    email Google has not verified is a member of nothing (and nobody is asked). Raises
    GroupsUnavailable when no answer says member and some group has no usable answer.

    `who` is a signed-in identity, or an ID token's claims (a bearer token, One Tap)."""
    verified = who.email_verified if isinstance(who, GoogleIdentity) else who.get("email_verified")
    email = who.email if isinstance(who, GoogleIdentity) else who.get("email")
    if verified is not True or not isinstance(email, str) or not email:
        return {}
    found = answers(email.lower(), groups, signing_in=signing_in)
    members = {group: answer for group, answer in found.items()
               if answer is not None and answer.member and usable(answer, signing_in=signing_in)}
    if not members and not all(usable(found[group], signing_in=signing_in) for group in groups):
        raise GroupsUnavailable("unverified")
    return members


def check_allowed_groups(who: GoogleIdentity | Mapping[str, Any], *, signing_in: bool) -> GroupsSeen | None:
    """GOOGLE_SIGNIN_ALLOWED_GROUPS for a sign-in (and, with signing_in=False, for a bearer token's
    claims on each request): the groups that admit the user, or SignInError `not_in_group` (403) or
    `groups_unavailable` (503: never let in unchecked). None when no groups are configured."""
    groups = settings()["ALLOWED_GROUPS"]
    if not groups:
        return None
    try:
        members = member_groups(who, groups, signing_in=signing_in)
    except GroupsUnavailable as exc:
        raise SignInError("groups_unavailable", f"group membership unknown ({exc.kind})") from None
    if not members:
        raise SignInError("not_in_group", "not a member of any allowed group")
    return seen(members, groups)


def seen(members: Mapping[str, Answer], groups: Sequence[str]) -> GroupsSeen:
    """What the session keeps: the groups that admitted it, as of their oldest answer."""
    return {"member_of": sorted(members), "checked_at": min(answer.checked_at for answer in members.values()),
            "allowed": sorted(groups)}


def recheck(record: SessionRecord, who: GoogleIdentity) -> str | None:
    """A signed-in session's request: None while ALLOWED_GROUPS still admit the user, else why the
    session ends ("group": no longer a member; "group_unverified": no usable answer). Within the TTL
    of the answers it was admitted on (and for the same groups), nothing is read."""
    groups = settings()["ALLOWED_GROUPS"]
    if not groups:
        return None
    last = record.get("groups")
    if last and last["allowed"] == sorted(groups) and now() - last["checked_at"] < int(settings()["GROUPS_TTL"]):
        return None
    try:
        members = member_groups(who, groups)
    except GroupsUnavailable:
        return "group_unverified"
    if not members:
        return "group"
    record["groups"] = seen(members, groups)
    return None
