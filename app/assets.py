"""Static files under versioned URLs: `url_for('static', filename=...)` adds `?v=<content hash>`.

A URL with the file's current hash may be cached for a year (app/security.py says so); anything
else under /static/ (no `v`, or a stale one) revalidates. The hashes are taken once, when the app
is created: at each gunicorn worker's start, so `kill -HUP` after a deploy gives new URLs. A file
changed in place before that keeps its URL but is served `no-cache` (its size or time changed),
so no cache keeps new content under an old version; a stylesheet is served from memory, as hashed.

Stylesheets refer to fonts and images by relative `url(...)`: those references get the same `?v=`
when the stylesheet is served, so that fonts are cached as long as everything else, and the
stylesheet's own hash is taken over the rewritten text (a new font gives the CSS a new URL too).
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import posixpath
import re
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, has_request_context, request, send_file

VERSION_LENGTH = 16  # hex digits of SHA-256: 64 bits, plenty to tell versions of one file apart
# url(fonts/a.woff2), url('a.svg'), url("a.svg"): a relative reference without query or fragment.
CSS_URL = re.compile(r"""url\(\s*(?P<quote>['"]?)(?P<ref>[^'")?#:]+)(?P=quote)\s*\)""")


def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()[:VERSION_LENGTH]


def stamp(path: Path) -> tuple[int, int]:
    """What tells that a file changed since it was hashed, at the price of one stat()."""
    status = os.stat(path)
    return status.st_mtime_ns, status.st_size


class StaticFiles:
    """Every file under `folder`: its version (content hash) by its name as url_for takes it
    (`fonts/roboto-latin-500-normal.woff2`), and each stylesheet's text with versioned url()s."""

    def __init__(self, folder: str | Path | None) -> None:
        root = Path(folder) if folder else None
        paths = sorted(p for p in root.rglob("*") if p.is_file()) if root and root.is_dir() else []
        names = {p.relative_to(root).as_posix(): p for p in paths} if root else {}
        self.paths = names
        self.stamps = {name: stamp(path) for name, path in names.items()}
        self.versions: dict[str, str] = {}
        self.stylesheets: dict[str, bytes] = {}  # served from here: exactly what was hashed
        for name, path in names.items():  # stylesheets last: they need the others' versions
            if not name.endswith(".css"):
                self.versions[name] = digest(path.read_bytes())
        for name, path in names.items():
            if name.endswith(".css"):
                self.stylesheets[name] = self.rewrite(name, path.read_text(encoding="utf-8")).encode()
                self.versions[name] = digest(self.stylesheets[name])

    def rewrite(self, name: str, css: str) -> str:
        """`url(fonts/a.woff2)` -> `url(fonts/a.woff2?v=...)` for each file it names beside `name`."""

        def versioned(match: re.Match[str]) -> str:
            target = posixpath.normpath(posixpath.join(posixpath.dirname(name), match["ref"].strip()))
            version = self.versions.get(target)
            if version is None:  # not one of our files (or a stylesheet): left as it is
                return match[0]
            return f"url({match['quote']}{match['ref'].strip()}?v={version}{match['quote']})"

        return CSS_URL.sub(versioned, css)

    def is_current(self, filename: str | None, version: str | None) -> bool:
        """Whether `version` is the hash of `filename` as this process serves it."""
        if filename is None or version is None or self.versions.get(filename) != version:
            return False
        if filename in self.stylesheets:
            return True
        try:
            return stamp(self.paths[filename]) == self.stamps[filename]
        except OSError:
            return False


def static_files() -> StaticFiles:
    files: StaticFiles = current_app.extensions["static_files"]
    return files


def init_assets(app: Flask) -> None:
    """Hash the static folder, add `v` to every static URL the app builds, serve rewritten stylesheets;
    the templates' url_for keeps the links that never change."""
    files = StaticFiles(app.static_folder)
    app.extensions["static_files"] = files

    @app.url_defaults
    def add_version(endpoint: str, values: dict[str, Any]) -> None:
        if endpoint == "static" and "v" not in values:
            version = files.versions.get(values.get("filename", ""))
            if version:
                values["v"] = version

    def static(filename: str) -> Response:
        stylesheet = files.stylesheets.get(filename)
        if stylesheet is None:
            return app.send_static_file(filename)  # Flask's own static view
        return send_file(io.BytesIO(stylesheet), mimetype="text/css", etag=files.versions[filename], conditional=True)

    app.view_functions["static"] = static
    @functools.lru_cache(maxsize=1024)  # a bound, whatever names and roots come
    def constant_url(script_root: str, endpoint: str, filename: str | None) -> str:
        """Built in the request whose script root is the key's (the rest of the URL is the app's own)."""
        values: dict[str, Any] = {} if filename is None else {"filename": filename}
        return app.url_for(endpoint, **values)

    def template_url_for(endpoint: str, **values: Any) -> str:
        """The templates' url_for: Flask's, but a link without arguments, or to a static file (its hash
        included), is built once per script root rather than on every page: it never changes."""
        constant = not values or (endpoint == "static" and values.keys() == {"filename"})
        if not constant or endpoint.startswith(".") or not has_request_context():
            return app.url_for(endpoint, **values)
        return constant_url(request.script_root, endpoint, values.get("filename"))

    app.jinja_env.globals["url_for"] = template_url_for
