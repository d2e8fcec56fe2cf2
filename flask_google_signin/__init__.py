"""Sign in with Google for Flask: OpenID Connect done by the rules, sealed server-side sessions.

    from flask_google_signin import GoogleSignIn, current_user, login_required

See `GoogleSignIn` for the settings and what it adds to an app.
"""

from .errors import SignInError, StoreUnavailable
from .extension import GoogleSignIn, current_user, login_required, signed_in, signed_out
from .settings import ConfigError

__all__ = ["ConfigError", "GoogleSignIn", "SignInError", "StoreUnavailable", "current_user", "login_required",
           "signed_in", "signed_out"]
