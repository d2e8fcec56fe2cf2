"""Sign in with Google for Flask: OpenID Connect done by the rules, sealed server-side sessions.

    from flask_google_signin import GoogleSignIn, current_user, login_required

See `GoogleSignIn` for the settings and what it adds to an app. Google APIs on the user's behalf:
`connect_scopes` (incremental authorization), `granted_scopes`, `authorized_get`, `disconnect_google`.
"""

__version__ = "0.1.0"

from .errors import GoogleAPIError, SignInError, StoreUnavailable
from .extension import GoogleSignIn, current_user, login_required, signed_in, signed_out
from .google_api import authorized_get, granted_scopes
from .settings import ConfigError
from .views import connect_scopes, disconnect_google

__all__ = ["ConfigError", "GoogleAPIError", "GoogleSignIn", "SignInError", "StoreUnavailable", "authorized_get",
           "connect_scopes", "current_user", "disconnect_google", "granted_scopes", "login_required", "signed_in",
           "signed_out"]
