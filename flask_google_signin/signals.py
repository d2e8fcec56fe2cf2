"""Signals a host app can connect to (blinker, through Flask's Namespace)."""

from __future__ import annotations

# blinker's Namespace, through Flask (blinker is Flask's dependency, not one of ours); Flask does not re-export it.
from flask.signals import Namespace  # type: ignore[attr-defined]

signals = Namespace()
#: Sent after a sign-in is stored: `signed_in.connect(fn, app)`; fn(app, user=GoogleIdentity, userinfo=dict).
signed_in = signals.signal("google-signin.signed-in")
#: Sent once for every session that ends, however it ends: fn(app, user=GoogleIdentity | None, sub=str,
#: reason=str); `user` is None when the ending request was not that session's (ended elsewhere, a
#: security event). The reasons: sign_out, ended_elsewhere, everywhere, security_event, idle_timeout,
#: absolute_timeout, user_loader, policy, group (no longer in GOOGLE_SIGNIN_ALLOWED_GROUPS), group_unverified
#: (membership unknown past GOOGLE_SIGNIN_GROUPS_STALE).
signed_out = signals.signal("google-signin.signed-out")
