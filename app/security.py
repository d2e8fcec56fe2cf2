"""Response headers and proxy trust: what the browser is told, and which headers we believe."""

from __future__ import annotations

from flask import Flask, Response, current_app, request
from werkzeug.middleware.proxy_fix import ProxyFix

from flask_google_signin import csp_sources

from .assets import static_files

CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data: https://*.googleusercontent.com",  # Google's avatar host
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
BASE_CSP = "; ".join(f"{name} {value}" for name, value in CSP.items())  # until init_csp: an app without the extension
# RFC 9700 4.2.4: the code must not leak through Referer. Elsewhere keep a same-origin
# Referer, which Flask-WTF's strict CSRF check needs over https for forms other than sign-out
# (sign-out checks Sec-Fetch-Site / Origin instead, so it works from the no-referrer pages too).
NO_REFERRER_PATHS = ("/login", "/callback")
# A static file under its versioned URL (app/assets.py) never changes: browsers, proxies and CDNs
# may keep it a year without asking again. Any other static URL revalidates (ETag, Last-Modified).
IMMUTABLE = "public, max-age=31536000, immutable"


# The same on every response, built once and appended (no view sets any of them): by Referrer-Policy.
COMMON = (("X-Frame-Options", "DENY"), ("X-Content-Type-Options", "nosniff"),
          ("Cross-Origin-Opener-Policy", "same-origin"))
HEADERS = {policy: [*COMMON, ("Referrer-Policy", policy)] for policy in ("no-referrer", "same-origin")}
PAGE_HEADERS = {policy: [*headers, ("Cache-Control", "no-store")] for policy, headers in HEADERS.items()}


def set_headers(response: Response) -> Response:
    headers = response.headers
    if not headers.getlist("Content-Security-Policy"):  # a view may set its own
        headers.add("Content-Security-Policy", current_app.config.get("CONTENT_SECURITY_POLICY", BASE_CSP))
    policy = "no-referrer" if request.path in NO_REFERRER_PATHS else "same-origin"
    if request.endpoint != "static" or response.status_code not in (200, 304):
        headers.extend(PAGE_HEADERS[policy])  # no-store: pages may show personal data
    else:  # send_file set a Cache-Control of its own: replaced
        headers.extend(HEADERS[policy])
        current = static_files().is_current((request.view_args or {}).get("filename"), version_asked())
        headers["Cache-Control"] = IMMUTABLE if current else "no-cache"  # no `v`, or another version's
    if request.is_secure:
        headers["Strict-Transport-Security"] = current_app.config["HSTS"]
    return response


def version_asked() -> str | None:
    """The static URL's `v`. Werkzeug reads the query as UTF-8, strictly: raw bytes that are not UTF-8,
    which a raw client may send and a server may pass on (wsgiref does), ask for no version."""
    try:
        return request.args.get("v")
    except UnicodeDecodeError:
        return None


def init_security(app: Flask) -> None:
    # HSTS_INCLUDE_SUBDOMAINS: every subdomain is https-only too (then it cannot plant an http cookie
    # either); off by default, since it binds subdomains this app does not serve.
    subdomains = "; includeSubDomains" if app.config.get("HSTS_INCLUDE_SUBDOMAINS") else ""
    app.config["HSTS"] = f"max-age=63072000{subdomains}"
    proxies = app.config["TRUSTED_PROXIES"]
    if proxies:  # X-Forwarded-* are ignored unless the operator says how many proxies stand in front
        # Flask's documented way to add WSGI middleware; mypy sees wsgi_app as a method, not a slot.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies)
    app.after_request(set_headers)


def init_csp(app: Flask) -> None:
    """The policy, once the extension is in: One Tap (GOOGLE_SIGNIN_ONE_TAP) adds Google's sources."""
    extra = csp_sources(app)
    directives = {name: f"{value} {extra[name]}" if name in extra else value for name, value in CSP.items()}
    directives.update({name: f"'self' {value}" for name, value in extra.items() if name not in CSP})
    app.config["CONTENT_SECURITY_POLICY"] = "; ".join(f"{name} {value}" for name, value in directives.items())
