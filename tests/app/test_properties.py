"""No 5xx from input: Hypothesis throws arbitrary text and bytes at every value the extension and the
reference app read from a request, on both stores (files, and a real redis-server). Every answer must
be below 500, with no record at ERROR and none carrying an exception in the log, and with headers that
gunicorn can send (it answers 500 itself for any other).

The one 5xx allowed is the documented one: /callback passing on the provider's `error=server_error`
(502) or `error=temporarily_unavailable` (503). A store outage (503) is never provoked here. An
unhandled exception is not even a 500 here: the apps run with TESTING, so it fails the test itself.

docs/security.md, "Every request input", lists each input, what reads it, and the test below that
covers it. Where it matters, Hypothesis draws whether a visitor or a signed-in session sends it.

How values travel. Text goes as UTF-8, as browsers send it. Bytes go as a WSGI server hands them to
the app (PEP 3333): each byte one latin-1 character in the environ, so 0xB2 arrives as `²`. The path
and the query may hold any byte (percent-encoded, or raw: the standard library's wsgiref passes raw
bytes on); a header's value, what RFC 9110 lets it hold, as servers refuse the rest (gunicorn with a
400). The body is any bytes. A lone surrogate cannot reach the app: Werkzeug decodes with replacement,
and headers and cookies stay latin-1.

Examples: 1,000 an input with CI=true (a few minutes on two cores), 50 otherwise (seconds: still too
long for `make test-fast`, so the whole suite is marked slow). Derandomized: a run draws the examples
the last one drew, so a failure in CI fails the same way on a laptop.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import re
import string
from urllib.parse import parse_qs, quote_from_bytes, urlsplit

import pytest
import requests_mock
from hypothesis import given, settings
from hypothesis import strategies as st

from flask_google_signin import testing

from ..conftest import new_app
from ..helpers import CLIENT_ID, IN_CI, FakeGoogle, b64, base_config
from .test_risc import CONTENT_TYPE as RISC_CONTENT_TYPE
from .test_risc import ISSUER, TOKEN_REVOKED, USER_EVENTS, FakeRisc

pytestmark = [pytest.mark.slow, pytest.mark.properties]
REDIS = pytest.mark.redis
EXAMPLES = settings(max_examples=1000 if IN_CI else 50, deadline=None, derandomize=True, database=None)

STATIC = "/static/style.css"
ROUTES = [("GET", "/"), ("GET", "/login"), ("GET", "/callback"), ("GET", "/profile"), ("GET", "/logout"),
          ("POST", "/logout"), ("GET", "/sessions"), ("POST", "/sessions/end"), ("POST", "/sessions/others"),
          ("POST", "/sessions/all"), ("POST", "/risc"), ("GET", "/calendar"), ("GET", "/connect/calendar"),
          ("POST", "/disconnect/calendar"), ("GET", "/healthz"), ("GET", "/readyz"), ("GET", STATIC),
          ("POST", "/login/one-tap"), ("GET", "/api/me"), ("GET", "/admin")]
FORMS = [path for method, path in ROUTES if method == "POST" and path not in ("/risc", "/login/one-tap")]
GUARDED = [("GET", "/calendar"), ("GET", "/connect/calendar"), ("POST", "/disconnect/calendar")]  # login_required
PROVIDER_5XX = {"server_error": 502, "temporarily_unavailable": 503}  # the documented ones (docs/security.md)
VARIANTS = {
    "plain": {},
    "secure": {"SESSION_COOKIE_SECURE": True},  # __Host- cookies, over https
    "proxied": {"TRUSTED_PROXIES": 1},  # X-Forwarded-* believed, as behind one proxy
    "pinned": {"PUBLIC_BASE_URL": "http://localhost"},  # the extension's routes answer for that host only
    "trusted": {"TRUSTED_HOSTS": "localhost"},  # Flask refuses any other Host
}
LIMITLESS = {"LOGIN_RATE_LIMIT": "1000000/second", "RISC_RATE_LIMIT": "1000000/second"}  # limits: test_limits.py
# Every way in: One Tap's POST and bearer ID tokens on GET /api/me read requests too.
WAYS_IN = {"GOOGLE_SIGNIN_ONE_TAP": True, "GOOGLE_SIGNIN_BEARER_AUDIENCES": CLIENT_ID}
# What gunicorn (gunicorn/http/wsgi.py) lets a response header be; it answers 500 for anything else.
SENDABLE_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9a-zA-Z-]+")
SENDABLE_VALUE = re.compile(r"[ \t\x21-\x7e\x80-\xff]*")

# What a client may send: any text (as UTF-8), any bytes.
ANY = st.one_of(st.text(max_size=200), st.binary(max_size=200))
WHO = st.sampled_from(["visitor", "signed-in"])
TOKEN = st.binary(min_size=32, max_size=32).map(b64)  # 43 URL-safe characters, as a state, an id, a secret
B64URL = string.ascii_letters + string.digits + "-_"
TCHAR = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"  # RFC 9110 5.6.2: what a header name is made of
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=30), inner,
                                                                                max_size=3), max_leaves=8)


def wire(value: str | bytes) -> bytes:
    """The bytes a client sends for `value`: text as UTF-8."""
    return value.encode() if isinstance(value, str) else value


def latin1(value: str | bytes) -> str:
    """What a WSGI server puts in the environ for these bytes (PEP 3333): one character per byte."""
    return wire(value).decode("latin-1")


def quoted(value: str | bytes) -> str:
    return quote_from_bytes(wire(value), safe="")


def query(**values: str | bytes) -> str:
    return "&".join(f"{name}={quoted(value)}" for name, value in values.items())


def header_value(value: str | bytes) -> str:
    """A header's value as a server passes it on: the bytes RFC 9110 lets a field value hold (5.5:
    visible ASCII, 0x80-0xFF, space and tab)."""
    return latin1(bytes(byte for byte in wire(value) if byte == 9 or 32 <= byte <= 126 or byte >= 128))


def environ_key(name: str) -> str:
    key = name.upper().replace("-", "_")
    return key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"


class Tracebacks(logging.Handler):
    """Records at ERROR, or carrying an exception: a request must never cause one."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(record)


class Browser:
    """A client's cookies, sent as one Cookie header as they are, and its session's form token."""

    def __init__(self, cookie: str = "", app=None) -> None:
        self.cookie = cookie
        self.app = app  # the app it is signed in to; None for a visitor
        self.state = ""  # of the sign-in it started (Site.start_sign_in)
        self.pending = ""  # that sign-in's cookie, `name=value`

    @functools.cached_property
    def token(self) -> str:
        """The CSRF token of the extension's forms, as its pages write it ("" for a visitor)."""
        if self.app is None:
            return ""
        with self.app.test_request_context(headers={"Cookie": self.cookie}):
            return self.app.jinja_env.globals["google_signin_csrf_token"]()

    def form(self, method: str) -> dict[str, str] | None:
        """What its POST carries: that token."""
        return {"csrf_token": self.token} if method == "POST" else None

    def signed_in(self) -> bool:
        """Whether its session is still in the store."""
        return testing.session_record(self.app, self.cookie.partition("=")[2]) is not None


class Site:
    """The reference app on one store, in each VARIANT (made when first asked), with the fake Google.

    `send` makes one request from the parts a test gives, each placed in the WSGI environ as a server
    places it, and checks the answer.
    """

    def __init__(self, google: FakeGoogle, tmp_path, store: dict) -> None:
        self.google = google
        self.tmp_path = tmp_path
        self.store = store
        self.apps: dict = {}
        self.users = itertools.count(1)  # each sign-in a user of its own, so that no user's index grows
        self.signed_in: dict[str, Browser] = {}  # by variant
        self.tracebacks = Tracebacks()
        logging.getLogger().addHandler(self.tracebacks)

    def close(self) -> None:
        logging.getLogger().removeHandler(self.tracebacks)

    def app(self, variant: str = "plain"):
        if variant not in self.apps:
            self.apps[variant] = new_app({**base_config(self.tmp_path), **LIMITLESS, **WAYS_IN, **self.store,
                                          **VARIANTS[variant]})
            self.tracebacks.records.clear()  # a start-up warning is no request's
        return self.apps[variant]

    def cookie_name(self, variant: str = "plain") -> str:
        return testing.settings(self.app(variant))["cookie_name"]

    def send(self, method: str, path: str, *, variant: str = "plain", browser: Browser | None = None,
             query: str = "", cookies: str = "", headers: dict[str, str] | None = None, body: bytes = b"",
             form: dict[str, str | bytes] | None = None, raw_path: str | None = None):
        environ = {"QUERY_STRING": query}
        cookie = "; ".join(part for part in (browser.cookie if browser else "", cookies) if part)
        if cookie:
            environ["HTTP_COOKIE"] = cookie
        if form is not None:
            body = "&".join(f"{quoted(name)}={quoted(value)}" for name, value in form.items()).encode()
            environ["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
        if raw_path is not None:
            environ["PATH_INFO"] = raw_path
        for name, value in (headers or {}).items():
            environ[environ_key(name)] = value
        base_url = "https://localhost" if variant == "secure" else "http://localhost"
        client = self.app(variant).test_client(use_cookies=False)
        response = client.open(path, method=method, base_url=base_url, data=body, environ_overrides=environ)
        response.get_data()  # the whole body: a streamed one fails only while it is read
        response.close()
        self.check(response)
        return response

    def check(self, response) -> None:
        """Below 500 (or the documented 502/503), nothing in the log, every header one gunicorn can send."""
        request, status = response.request, response.status_code
        logged, self.tracebacks.records[:] = list(self.tracebacks.records), []
        assert not logged, [(r.levelname, r.getMessage(), r.exc_info) for r in logged]
        for name, value in response.headers.items():
            assert SENDABLE_NAME.fullmatch(name) and SENDABLE_VALUE.fullmatch(value), (name, value)
        if status >= 500:  # only the provider's own failure, passed on by /callback
            assert request.path == "/callback" and PROVIDER_5XX.get(request.args.get("error")) == status, \
                (status, request.method, request.environ)

    # -- browsers

    def browser(self, who: str, variant: str = "plain") -> Browser:
        """A visitor (no cookie), or a signed-in session (testing.sign_in: no Google token). The last
        one is used again while it lives: a sign-in costs more than most requests here, and only a
        POST with its token (sign-out) can end it."""
        if who == "visitor":
            return Browser()
        if variant in self.signed_in and self.signed_in[variant].signed_in():
            return self.signed_in[variant]
        app = self.app(variant)
        client = app.test_client()
        testing.sign_in(client, sub=f"1{next(self.users):020d}")
        name = self.cookie_name(variant)
        self.signed_in[variant] = Browser(f"{name}={client.get_cookie(name).value}", app)
        return self.signed_in[variant]

    def start_sign_in(self, browser: Browser | None = None, path: str = "/login") -> Browser:
        """A sign-in (or a connect: path /connect/calendar) started: the browser holding its pending cookie,
        `.state` its state; the fake Google told its nonce and PKCE challenge."""
        response = self.send("GET", path, browser=browser)
        assert response.status_code == 302, response.status_code
        params = {k: v[0] for k, v in parse_qs(urlsplit(response.location).query).items()}
        self.google.nonce, self.google.code_challenge = params["nonce"], params["code_challenge"]
        pending = [h.split(";")[0] for h in response.headers.getlist("Set-Cookie") if "_signin_" in h]
        started = Browser("; ".join(part for part in (browser.cookie if browser else "", *pending) if part))
        started.state, started.pending = params["state"], pending[-1]
        return started

    def sign_in_through_google(self, user_agent: str | None = None) -> Browser:
        """Signed in through /login and /callback (so holding Google's token), from `user_agent`."""
        started = self.start_sign_in()
        self.google.codes.add("4/good-code")
        self.google.sub = f"2{next(self.users):020d}"
        headers = {"User-Agent": user_agent} if user_agent is not None else {}
        response = self.send("GET", "/callback", browser=started, headers=headers,
                             query=query(state=started.state, code="4/good-code"))
        assert response.status_code == 302, response.status_code
        name = self.cookie_name()
        cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith(f"{name}="))
        return Browser(cookie.split(";")[0], self.app())

    @functools.cached_property
    def with_google_access(self) -> Browser:
        """One session holding Google's token, for requests that change nothing in it."""
        return self.sign_in_through_google()


@pytest.fixture(scope="module")
def fake_google(signing_key):
    """FakeGoogle for the whole module (its apps live that long), with Google's RISC configuration."""
    with requests_mock.Mocker() as mocker:
        google = FakeGoogle(mocker, signing_key)
        google.risc = FakeRisc(google)
        yield google


@pytest.fixture(scope="module", params=["files", pytest.param("redis", marks=REDIS)])
def site(request, fake_google, tmp_path_factory):
    store = {}
    if request.param == "redis":
        store = {"SESSION_TYPE": "redis", "REDIS_URL": request.getfixturevalue("redis_server").url}
    made = Site(fake_google, tmp_path_factory.mktemp("properties"), store)
    yield made
    made.close()


# --------------------------------------------------------------------------- cookies

SIGNED = st.builds("{}{}.{}.{}".format, st.sampled_from(["", "."]), *[st.binary(max_size=60).map(b64)] * 3)
SESSION_COOKIES = st.one_of(ANY, st.builds("{}.{}".format, TOKEN, TOKEN), SIGNED)  # garbage, id.secret, Flask's
EDITS = st.lists(st.tuples(st.integers(0, 86), st.sampled_from(B64URL)), min_size=1, max_size=4)


def edited(value: str, edits: list[tuple[int, str]]) -> str:
    chars = list(value)
    for at, char in edits:
        chars[at % len(chars)] = char
    return "".join(chars)


@EXAMPLES
@given(variant=st.sampled_from(["plain", "secure"]), planted=st.booleans(), value=SESSION_COOKIES,
       edits=st.none() | EDITS, method_path=st.sampled_from(ROUTES))
def test_session_cookie(site, variant, planted, value, edits, method_path):
    """Any value; or a real session's cookie with characters changed (another id, a wrong secret).
    When Secure, also under the unprefixed name a sibling subdomain could plant."""
    if edits is not None:
        value = edited(site.browser("signed-in", variant).cookie.partition("=")[2], edits)
    name = "session" if planted else site.cookie_name(variant)
    method, path = method_path
    site.send(method, path, variant=variant, cookies=f"{name}={header_value(value)}")


ODD_DIGITS = ["Nd", "No"]  # what str.isdigit() may accept, and int() refuse ('²')
ISSUED = st.one_of(st.integers(0, 2**70).map(str).map(str.encode),
                   st.text(st.characters(categories=ODD_DIGITS, max_codepoint=0xFF), min_size=1, max_size=6).map(
                       lambda digits: digits.encode("latin-1")),  # the app reads the byte 0xB2 as '²'
                   st.text(st.characters(categories=ODD_DIGITS), min_size=1, max_size=6).map(wire), ANY.map(wire))
PENDING_VALUES = st.one_of(st.builds(lambda issued, secret: issued + b"." + wire(secret), ISSUED, TOKEN | ANY), ANY)
PENDING_COOKIES = st.dictionaries(st.text(max_size=14) | TOKEN.map(lambda token: token[:12]), PENDING_VALUES,
                                  min_size=1, max_size=6)


@EXAMPLES
@given(variant=st.sampled_from(["plain", "secure"]), cookies=PENDING_COOKIES, named=st.booleans(),
       state=st.text(max_size=60), path=st.sampled_from(["/login", "/callback"]))
def test_pending_sign_in_cookie(site, variant, cookies, named, state, path):
    """A pending sign-in's cookie is named after the first 12 characters of its state and holds
    `<issued>.<secret>`. /login reads every one (and drops the oldest beyond four), /callback the one
    its state names (`named`: the state starts with one of the cookies' names)."""
    if named:
        state = next(iter(cookies)) + state
    prefix = f"{site.cookie_name(variant)}_signin_"
    header = "; ".join(f"{header_value(prefix + suffix)}={header_value(value)}" for suffix, value in cookies.items())
    site.send("GET", path, variant=variant, cookies=header, query=query(state=state, code="4/any-code"))


@EXAMPLES
@given(who=WHO, header=ANY, method_path=st.sampled_from(ROUTES))
def test_cookie_header(site, who, header, method_path):
    method, path = method_path
    site.send(method, path, browser=site.browser(who), cookies=header_value(header))


# --------------------------------------------------------------------------- query


@EXAMPLES
@given(where=st.sampled_from(["visitor", "signed-in", "with Google access", "error page"]), value=ANY)
def test_next(site, where, value):
    """`next` is only ever a local path: where /login sends a browser that needs no sign-in is one."""
    if where == "with Google access":
        response = site.send("GET", "/login", browser=site.with_google_access, query=query(next=value))
        location = urlsplit(response.location)
        assert response.status_code == 302 and not location.scheme and not location.netloc
        assert location.path.startswith("/") and not location.path.startswith("//"), response.location
    elif where == "error page":  # its "Try again" keeps `next`
        site.send("GET", "/callback", query=query(next=value, state="unknown"))
    else:
        site.send("GET", "/login", browser=site.browser(where), query=query(next=value))


@EXAMPLES
@given(pending=st.sampled_from(["none", "another state's", "renamed to the state's"]), state=ANY)
def test_state(site, pending, state):
    """Against a browser with no pending sign-in, with one, or with one whose cookie is renamed to
    match the forged state: never signed in."""
    browser = Browser() if pending == "none" else site.start_sign_in()
    if pending == "renamed to the state's":
        prefix = header_value(wire(state).decode(errors="replace")[:12])  # the state as the app reads it
        browser.cookie = f"{site.cookie_name()}_signin_{prefix}={browser.pending.partition('=')[2]}"
    response = site.send("GET", "/callback", browser=browser, query=query(state=state, code="4/good-code"))
    assert response.status_code == 400


@EXAMPLES
@given(code=ANY)
def test_code(site, code):
    browser = site.start_sign_in()
    response = site.send("GET", "/callback", browser=browser, query=query(state=browser.state, code=code))
    assert response.status_code == 400  # the fake Google knows no such code


@EXAMPLES
@given(flow=st.sampled_from(["no state", "sign-in", "connect"]), error=ANY | st.sampled_from(["access_denied",
       *PROVIDER_5XX]), description=ANY, forged_state=ANY)
def test_provider_error(site, flow, error, description, forged_state):
    """The provider's `error` redirect, for no pending sign-in, a sign-in's, or a connect's (more access)."""
    if flow == "no state":
        browser, state = Browser(), forged_state
    else:
        signed_in = site.browser("signed-in") if flow == "connect" else None
        browser = site.start_sign_in(signed_in, "/connect/calendar" if flow == "connect" else "/login")
        state = browser.state
    site.send("GET", "/callback", browser=browser, query=query(state=state, error=error, error_description=description))


@EXAMPLES
@given(version=ANY)
def test_static_version(site, version):
    site.send("GET", STATIC, query=query(v=version))


PARAMETERS = st.sampled_from(["next", "state", "code", "error", "error_description", "scope", "authuser", "hd",
                              "prompt", "iss", "v", "session", "csrf_token"]) | ANY
QUERIES = st.one_of(
    st.lists(st.tuples(PARAMETERS, ANY), max_size=4).map(lambda pairs: "&".join(f"{quoted(k)}={quoted(v)}"
                                                                                 for k, v in pairs)),
    st.binary(max_size=300).map(latin1))  # the query as a raw client sends it, not percent-encoded


@EXAMPLES
@given(who=WHO, text=QUERIES, method_path=st.sampled_from(ROUTES))
def test_any_query_parameter(site, who, text, method_path):
    method, path = method_path
    browser = site.browser(who)
    site.send(method, path, browser=browser, query=text, form=browser.form(method))


# --------------------------------------------------------------------------- forms


@EXAMPLES
@given(who=WHO, path=st.sampled_from(FORMS), token=ANY)
def test_csrf_token_field(site, who, path, token):
    """A forged token ends nothing."""
    browser = site.browser(who)
    site.send("POST", path, browser=browser, form={"csrf_token": token})
    assert who == "visitor" or browser.signed_in()


@EXAMPLES
@given(handle=ANY)
def test_session_field(site, handle):
    """No handle names this session: the form ends other sessions only."""
    browser = site.browser("signed-in")
    response = site.send("POST", "/sessions/end", browser=browser, form={"csrf_token": browser.token,
                                                                          "session": handle})
    assert response.status_code == 303 and browser.signed_in()


CONTENT_TYPES = st.one_of(
    st.sampled_from(["application/x-www-form-urlencoded", RISC_CONTENT_TYPE, "text/plain", "application/json"]),
    ANY.map(lambda boundary: f"multipart/form-data; boundary={header_value(boundary)}"),
    ANY.map(header_value))


@EXAMPLES
@given(who=WHO, path=st.sampled_from([*FORMS, "/risc"]), content_type=CONTENT_TYPES, body=st.binary(max_size=500))
def test_content_type_and_body(site, who, path, content_type, body):
    site.send("POST", path, browser=site.browser(who), body=body, headers={"Content-Type": content_type})


# --------------------------------------------------------------------------- headers


@EXAMPLES
@given(variant=st.sampled_from(["plain", "pinned", "trusted", "proxied"]), who=WHO, host=ANY,
       method_path=st.sampled_from(ROUTES))
def test_host(site, variant, who, host, method_path):
    method, path = method_path
    site.send(method, path, variant=variant, browser=site.browser(who, variant), headers={"Host": header_value(host)})


def headers_of(*names: str) -> st.SearchStrategy[dict[str, str]]:
    """Some of these headers, each with any value."""
    return st.dictionaries(st.sampled_from(names), ANY.map(header_value), min_size=1)


@EXAMPLES
@given(who=WHO, headers=headers_of("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Port",
                                   "X-Forwarded-Prefix"), method_path=st.sampled_from(ROUTES))
def test_forwarded_headers(site, who, headers, method_path):
    method, path = method_path
    site.send(method, path, variant="proxied", browser=site.browser(who, "proxied"), headers=headers)


@EXAMPLES
@given(who=WHO, headers=headers_of("Accept", "X-Requested-With", "Sec-Fetch-Mode"),
       method_path=st.sampled_from(GUARDED))
def test_navigation_headers(site, who, headers, method_path):
    """A visitor's page load is sent to sign in; anything else gets 401 problem details."""
    method, path = method_path
    response = site.send(method, path, browser=site.browser(who), headers=headers)
    assert who == "signed-in" or method == "POST" or response.status_code in (302, 401)


@EXAMPLES
@given(who=WHO, headers=headers_of("Sec-Fetch-Site", "Origin"))
def test_fetch_metadata_on_sign_out(site, who, headers):
    browser = site.browser(who)
    site.send("POST", "/logout", browser=browser, headers=headers, form=browser.form("POST"))


@EXAMPLES
@given(user_agent=ANY)
def test_user_agent(site, user_agent):
    """Read once, at sign-in (/callback); shown on the sessions page."""
    browser = site.sign_in_through_google(user_agent=header_value(user_agent))
    assert site.send("GET", "/sessions", browser=browser).status_code == 200


@EXAMPLES
@given(request_id=ANY, method_path=st.sampled_from(ROUTES))
def test_request_id(site, request_id, method_path):
    """Echoed only when it is a plain token; anything else is replaced."""
    method, path = method_path
    sent = header_value(request_id)
    echoed = site.send(method, path, headers={"X-Request-ID": sent}).headers["X-Request-ID"]
    assert echoed == sent if re.fullmatch(r"[A-Za-z0-9._:-]{1,128}", sent) else re.fullmatch(r"[0-9a-f]{32}", echoed)


HEADER_NAMES = st.text(TCHAR, min_size=1, max_size=30) | st.sampled_from([
    "Authorization", "Content-Length", "Content-Type", "Range", "If-Range", "If-Match", "If-None-Match",
    "If-Modified-Since", "Accept-Encoding", "Accept-Language", "Forwarded", "Referer", "Transfer-Encoding", "Upgrade",
    "X-CSRFToken"])


@EXAMPLES
@given(who=WHO, name=HEADER_NAMES, value=ANY, method_path=st.sampled_from(ROUTES))
def test_any_header(site, who, name, value, method_path):
    method, path = method_path
    browser = site.browser(who)
    site.send(method, path, browser=browser, headers={name: header_value(value)}, form=browser.form(method))


# --------------------------------------------------------------------------- One Tap and bearer tokens

CREDENTIALS = st.one_of(ANY, st.lists(st.binary(max_size=80).map(b64), min_size=3, max_size=3).map(".".join))


@EXAMPLES
@given(credential=CREDENTIALS | st.just("signed"), nonce=ANY | st.just("the page's"), field=ANY,
       cookie=ANY | st.just("= field"), browser_value=ANY | st.just("the browser's"))
def test_one_tap_post(site, credential, nonce, field, cookie, browser_value):
    """POST /login/one-tap: any credential (or one Google signed, with any nonce), any `g_csrf_token` field
    and cookie (or equal ones), any nonce cookie. Only the page's own nonce with equal tokens signs in."""
    page = site.send("GET", "/")
    own = next((h.split(";")[0] for h in page.headers.getlist("Set-Cookie") if "_one_tap=" in h), "")
    nonce_of_page = re.search(r'data-nonce="([^"]+)"', page.get_data(as_text=True)).group(1)
    if credential == "signed":
        claims = {**site.google.claims(), "nonce": nonce_of_page if nonce == "the page's" else latin1(nonce)}
        credential = site.google.sign(claims)
    cookie = field if cookie == "= field" else cookie
    if browser_value != "the browser's":
        own = f"{site.cookie_name()}_one_tap={header_value(browser_value)}"
    site.send("POST", "/login/one-tap", cookies=f"{own}; g_csrf_token={header_value(cookie)}",
              form={"credential": credential, "g_csrf_token": field})


AUTHORIZATIONS = st.one_of(ANY.map(header_value), CREDENTIALS.map(lambda token: "Bearer " + header_value(token)),
                           st.tuples(st.sampled_from(["Bearer ", "bearer ", "Basic ", "Bearer"]), ANY.map(header_value))
                           .map("".join))


@EXAMPLES
@given(authorization=AUTHORIZATIONS | st.just("signed"), claims=st.dictionaries(
    st.sampled_from(["iss", "aud", "sub", "exp", "iat", "email", "email_verified", "hd"]), JSON, max_size=3))
def test_bearer_authorization(site, authorization, claims):
    """GET /api/me with any Authorization header, or a token Google signed with any JSON in its claims."""
    if authorization == "signed":
        authorization = "Bearer " + site.google.sign({**site.google.claims(), **claims})
    response = site.send("GET", "/api/me", headers={"Authorization": authorization, "Accept": "application/json"})
    assert response.status_code in (200, 401, 403)


# --------------------------------------------------------------------------- POST /risc


def risc(site, token: str | bytes):
    """A delivery as Google makes it: no cookie, the content type of a security event token."""
    return site.send("POST", "/risc", body=wire(token), headers={"Content-Type": RISC_CONTENT_TYPE})


@EXAMPLES
@given(body=st.one_of(st.binary(max_size=600), st.text(max_size=600).map(wire),
                      st.lists(st.binary(max_size=80).map(b64), min_size=3, max_size=3).map(".".join)))
def test_risc_body(site, body):
    """Any bytes, any text, three parts of any bytes: refused."""
    assert risc(site, body).status_code == 400


@EXAMPLES
@given(header=JSON, payload=JSON, signature=st.binary(max_size=300))
def test_risc_token_of_any_json(site, header, payload, signature):
    """A compact JWS of any JSON header and payload, with a signature of any bytes: refused."""
    assert risc(site, ".".join(b64(part) for part in (json.dumps(header).encode(), json.dumps(payload).encode(),
                                                       signature))).status_code == 400


SUBJECTS = st.fixed_dictionaries({}, optional={name: JSON | st.just(value) for name, value in (
    ("subject_type", "iss-sub"), ("iss", ISSUER), ("sub", "1"), ("token_identifier_alg", "prefix"),
    ("token", "1//x"), ("token_type", "refresh_token"))})
EVENTS = JSON | st.dictionaries(st.sampled_from([*USER_EVENTS, TOKEN_REVOKED]) | st.text(max_size=30), JSON | (
    st.fixed_dictionaries({}, optional={"subject": SUBJECTS | JSON, "reason": JSON, "state": JSON})), max_size=3)


@EXAMPLES
@given(events=EVENTS, claims=st.dictionaries(st.sampled_from(["iss", "aud", "iat", "jti"]), JSON, max_size=2))
def test_risc_signed_claims(site, events, claims):
    """Signed with Google's RISC key, so every claim is read: any JSON anywhere is a 400 or a harmless 202."""
    assert risc(site, site.google.risc.token(events, **claims)).status_code in (202, 400)


# --------------------------------------------------------------------------- path and method

PATHS = st.sampled_from([path for _, path in ROUTES] + ["/static/", "/static/fonts/", "/static/../app.py"])
METHODS = st.sampled_from(["GET", "POST", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"]) | st.text(TCHAR, min_size=1,
                                                                                                    max_size=12)


@EXAMPLES
@given(who=WHO, path=PATHS, tail=ANY, method=METHODS)
def test_path_and_method(site, who, path, tail, method):
    """A path as the server decoded it (any bytes), under a route or alone."""
    site.send(method, "/", browser=site.browser(who), raw_path=path + latin1(tail))
