"""The real app with one thing taken out, for bench/run.py's A/B rows.

    gunicorn -c gunicorn.conf.py bench.variants:unsealed    sessions and pending sign-ins not encrypted
    gunicorn -c gunicorn.conf.py bench.variants:unlimited   the /login rate limit switched off

Each is `create_app()` exactly as wsgi.py builds it, same settings, same store, same gunicorn
settings; the only difference is the one named. Never for production: `unsealed` stores tokens in
clear text.

- `unsealed`: the store's sealer (`app.session_interface.vault.sealer`) is a `PlainSealer`, Sealer's
  interface (key, seal, open) with the same JSON encoding (msgspec) and no crypto: no HKDF, no
  AES-GCM, no random nonce, for sessions, pending sign-ins and the session index alike.
  Its records start with a different version byte, so neither sealer opens the other's records.
- `unlimited`: the app's /login limit (`limits.RateLimit`, in `app.extensions`) replaced by one
  with no windows: the same pending-sign-in write (the same Redis script, or the same folder code)
  with no counter in it. There is no setting for this, on purpose: a limit cannot be switched off.
  `python -m bench.variants --check-limiter` proves it (a limit of 1/minute is not enforced).

Built lazily (module `__getattr__`), so a worker builds only the variant it serves.
"""

from __future__ import annotations

import sys

import msgspec
from flask import Flask

from app import create_app
from flask_google_signin.sessions.limits import RateLimit

PLAIN = b"\x00"  # not store.sealing.VERSION: a plain record never opens as a sealed one, nor the reverse


class PlainSealer:
    """store.sealing.Sealer's interface and JSON encoding, without the crypto (the A/B's only difference)."""

    def __init__(self) -> None:
        self.encode = msgspec.json.Encoder().encode
        self.decode = msgspec.json.Decoder(dict).decode

    def key(self, secret: str) -> str:
        return secret

    def older_keys(self, secret: str) -> list[str]:
        return []

    def seal(self, key: str, data: dict, aad: str) -> bytes:
        return PLAIN + self.encode(data)

    def open(self, key: str, blob: bytes, aad: str) -> dict | None:
        if not blob.startswith(PLAIN):
            return None
        try:
            return self.decode(blob[1:])
        except msgspec.DecodeError:
            return None


def build_unsealed() -> Flask:
    app = create_app()
    app.session_interface.vault.sealer = PlainSealer()  # type: ignore[attr-defined]
    return app


def build_unlimited(overrides: dict | None = None) -> Flask:
    app = create_app(overrides)
    app.extensions["google_signin_limits"]["login"] = RateLimit("login", "")  # no windows: nothing counted
    return app


VARIANTS = {"unsealed": build_unsealed, "unlimited": build_unlimited}


def __getattr__(name: str) -> Flask:
    if name not in VARIANTS:
        raise AttributeError(name)
    app = VARIANTS[name]()
    globals()[name] = app
    return app


def check_limiter() -> str:
    """With LOGIN_RATE_LIMIT=1/minute: the real app refuses the 2nd /login, `unlimited` refuses none.

    Needs the app's settings in the environment (the provider must answer: /login reads its metadata).
    """
    limited = create_app({"LOGIN_RATE_LIMIT": "1/minute"}).test_client()
    unlimited = build_unlimited({"LOGIN_RATE_LIMIT": "1/minute"}).test_client()
    real = [limited.get("/login").status_code for _ in range(3)]
    off = [unlimited.get("/login").status_code for _ in range(3)]
    if real != [302, 429, 429] or off != [302, 302, 302]:
        raise SystemExit(f"limiter check failed: with the limiter {real}, without {off}")
    return f"limiter check: 1/minute, 3 x /login: with the limiter {real}, without {off}"


if __name__ == "__main__":
    if sys.argv[1:] != ["--check-limiter"]:
        raise SystemExit("usage: python -m bench.variants --check-limiter")
    print(check_limiter())
