"""Issue 17: the release. What `make dist` builds, seen the way PyPI and a host app see it.

The sdist and the wheel are built the way `make dist` builds them (`python -m build --no-isolation`:
the dev lock's setuptools) from a copy of the checkout as a fresh clone holds it, and both pass
`twine check --strict`. The wheel holds `py.typed`, every template of the package and the LICENSE.
Then it goes into a fresh venv WITHOUT extras, its dependencies held to the deploy lock's pins and
hashes (`uv pip install <wheel> -c requirements.txt`): redis, prometheus_client and ua_parser are not
there, the package imports all the same, and examples/existing_app.py, served by that venv's own
`flask run`, signs in against the local provider (which runs from the test venv) with the file store.

All of it is slow: it builds, installs (from PyPI, unless uv's cache holds the pinned wheels already)
and starts servers.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import venv
import zipfile
from email.message import Message
from email.parser import Parser
from fnmatch import fnmatch
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from ..helpers import ROOT, free_port, wait_http
from ..servers import TIMEOUT, Browser
from .test_packaging import OPTIONAL, PACKAGE, package_version, parse_lock

EXAMPLE = ROOT / "examples" / "existing_app.py"
DEPLOY_LOCK = ROOT / "requirements.txt"
# The optional parts' import names (test_packaging.OPTIONAL has their distributions).
OPTIONAL_MODULES = ("redis", "prometheus_client", "ua_parser")


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without what points Python elsewhere (PYTHONPATH, VIRTUAL_ENV, ...) or sets the
    example's settings (FLASK_*)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "FLASK_")) and k not in {"VIRTUAL_ENV", "CONDA_PREFIX"}}
    return {**env, **extra}


def run(argv: list[str | Path], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in argv], cwd=cwd, env=clean_env(), capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, f"{' '.join(map(str, argv))}\n{result.stdout}\n{result.stderr}"
    return result


def checkout_copy(destination: Path) -> Path:
    """The checkout as a fresh clone holds it: what .gitignore names (build/, dist/, *.egg-info, .venv, ...)
    and .git left out, so nothing generated earlier finds its way into the build."""
    patterns = [".git"] + [line.strip().rstrip("/") for line in (ROOT / ".gitignore").read_text().splitlines()
                           if line.strip() and not line.lstrip().startswith(("#", "!"))]

    def ignore(directory: str, names: list[str]) -> set[str]:
        here = Path(directory).relative_to(ROOT)
        return {name for name in names
                if any(fnmatch(name, pattern) or fnmatch((here / name).as_posix(), pattern) for pattern in patterns)}

    shutil.copytree(ROOT, destination, ignore=ignore, symlinks=True)
    return destination


def templates() -> list[str]:
    """Every template of the package, wherever its templates folder lies."""
    return sorted(path.relative_to(ROOT).as_posix() for path in ROOT.glob(f"{PACKAGE}/**/templates/**/*.html"))


def wheel_metadata(wheel: Path) -> tuple[set[str], str, Message]:
    """(names in the wheel, its .dist-info folder, its METADATA)."""
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (metadata,) = [name for name in names if name.endswith(".dist-info/METADATA")]
        return names, metadata.rsplit("/", 1)[0], Parser().parsestr(archive.read(metadata).decode())


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> dict[str, Path]:
    """`make dist`'s build, into a temporary folder: {"sdist": ..., "wheel": ...}."""
    work = tmp_path_factory.mktemp("dist")
    source = checkout_copy(work / "src")
    out = work / "dist"
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", out, source], cwd=source)
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return {"sdist": sdist, "wheel": wheel}


@pytest.fixture(scope="module")
def fresh_python(dist, tmp_path_factory) -> Path:
    """A new venv holding the wheel without extras, every dependency at the deploy lock's pin, its hashes checked
    (uv checks the hashes a constraints file gives); its python."""
    where = tmp_path_factory.mktemp("fresh")
    venv.EnvBuilder(with_pip=False).create(where / "venv")
    python = where / "venv" / "bin" / "python"
    run([sys.executable, "-m", "uv", "pip", "install", "--python", python, "--constraint", DEPLOY_LOCK, "--no-build",
         dist["wheel"]], cwd=where, timeout=600)
    return python


def test_make_dist_builds_and_checks_as_this_test_does():
    """The Makefile's `dist` is the build above (same command, same backend) plus twine; `clean` removes it all."""
    makefile = (ROOT / "Makefile").read_text()
    recipes = {m.group(1): m.group(2) for m in re.finditer(r"^([\w.-]+):[^\n]*\n((?:\t[^\n]*\n)*)", makefile, re.M)}
    assert "-m build --no-isolation --outdir dist ." in recipes.get("dist", ""), recipes.get("dist")
    assert "twine check --strict dist/*" in recipes["dist"]
    assert {"dist", "build", "*.egg-info"} <= set(recipes.get("clean", "").split())
    ignored = set((ROOT / ".gitignore").read_text().split())
    assert {"dist/", "build/", "*.egg-info/"} <= ignored


@pytest.mark.slow
def test_sdist_and_wheel_pass_twine_check_strict(dist):
    result = run([sys.executable, "-m", "twine", "--no-color", "check", "--strict", dist["sdist"], dist["wheel"]],
                 cwd=dist["wheel"].parent)
    assert result.stdout.count("PASSED") == 2, result.stdout


@pytest.mark.slow
def test_wheel_holds_types_templates_and_licence(dist):
    names, info, metadata = wheel_metadata(dist["wheel"])
    assert f"{PACKAGE}/__init__.py" in names and f"{PACKAGE}/py.typed" in names
    expected = templates()
    assert expected, f"no template under {PACKAGE}/**/templates/ in the checkout"
    assert not [t for t in expected if t not in names], f"templates missing from the wheel: {expected}"
    licences = [n for n in (f"{info}/licenses/LICENSE", f"{info}/LICENSE") if n in names]
    assert licences, f"no LICENSE in {info}"
    with zipfile.ZipFile(dist["wheel"]) as archive:
        assert archive.read(licences[0]) == (ROOT / "LICENSE").read_bytes()

    assert metadata["Version"] == package_version()
    assert metadata["License-Expression"] == "MIT"
    assert not [c for c in metadata.get_all("Classifier") or [] if c.startswith("License ::")], \
        "PEP 639: a License-Expression and no licence classifier"
    requires = [Requirement(text) for text in metadata.get_all("Requires-Dist") or []]
    base = {canonicalize_name(r.name) for r in requires if not r.marker or "extra" not in str(r.marker)}
    assert not base & set(OPTIONAL.values()), f"optional parts among the base dependencies: {base}"
    for extra, package in OPTIONAL.items():
        assert extra in (metadata.get_all("Provides-Extra") or [])
        assert any(canonicalize_name(r.name) == package and r.marker and r.marker.evaluate({"extra": extra})
                   for r in requires), f"the extra {extra} does not bring {package}"


@pytest.mark.slow
def test_sdist_holds_the_licence_and_no_tests(dist):
    with tarfile.open(dist["sdist"]) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"LICENSE", "README.md", "pyproject.toml", f"{PACKAGE}/py.typed", *templates()} <= names
    assert not [n for n in names if n.startswith("tests/")], "tests/ ships without what runs it"


@pytest.mark.slow
def test_wheel_installs_without_extras_at_the_lock_pins(fresh_python, tmp_path):
    """Only the base dependencies, each at the deploy lock's version; no redis, prometheus_client, ua_parser."""
    listing = run([fresh_python, "-I", "-c", "import importlib.metadata as m\n"
                   "for d in m.distributions(): print(d.metadata['Name'], d.version)"], cwd=tmp_path).stdout
    installed = {canonicalize_name(name): version for name, version in (line.split() for line in listing.splitlines())}
    assert installed.pop("flask-google-signin") == package_version()
    pins, _ = parse_lock(DEPLOY_LOCK.read_text())
    assert {name: str(pins.get(name)) for name in installed} == installed, "a dependency off the deploy lock's pin"
    assert not set(installed) & set(OPTIONAL.values()), f"an extra's package came without its extra: {installed}"

    probe = f"import importlib.util as u; print(*[u.find_spec(m) is not None for m in {OPTIONAL_MODULES!r}])"
    assert run([fresh_python, "-I", "-c", probe], cwd=tmp_path).stdout.split() == ["False"] * len(OPTIONAL_MODULES)


@pytest.mark.slow
def test_package_imports_without_its_extras(fresh_python, tmp_path):
    """A host app that uses none of the optional parts imports the extension without them."""
    result = subprocess.run([str(fresh_python), "-I", "-c", "import flask_google_signin as p; print(p.__file__)"],
                            cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"`import flask_google_signin` without the extras:\n{result.stderr}"
    assert Path(result.stdout.strip()).is_relative_to(fresh_python.parent.parent), result.stdout


class ExampleFromWheel:
    """examples/existing_app.py under `flask run`, by the fresh venv's python, from outside the checkout."""

    def __init__(self, python: Path, provider_metadata_url: str, directory: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.sessions = directory / "sessions"
        self.log_path = directory / "example.log"
        env = clean_env(FLASK_SECRET_KEY="dist-example-secret", FLASK_GOOGLE_CLIENT_ID="dist-example-client",
                        FLASK_GOOGLE_CLIENT_SECRET="dist-example-secret",
                        FLASK_GOOGLE_SERVER_METADATA_URL=provider_metadata_url, FLASK_SESSION_TYPE="cachelib",
                        FLASK_GOOGLE_SIGNIN_SESSION_CACHELIB_DIR=str(self.sessions),
                        FLASK_GOOGLE_SIGNIN_COOKIE_SECURE="false", FLASK_GOOGLE_SIGNIN_LOGIN_RATE_LIMIT="1000/second")
        argv = [str(python), "-I", "-m", "flask", "--app", str(EXAMPLE), "run", "--host", "127.0.0.1",
                "--port", str(self.port)]
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(argv, cwd=directory, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_http(self.url + "/", self.process)
        except RuntimeError:
            self.stop()
            raise RuntimeError(f"the example did not start from the wheel:\n{self.log_path.read_text()}") from None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@pytest.mark.slow
def test_example_signs_in_from_the_wheel(fresh_python, local_provider, tmp_path):
    """/members -> /login -> the provider -> /callback -> /members signed in, sessions in files; then sign-out."""
    server = ExampleFromWheel(fresh_python, local_provider.metadata_url, tmp_path)
    try:
        user = Browser()
        members = user.get(f"{server.url}/members")
        assert members.status_code == 302 and members.headers["Location"] == "/login?next=/members"
        start = user.get(server.url + members.headers["Location"])
        assert start.status_code == 302 and start.headers["Location"].startswith(local_provider.url), start.text[:500]
        answer = requests.post(start.headers["Location"], data={"sub": "alice"}, allow_redirects=False,
                               timeout=TIMEOUT)
        assert answer.status_code == 302, answer.text[:500]
        back = urlsplit(answer.headers["Location"])
        assert back.path == "/callback"
        landed = user.callback(back)
        assert landed.status_code == 302 and landed.headers["Location"] == "/members", landed.text[:500]

        page = user.get(f"{server.url}/members")
        assert page.status_code == 200
        assert "alice@example.com" in page.text and "Welcome, Alice Example." in page.text
        assert any(server.sessions.iterdir()), "no session in the file store"

        out = user.logout(server.url)
        assert out.status_code == 303 and out.headers["Location"] == "/"
        assert "You have been signed out." in user.get(f"{server.url}/").text
        assert user.get(f"{server.url}/members").status_code == 302
    finally:
        server.stop()
    assert "Traceback" not in server.log_path.read_text(), server.log_path.read_text()
