"""`GoogleSignIn`: the extension object, which wires the layers below into a Flask app."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Flask
from flask.typing import ResponseReturnValue

from . import metrics
from .accounts.groups import init_groups
from .accounts.index import SessionIndex
from .oidc.client import init_oauth
from .sessions.identity import GoogleIdentity
from .sessions.interface import PENDING_LIFETIME, init_sessions
from .sessions.limits import init_limits
from .settings import ConfigError, config_key, read_settings
from .store import TimedRecords, Vault, namespace, open_records
from .web import cli, csrf, guard, one_tap, pages, risc, sessions_page, signin

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
LAYOUT = "google_signin/_layout.html"
# Settings 0.1.0 read under these names: ignored now, they would let every Google account in.
MOVED_ALLOW_LISTS = ("ALLOWED_DOMAINS", "ALLOWED_EMAILS")


class GoogleSignIn:
    """Sign in with Google for a Flask app, with the OpenID Connect and OAuth 2.0 security rules.

    `GoogleSignIn(app)`, or `GoogleSignIn()` then `init_app(app)` for an application factory. It
    adds `/login`, `/callback` and `GET`/`POST /logout` (blueprint `google_signin`, under
    `url_prefix` when given), sealed server-side sessions for signed-in users (files or Redis,
    through Flask-Session) and Flask's signed cookie for visitors, `current_user`,
    `login_required` and the signals `signed_in` / `signed_out`. The sessions page, the
    Cross-Account Protection receiver and request metrics are each switched on by a setting.
    Settings are read from `app.config` (docs/configuration.md); the host's own keys are never
    changed. `user_loader` maps the Google identity to the host's own user; `unauthorized_handler`
    decides what a visitor gets from `login_required`.

    The pages are templates the host may override (`google_signin/error.html`, `logout.html`,
    `sessions.html` in the app's own templates folder win), or extend the host's own layout
    (GOOGLE_SIGNIN_BASE_TEMPLATE).
    """

    def __init__(self, app: Flask | None = None, *, url_prefix: str | None = None) -> None:
        self.hooks = guard.Hooks()
        self.exempt_views: list[Callable[..., Any]] = []
        if app is not None:
            self.init_app(app, url_prefix=url_prefix)

    def user_loader(self, loader: Callable[[GoogleIdentity], Any]) -> Callable[[GoogleIdentity], Any]:
        """Register the function that gives the host's own user for a signed-in Google identity.

        It runs on every request of a signed-in session (as Flask-Login's does), and `current_user`
        is then its answer. None at sign-in refuses the sign-in (a 403 page, no session); None on a
        later request ends the session (`signed_out` with reason "user_loader").
        """
        self.hooks.user_loader = loader
        return loader

    def unauthorized_handler(self, handler: Callable[[], ResponseReturnValue]) -> Callable[[], ResponseReturnValue]:
        """Register what `login_required` answers a visitor, instead of the redirect to the sign-in
        (pages) or the 401 problem details (anything else)."""
        self.hooks.unauthorized_handler = handler
        return handler

    def session_exempt(self, view: F) -> F:
        """Mark a view that never uses the session, such as a health check: its requests never ask
        the session store, so it answers even when the store does not. Its path must be fixed (no
        `<variables>`). Use it as a decorator, or call it with the view function."""
        self.exempt_views.append(view)
        return view

    def init_app(self, app: Flask, *, url_prefix: str | None = None, add_context_processor: bool = True) -> None:
        settings = read_settings(app.config, instance_path=app.instance_path, debug_or_testing=app.debug or app.testing)
        check_start(app, settings)
        blueprints = [signin.bp]
        if settings["SESSIONS_PAGE"]:
            blueprints.append(sessions_page.bp)
        if settings["RISC"]:
            blueprints.append(risc.bp)
        if settings["ONE_TAP"]:
            blueprints.append(one_tap.bp)
        prefix = (url_prefix or "").rstrip("/") or None
        refuse_taken_routes(app, blueprints, prefix)
        if settings["METRICS"]:
            metrics.enable()
        app.extensions["google_signin_settings"] = settings
        app.extensions["google_signin_hooks"] = self.hooks
        space = namespace(settings["GOOGLE_CLIENT_ID"])
        records = open_records(settings, space, PENDING_LIFETIME)
        if settings["METRICS"]:  # timing every store call is paid on every page: only when someone reads it
            records = TimedRecords(records)
        secret_key, fallbacks = settings["SECRET_KEY"], settings["SECRET_KEY_FALLBACKS"]
        vault = Vault(records, secret_key, space, fallbacks)
        init_sessions(app, vault, space).exempt_views = self.exempt_views
        app.extensions["google_signin_index"] = SessionIndex(vault, secret_key, space, fallbacks)
        init_groups(app, settings)  # looks ALLOWED_GROUPS up at Cloud Identity: after the store, as it logs
        app.before_request(guard.load_identity)
        init_oauth(app, settings)
        init_limits(app)
        for blueprint in blueprints:
            app.register_blueprint(blueprint, url_prefix=prefix)
        if settings["RISC"]:
            app.cli.add_command(cli.cli)  # flask risc register|verify|status
        pages.register_error_handlers(app, vault.store_errors)
        if settings["METRICS"]:
            metrics.init_metrics(app)
        # The extension's own pages need these, whatever the host's templates do; prefixed, they
        # take no name of the host's.
        app.jinja_env.globals.update(google_signin_csrf_token=csrf.csrf_token,
                                     google_signin_one_tap=one_tap.one_tap_markup,
                                     google_signin_base=settings["BASE_TEMPLATE"] or LAYOUT)
        if add_context_processor:
            app.context_processor(template_context(app))
        app.extensions["google_signin"] = self


def check_start(app: Flask, settings: dict[str, Any]) -> None:
    """What stops the start, and the one warning each for what works but should not go live so."""
    for old in MOVED_ALLOW_LISTS:
        if old in app.config and config_key(old) not in app.config:
            raise ConfigError(f"{old} is set, but the extension reads {config_key(old)}: rename it (or set "
                              f"{config_key(old)} too, if {old} is the app's own)")
    fallbacks = app.config.get("SECRET_KEY_FALLBACKS") or []
    if isinstance(fallbacks, str | bytes) or any("," in str(key) for key in fallbacks):
        raise ConfigError("SECRET_KEY_FALLBACKS is invalid: expected a list of keys without commas (Flask would "
                          "take each character of a text for a key)")
    if settings["COOKIE_SECURE"] is False and not (app.debug or app.testing):
        log.warning("%s is off: the session cookie also travels over plain http. "
                    "Leave it on wherever the site is served over https.", config_key("COOKIE_SECURE"))
    if settings["cookie_name"].startswith("__Secure-"):
        log.warning("SESSION_COOKIE_DOMAIN or SESSION_COOKIE_PATH is set: the cookies are __Secure-, not "
                    "__Host-, and a sibling subdomain may set cookies the site reads")
    if settings["BEARER_AUDIENCES"] and not (settings["ALLOWED_DOMAINS"] or settings["ALLOWED_EMAILS"]):
        log.warning("%s is set without %s or %s: any Google account can call the views that take bearer tokens, "
                    "service accounts of every Google Cloud project included (any of them can ask for a token of "
                    "any audience). Set an allow-list, or refuse unknown callers in the user_loader.",
                    config_key("BEARER_AUDIENCES"), config_key("ALLOWED_DOMAINS"), config_key("ALLOWED_EMAILS"))
    if not settings["PUBLIC_BASE_URL"] and not app.config.get("TRUSTED_HOSTS") and not app.debug:
        log.warning("Neither %s nor TRUSTED_HOSTS is set: the redirect URI is built from the request's Host "
                    "header. Set %s (and TRUSTED_HOSTS) wherever the site has a public address.",
                    config_key("PUBLIC_BASE_URL"), config_key("PUBLIC_BASE_URL"))


def refuse_taken_routes(app: Flask, blueprints: list[Blueprint], prefix: str | None) -> None:
    """A route the extension would add that the host already has stops init_app, naming the path:
    never a silent shadow."""
    taken = {rule.rule for rule in app.url_map.iter_rules()}
    clashes = sorted(routes_of(tuple(blueprints), prefix) & taken)
    if clashes:
        raise ConfigError(f"the app already has a route {clashes[0]}: mount the sign-in under a prefix of its "
                          "own, GoogleSignIn(app, url_prefix=...)")


@functools.lru_cache(maxsize=16)
def routes_of(blueprints: tuple[Blueprint, ...], prefix: str | None) -> frozenset[str]:
    """The paths the blueprints add, read from a scratch app: once per combination, as compiling
    the rules takes longer than the rest of init_app (apps made by the dozen, in tests, feel it)."""
    scratch = Flask("google_signin_routes")
    for blueprint in blueprints:
        scratch.register_blueprint(blueprint, url_prefix=prefix)
    return frozenset(rule.rule for rule in scratch.url_map.iter_rules() if rule.endpoint != "static")


def template_context(app: Flask) -> Callable[[], dict[str, Any]]:
    """What templates get besides the extension's own globals: `current_user`, and the sign-out
    form's token as `csrf_token()` when the host has no Flask-WTF CSRFProtect of its own."""
    values: dict[str, Any] = {"current_user": guard.current_user}
    if "csrf" not in app.extensions:
        values["csrf_token"] = csrf.csrf_token
    return lambda: values
