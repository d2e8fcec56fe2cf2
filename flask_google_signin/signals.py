"""Signals a host app can connect to (blinker, through Flask's Namespace)."""

from __future__ import annotations

# blinker's Namespace, through Flask (blinker is Flask's dependency, not one of ours); Flask does not re-export it.
from flask.signals import Namespace  # type: ignore[attr-defined]

signals = Namespace()
#: Sent after a sign-in is stored: `signed_in.connect(fn)`; fn(app, user=..., userinfo=...).
signed_in = signals.signal("google-signin.signed-in")
#: Sent when a user signs out: fn(app, user=...).
signed_out = signals.signal("google-signin.signed-out")
