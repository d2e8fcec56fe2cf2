"""The ceilings bench/run.py measures the app against, served by the same gunicorn settings.

- /bare/profile renders the app's own profile template from constants, /bare/login is a bare
  redirect: what Flask + Jinja + gunicorn cost with no session at all (the framework's ceiling).
- /store/profile does one read of the sealed session record the cookie (`id.secret`) names and
  renders the same page from it; /store/login seals one pending-sign-in-sized record and adds it
  with the store's `add_pending` (the per-store cap included), sets the per-sign-in cookie and
  redirects. Same store as the app (the session layer's `open_records`, SESSION_TYPE=cachelib|redis),
  same key names, same `Sealer`: the least this design can do (its ceiling).

  The ceiling unseals and seals: sealing is part of the design, so the store rows include one key
  derivation (HKDF) and one AES-GCM open per /store/profile, one HKDF and one AES-GCM seal per
  /store/login. What the crypto itself costs is measured separately, by the A/B rows of
  bench/run.py (bench/variants.py).

Nothing else: no security headers, no CSRF signing, no request id, no idle clock, no rate limit.
"""

from __future__ import annotations

import secrets
import time

from flask import Blueprint, Flask, abort, g, redirect, render_template, request

from app import pages
from app.config import ROOT, load_settings
from flask_google_signin.sessions.interface import COOKIE_VALUE, PENDING_LIFETIME
from flask_google_signin.store import ADDED, Sealer, digest, namespace, new_secret, open_records

config = load_settings()  # the app's own settings (SESSION_TYPE, SESSION_CACHELIB_DIR, REDIS_URL, ...)
config["SESSION_CACHELIB_DIR"] = config["SESSION_CACHELIB_DIR"] or str(ROOT / "instance" / "sessions")
SPACE = namespace(config["GOOGLE_CLIENT_ID"])
PREFIX = f"session:{SPACE}:"  # sessions/interface.py: Flask-Session's key_prefix
COOKIE = config["SESSION_COOKIE_NAME"]
IDLE = config["PERMANENT_SESSION_LIFETIME"]
ABSOLUTE = config["SESSION_ABSOLUTE_LIFETIME"]
records = open_records(config, SPACE, PENDING_LIFETIME)
sealer = Sealer(config["SECRET_KEY"], SPACE)

# alice, as scripts/serve.py gives her to the local provider; bench/run.py signs her in.
USERINFO = {"sub": "alice", "email": "alice@example.com", "email_verified": True, "name": "Alice Example",
            "given_name": "Alice", "family_name": "Example", "locale": "en", "hd": "example.com"}
AUTHORIZE_URL = ("http://127.0.0.1:9400/oauth2/authorize?response_type=code&client_id=bench-client"
                 "&redirect_uri=http%3A%2F%2F127.0.0.1%3A8000%2Fcallback&scope=openid+email+profile"
                 "&state=" + "s" * 43 + "&nonce=" + "n" * 43 + "&code_challenge=" + "c" * 43
                 + "&code_challenge_method=S256")

app = Flask(__name__, template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"))
# The app's pages blueprint: its template filters (display_name, claim, isotime, ...) and the
# endpoints the templates link to. Its views are never requested here.
app.register_blueprint(pages.bp)
app.add_template_global(lambda: "x" * 91, "csrf_token")  # a constant of a real token's length
app.add_template_global(True, "local_provider")
# The other endpoints the templates link to; never requested here.
for name, rules in {"auth": ("login", "logout"), "sessions": ("sessions_page",)}.items():
    blueprint = Blueprint(name, __name__)
    for rule in rules:
        blueprint.add_url_rule(f"/{name}/{rule}", rule, lambda: "")
    app.register_blueprint(blueprint)
# A link the templates gain later must not turn the ceiling into a 500 (wrk would count it as an
# answer): an unknown endpoint links to "/". Add it above to keep the ceiling's cost exact.
app.url_build_error_handlers.append(lambda error, endpoint, values: "/")


def render_profile(userinfo: dict, token: dict, signed_in_at: int, last_seen: int) -> str:
    g.user = {k: userinfo.get(k) for k in ("sub", "name", "email", "email_verified", "picture", "hd")}
    return render_template(
        "profile.html",
        userinfo=userinfo,
        scopes=token.get("scope", "").split(),
        token_expires_at=token.get("expires_at"),
        has_refresh_token=bool(token.get("refresh_token")),
        google_access=bool(token),
        signed_in_at=signed_in_at,
        session_expires_at=min(signed_in_at + ABSOLUTE, last_seen + IDLE),
        idle_minutes=IDLE // 60,
        now=int(time.time()),
    )


@app.get("/bare/profile")
def bare_profile() -> str:
    now = int(time.time())
    token = {"scope": "openid email profile", "expires_at": now + 3600, "refresh_token": None}
    return render_profile(USERINFO, token, now, now)


@app.get("/bare/login")
def bare_login():
    return redirect(AUTHORIZE_URL)


@app.get("/store/profile")
def store_profile() -> str:
    match = COOKIE_VALUE.fullmatch(request.cookies.get(COOKIE, ""))
    if match is None:
        abort(404)
    key = PREFIX + match[1]
    blob = records.get(key)  # the one store read
    record = None if blob is None else sealer.open(sealer.key(match[2]), blob, key)
    if record is None:
        abort(404)  # never a redirect: wrk would count it as a success
    return render_profile(record["userinfo"], record["token"], record["signed_in_at"], record["last_seen"])


@app.get("/store/login")
def store_login():
    state = secrets.token_urlsafe(32)
    data = {"redirect_uri": "http://127.0.0.1:8000/callback", "next": "/", "nonce": secrets.token_urlsafe(32),
            "code_verifier": secrets.token_urlsafe(48)}  # the shape of the app's pending sign-in
    secret = new_secret()
    key = records.pending_key(digest(secret))
    blob = sealer.seal(sealer.key(secret), {"state": state, "data": data}, key)
    if records.add_pending(key, blob, PENDING_LIFETIME, config["PENDING_SIGNINS_MAX"]) != ADDED:  # the one store write
        abort(503)
    response = redirect(AUTHORIZE_URL)
    response.set_cookie(f"{COOKIE}_signin_{state[:12]}", f"{int(time.time())}.{secret}", max_age=PENDING_LIFETIME,
                        httponly=True, samesite="Lax", path="/")
    return response
