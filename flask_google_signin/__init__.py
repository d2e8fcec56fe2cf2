"""Sign in with Google for Flask: OpenID Connect done by the rules, sealed server-side sessions.

    from flask_google_signin import GoogleSignIn, current_user, login_required

See `GoogleSignIn` for what it adds to an app, and docs/api.md for every name below. The package's
layers, bottom to top, each importing only from below: settings and errors (settings, errors,
signals, metrics); the store (store/); sessions and pending sign-ins (sessions/); the OpenID
Connect client (oidc/); accounts, security events and Google API access (accounts/); the web
layer (web/); the extension object (extension). This module only names the public API.
"""

__version__ = "0.1.0"

from .accounts.google_api import (
    GoogleAccess,
    GoogleAPISession,
    authorized_get,
    disconnect_google,
    google_access,
    google_session,
    granted_scopes,
    refresh_google_access,
)
from .accounts.groups import check_groups
from .errors import GoogleAPIError, GroupsUnavailable, SignInError, StoreUnavailable
from .extension import GoogleSignIn
from .sessions.identity import AnonymousIdentity, GoogleIdentity
from .sessions.identity import identity as google_identity
from .sessions.interface import SessionInfo, check_store, current_session
from .settings import GOOGLE_METADATA_URL, SETTING_NAMES, ConfigError, parse_settings
from .signals import signed_in, signed_out
from .web.guard import current_user, group_required, login_required, member_of
from .web.one_tap import csp_sources
from .web.pages import error_page
from .web.signin import connect_scopes

__all__ = ["GOOGLE_METADATA_URL", "SETTING_NAMES", "AnonymousIdentity", "ConfigError", "GoogleAPIError",
           "GoogleAPISession", "GoogleAccess", "GoogleIdentity", "GoogleSignIn", "GroupsUnavailable", "SessionInfo",
           "SignInError", "StoreUnavailable", "__version__", "authorized_get", "check_groups", "check_store",
           "connect_scopes", "csp_sources", "current_session", "current_user", "disconnect_google", "error_page",
           "google_access", "google_identity", "google_session", "granted_scopes", "group_required",
           "login_required", "member_of", "parse_settings", "refresh_google_access", "signed_in", "signed_out"]
