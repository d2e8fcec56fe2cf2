"""An existing Flask app gets Google sign-in in a few lines (examples/existing_app.py).

The example is a developer's own small app: two pages, settings from the environment through
Flask's `from_prefixed_env` (`FLASK_SECRET_KEY` ...), `GoogleSignIn(app)`, `login_required` and
`current_user`. Its file stays at most 25 lines of code (blank lines, comments and docstrings
aside), does not lean on the reference app (`app/`), is what README shows, and signs in for real
with the test client against the fake Google (in Chromium under gunicorn:
tests/system/test_example_in_chromium.py).
"""

from __future__ import annotations

import ast
import importlib.util
import io
import os
import sys
import tokenize
from types import ModuleType

import pytest

from flask_google_signin import signed_in, signed_out

from ..helpers import CLIENT_ID, CLIENT_SECRET, ROOT, AuthActions

EXAMPLE = ROOT / "examples" / "existing_app.py"
MAX_CODE_LINES = 25
EXAMPLE_ENV_PREFIX = "FLASK_"  # the example reads its settings with app.config.from_prefixed_env()


# --------------------------------------------------------------------------- counting lines


def docstring_lines(tree: ast.AST) -> set[int]:
    """Lines of docstrings: a string standing first in a module, class or function body."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                lines.update(range(first.lineno, first.end_lineno + 1))
    return lines


def code_lines(source: str) -> list[int]:
    """The lines that hold code: blank lines, comments and docstrings aside. A line that holds
    code and a comment counts; every line of a multi-line expression or string (not a docstring) counts."""
    layout = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
    lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in layout:
            lines.update(range(token.start[0], token.end[0] + 1))
    return sorted(lines - docstring_lines(ast.parse(source)))


def test_code_line_counter_counts_code_only():
    source = '''"""Module docstring,
    on two lines."""

# a comment
import os  # a comment after code still leaves a code line

TEXT = """a string that is not a docstring:
each of its lines counts"""


class Thing:
    """Class docstring."""

    def method(self):
        """Method docstring."""
        return os.sep


def call(
    value,
):
    return value
'''
    assert code_lines(source) == [5, 7, 8, 11, 14, 16, 19, 20, 21, 22]


def test_example_is_at_most_25_lines_of_code():
    lines = code_lines(EXAMPLE.read_text())
    assert len(lines) <= MAX_CODE_LINES, f"examples/existing_app.py has {len(lines)} lines of code: {lines}"


def test_example_imports_only_flask_and_the_extension():
    """A host app's view of the extension: no import from the reference app (app/) or its helpers."""
    imported = set()
    for node in ast.walk(ast.parse(EXAMPLE.read_text())):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0] if node.level == 0 else ".")
    assert imported <= {"flask", "flask_google_signin", "os"}, imported


def test_readme_shows_the_example_as_it_is():
    """README's "Add Google sign-in to your Flask app" holds the example's code (all but its docstring)."""
    readme = (ROOT / "README.md").read_text()
    heading = "## Add Google sign-in to your Flask app\n"
    assert heading in readme
    section = readme.split(heading, 1)[1].split("\n## ", 1)[0]
    source = EXAMPLE.read_text()
    code = source[source.index("from flask import"):].rstrip("\n")
    assert f"```python\n{code}\n```" in section, "README's copy of examples/existing_app.py is out of date"
    assert "pip install ." in section
    assert f"in {len(code_lines(source))} lines of code" in section


# --------------------------------------------------------------------------- the test client


def example_env(**settings: str) -> dict[str, str]:
    """The example's settings as environment variables, under Flask's prefix."""
    return {EXAMPLE_ENV_PREFIX + name: value for name, value in settings.items()}


def load_example(monkeypatch, env: dict[str, str]) -> ModuleType:
    """A fresh import of examples/existing_app.py under `env` alone (FLASK_* of the caller removed)."""
    for name in list(os.environ):
        if name.startswith(EXAMPLE_ENV_PREFIX):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location("existing_app", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "existing_app", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def example(monkeypatch, tmp_path):
    env = example_env(SECRET_KEY="example-secret-key", GOOGLE_CLIENT_ID=CLIENT_ID, GOOGLE_CLIENT_SECRET=CLIENT_SECRET,
                      GOOGLE_SIGNIN_SESSION_CACHELIB_DIR=str(tmp_path / "sessions"),
                      GOOGLE_SIGNIN_COOKIE_SECURE="false", GOOGLE_SIGNIN_LOGIN_RATE_LIMIT="1000/second")
    return load_example(monkeypatch, env).app


def test_example_signs_in_and_out_with_signals(example, google):
    """Through the test client against the fake Google: members page, sign-in, signals, sign-out."""
    client = example.test_client()
    auth = AuthActions(client, google)
    ins, outs = [], []

    def on_signed_in(sender, user, userinfo):
        ins.append((sender, user, userinfo))

    def on_signed_out(sender, user, sub, reason):
        outs.append((sender, user, reason))

    home = client.get("/")
    assert home.status_code == 200 and 'href="/login"' in home.text and "Sign out" not in home.text
    members = client.get("/members")
    assert members.status_code == 302 and members.location == "/login?next=/members"

    with signed_in.connected_to(on_signed_in, example), signed_out.connected_to(on_signed_out, example):
        back = auth.callback(auth.start("/members"))
        assert back.status_code == 302 and back.location == "/members"
        page = client.get("/members")
        assert page.status_code == 200
        assert "ada@example.com" in page.text and "Welcome, Ada Lovelace." in page.text
        assert 'action="/logout"' in page.text and 'name="csrf_token"' in page.text
        assert [(s, u.email, i["sub"]) for s, u, i in ins] == [(example, "ada@example.com", google.sub)]
        assert outs == []

        out = auth.logout()
        assert out.status_code == 303 and out.location == "/"
        assert [(s, u.sub, reason) for s, u, reason in outs] == [(example, google.sub, "sign_out")]
        assert len(ins) == 1

    assert "You have been signed out." in client.get("/").text
    assert client.get("/members").location == "/login?next=/members"


def test_example_fails_fast_without_its_secrets(monkeypatch, tmp_path):
    from flask_google_signin import ConfigError

    env = example_env(SECRET_KEY="example-secret-key", GOOGLE_SIGNIN_SESSION_CACHELIB_DIR=str(tmp_path / "sessions"))
    with pytest.raises(ConfigError, match="GOOGLE_CLIENT_ID is not set"):
        load_example(monkeypatch, env)
