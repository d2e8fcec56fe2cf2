"""The ceilings bench/run.py measures the app against, served by the same gunicorn settings.

- /bare/profile renders the app's own profile template from constants, /bare/login is a bare
  redirect: what Flask + Jinja + gunicorn cost with no session at all (the framework's ceiling).
- /store/profile does one read of the session record named by the cookie and renders the same
  page from it; /store/login does one write of a pending-sign-in-sized record and redirects.
  Same store (BENCH_STORE=cachelib|redis), same serialization as Flask-Session: the least any
  server-side-session design can do (this design's ceiling).

Nothing else: no security headers, no CSRF signing, no request id, no idle clock.
"""

from __future__ import annotations

import os
import secrets
import time

import msgspec
from flask import Blueprint, Flask, abort, g, redirect, render_template, request

from app.config import ROOT
from app.pages import isotime
from app.sessions import SessionFolder, make_redis

STORE = os.environ.get("BENCH_STORE", "cachelib")
PREFIX = "session:"
PENDING_TTL = 600
IDLE = 8 * 3600
ABSOLUTE = 7 * 24 * 3600
# alice, as scripts/serve.py gives her to the local provider; bench/run.py signs her in.
USERINFO = {"sub": "alice", "email": "alice@example.com", "email_verified": True, "name": "Alice Example",
            "given_name": "Alice", "family_name": "Example", "locale": "en", "hd": "example.com"}
AUTHORIZE_URL = ("http://127.0.0.1:9400/oauth2/authorize?response_type=code&client_id=bench-client"
                 "&redirect_uri=http%3A%2F%2F127.0.0.1%3A8000%2Fcallback&scope=openid+email+profile"
                 "&state=" + "s" * 43 + "&nonce=" + "n" * 43 + "&code_challenge=" + "c" * 43
                 + "&code_challenge_method=S256")

encoder = msgspec.msgpack.Encoder()
decoder = msgspec.msgpack.Decoder()

# Serialized as Flask-Session does it: msgpack for Redis; cachelib pickles the plain dict itself.
if STORE == "redis":
    client = make_redis(os.environ["REDIS_URL"], 0.5)

    def read(key: str) -> dict | None:
        raw = client.get(key)
        return None if raw is None else decoder.decode(raw)

    def write(key: str, value: dict, ttl: int) -> None:
        client.set(key, encoder.encode(value), ex=ttl)
else:
    folder = SessionFolder(os.environ["SESSION_CACHELIB_DIR"], threshold=0, default_timeout=0)

    def read(key: str) -> dict | None:
        return folder.get(key)

    def write(key: str, value: dict, ttl: int) -> None:
        folder.set(key, value, timeout=ttl)

app = Flask(__name__, template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"))
app.add_template_filter(isotime, "isotime")
app.add_template_global(lambda: "x" * 91, "csrf_token")  # a constant of a real token's length
app.add_template_global(True, "local_provider")

# The endpoints the templates link to.
pages = Blueprint("pages", __name__)
pages.add_url_rule("/", "home", lambda: "")
pages.add_url_rule("/profile", "profile", lambda: "")
auth = Blueprint("auth", __name__)
auth.add_url_rule("/logout", "logout", lambda: "", methods=["POST"])
app.register_blueprint(pages)
app.register_blueprint(auth)


def render_profile(userinfo: dict, token: dict, signed_in_at: int, last_seen: int) -> str:
    g.user = {k: userinfo.get(k) for k in ("sub", "name", "email", "email_verified", "picture", "hd")}
    return render_template(
        "profile.html",
        userinfo=userinfo,
        scopes=token.get("scope", "").split(),
        token_expires_at=token.get("expires_at"),
        has_refresh_token=bool(token.get("refresh_token")),
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
    record = read(PREFIX + request.cookies.get("session", ""))
    if record is None:
        abort(404)  # never a redirect: wrk would count it as a success
    return render_profile(record["userinfo"], record["token"], record["signed_in_at"], record["last_seen"])


@app.get("/store/login")
def store_login():
    sid = secrets.token_urlsafe(32)
    state = secrets.token_urlsafe(32)
    pending = {"data": {"redirect_uri": "http://127.0.0.1:8000/callback", "next": "/", "nonce": "n" * 43,
                        "code_verifier": secrets.token_urlsafe(48)},
               "exp": time.time() + PENDING_TTL}  # the shape of the app's pending sign-in
    write(PREFIX + sid, {"_permanent": True, f"_state_google_{state}": pending}, PENDING_TTL)
    response = redirect(AUTHORIZE_URL)
    response.set_cookie("session", sid, max_age=PENDING_TTL, httponly=True, samesite="Lax")
    return response
