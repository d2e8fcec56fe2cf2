"""The package's shape: layers that import only from below, no import cycle, no import hidden in a
function, and one direction of knowledge (the extension knows nothing of the reference app; the app
uses only the package's top-level names)."""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import pytest
from flask import Flask

import flask_google_signin
from flask_google_signin import GoogleSignIn
from flask_google_signin.settings import SETTINGS

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "flask_google_signin"

# Bottom to top. A module may import from its own layer or any layer below, never from above.
LAYERS = [
    ("settings", "errors", "signals", "metrics"),
    ("store",),
    ("sessions",),
    ("oidc",),
    ("accounts",),
    ("web",),
    ("extension",),
    ("__init__", "testing"),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> int:
    parts = module.split(".")
    first = parts[1] if len(parts) > 1 else "__init__"
    return next(number for number, names in enumerate(LAYERS) if first in names)


def imported(module: str, path: Path, node: ast.Import | ast.ImportFrom, known: set[str]) -> set[str]:
    """The package's modules that one import statement loads."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in known}
    base = node.module or ""
    if node.level:
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}" if base else package
    submodules = {f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in known}
    attributes = [alias.name for alias in node.names if f"{base}.{alias.name}" not in known]
    return submodules | ({base} if base in known and attributes else set())


@functools.cache
def import_graph() -> tuple[dict[str, set[str]], list[str]]:
    """Module-level imports between the package's modules, and every import made inside a function."""
    known = set(modules())
    graph: dict[str, set[str]] = {}
    inside_functions: list[str] = []
    for module, path in modules().items():
        tree = ast.parse(path.read_text(), str(path))
        graph[module] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Import | ast.ImportFrom) and imported(module, path, inner, known):
                        inside_functions.append(f"{module}:{inner.lineno}")
        for node in tree.body:
            statements = [node]
            if isinstance(node, ast.Try | ast.If):  # an optional dependency's guarded import
                statements = [n for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom)]
            for statement in statements:
                if isinstance(statement, ast.Import | ast.ImportFrom):
                    graph[module] |= imported(module, path, statement, known) - {module}
    return graph, inside_functions


def test_every_module_has_a_layer():
    for module in modules():
        layer(module)  # StopIteration names a module no layer holds


def test_no_module_imports_another_inside_a_function():
    _, inside = import_graph()
    assert inside == [], f"imports inside functions: {inside}"


def test_the_import_graph_has_no_cycle():
    graph, _ = import_graph()
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                pytest.fail(f"import cycle: {' -> '.join([*path[path.index(target):], target])}")
            if target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_each_module_imports_only_from_its_layer_or_below():
    graph, _ = import_graph()
    upward = [f"{module} -> {target}" for module, targets in graph.items() for target in targets
              if layer(target) > layer(module)]
    assert upward == []


def test_the_detector_sees_what_it_must():
    """The graph is built from the source: a known edge and the package's own re-exports are in it."""
    graph, _ = import_graph()
    assert "flask_google_signin.store.vault" in graph["flask_google_signin.store"]
    assert "flask_google_signin.sessions.interface" in graph["flask_google_signin.web.guard"]
    assert "flask_google_signin.extension" in graph["flask_google_signin"]


# --------------------------------------------------------------------------- one direction of knowledge


def app_sources() -> list[Path]:
    return [*sorted((ROOT / "app").rglob("*.py")), ROOT / "wsgi.py"]


def test_the_app_uses_only_the_packages_top_level_names():
    public = set(flask_google_signin.__all__)
    wrong = []
    for path in app_sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                wrong += [f"{path.name}: import {a.name}" for a in node.names
                          if a.name.startswith("flask_google_signin")]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("flask_google_signin"):
                if node.module != "flask_google_signin":
                    wrong.append(f"{path.name}: from {node.module}")
                wrong += [f"{path.name}: {a.name}" for a in node.names if a.name not in public]
    assert wrong == []


def extension_routes() -> set[str]:
    """The paths a bare host gains from GoogleSignIn(app) with every part on, variable parts cut off."""
    app = Flask(__name__)
    app.config.update(SECRET_KEY="k", GOOGLE_CLIENT_ID="id", GOOGLE_CLIENT_SECRET="s", GOOGLE_SIGNIN_SESSIONS_PAGE=True,
                      GOOGLE_SIGNIN_RISC=True, GOOGLE_SIGNIN_ONE_TAP=True)
    app.instance_path = str(ROOT / "instance")
    GoogleSignIn(app)
    return {rule.rule.split("<")[0].rstrip("/") or "/" for rule in app.url_map.iter_rules()}


@functools.cache
def package_strings() -> list[tuple[str, str]]:
    """Every string literal in the package (docstrings included), with where it is."""
    found = []
    for module, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.append((f"{module}:{node.lineno}", node.value))
    return found


# A path on this site: `/word`, not part of a URL or a file path (no scheme, host or word before it).
SITE_PATH = re.compile(r"(?<![\w./:{}<>-])/[a-z][a-z0-9_-]*(?:/[a-z0-9_-]+)*")


def test_no_string_names_a_route_the_extension_does_not_register():
    routes = extension_routes()
    foreign = [(where, path) for where, text in package_strings() for path in SITE_PATH.findall(text)
               if path not in routes]
    assert foreign == [], f"paths the extension does not serve: {foreign}"


# Upper-case names with an underscore that are not config keys: environment variables of other
# programs, and protocol or library constants.
NOT_CONFIG_KEYS = {
    "PROMETHEUS_MULTIPROC_DIR",  # prometheus_client's environment variable, read by prometheus_client
    "GOOGLE_APPLICATION_CREDENTIALS",  # Google's environment variable for a key file (`flask risc`)
}
CONFIG_KEY = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b")
# config["X"], config.get("X"), config.setdefault("X"), and config.update(X=...)'s keywords
READS = re.compile(r"""config(?:\.get\(|\.setdefault\(|\[)\s*["']([A-Z0-9_]+)["']|^\s+([A-Z][A-Z0-9_]+)=""", re.M)


def test_no_string_names_a_config_key_the_extension_does_not_read():
    read = set(flask_google_signin.SETTING_NAMES) | set(SETTINGS)  # config keys, and the names the code uses
    for path in modules().values():
        read |= {name for pair in READS.findall(path.read_text()) for name in pair if name}
    assert "SESSION_COOKIE_NAME" in read and "GOOGLE_SIGNIN_IDLE_TIMEOUT" in read  # the scan finds what it must
    constants = {name for path in modules().values() for name in re.findall(r"^ *([A-Z][A-Z0-9_]+) *[:=]",
                                                                              path.read_text(), re.M)}
    foreign = [(where, key) for where, text in package_strings() for key in CONFIG_KEY.findall(text)
               if key not in read | NOT_CONFIG_KEYS | constants]
    assert foreign == [], f"config keys the extension does not read: {foreign}"
