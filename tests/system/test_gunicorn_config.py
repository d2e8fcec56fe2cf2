"""The Dockerfile's command (gunicorn with gunicorn.conf.py) stops at start-up on a missing secret or a
malformed setting, its own or the app's, from the environment or from .env: one `error:` line, exit
status 4, no traceback and no worker booted.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ..helpers import ROOT, server_env


@pytest.mark.slow  # starts a server
def test_gunicorn_stops_with_one_line(tmp_path):
    """The Dockerfile's command, without SECRET_KEY: one error line from the master, no worker loop."""
    from ..helpers import docker_cmd

    argv = docker_cmd()
    env = server_env(GOOGLE_CLIENT_ID="id", GOOGLE_CLIENT_SECRET="secret", PORT="0", HOST="127.0.0.1")
    env.pop("SECRET_KEY")
    gunicorn = str(Path(sys.executable).parent / argv[0])
    result = subprocess.run([gunicorn, *argv[1:]], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    output = result.stdout + result.stderr
    assert result.returncode == 4
    assert output.count("SECRET_KEY is not set") == 1
    assert "Traceback" not in output and "Booting worker" not in output


def run_gunicorn(env_file: str = "", **settings: str) -> subprocess.CompletedProcess:
    """The Dockerfile's command with a complete configuration plus `settings`; it should stop at start-up."""
    from ..helpers import docker_cmd

    argv = docker_cmd()
    env = server_env(GOOGLE_CLIENT_ID="id", GOOGLE_CLIENT_SECRET="secret", PORT="0", HOST="127.0.0.1",
                     ENV_FILE=env_file, **settings)
    gunicorn = str(Path(sys.executable).parent / argv[0])
    return subprocess.run([gunicorn, *argv[1:]], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)


@pytest.mark.slow  # starts a server
# gunicorn itself reads WEB_CONCURRENCY from the process environment before it reads gunicorn.conf.py,
# and stops on a non-number or a negative one with its own line; from .env the value reaches us.
@pytest.mark.parametrize(("name", "value", "where"), [
    ("WEB_CONCURRENCY", "0", "environment"), ("WEB_CONCURRENCY", "-1", ".env"), ("WEB_CONCURRENCY", "many", ".env"),
    ("GUNICORN_THREADS", "0", "environment"), ("GUNICORN_THREADS", "-1", "environment"),
    ("GUNICORN_THREADS", "four", "environment"), ("GUNICORN_THREADS", "0", ".env"),
    ("GRACEFUL_TIMEOUT", "soon", "environment"), ("LOG_LEVEL", "loud", "environment"),
    ("REDIS_TIMEOUT", "inf", ".env"),
])
def test_gunicorn_names_a_malformed_setting_with_one_line(tmp_path, name, value, where):
    """gunicorn's own numbers and the app's settings alike: one `error:` line, exit 4, no worker booted."""
    if where == ".env":
        env_file = tmp_path / "bad.env"
        env_file.write_text(f"{name}={value}\n")
        result = run_gunicorn(env_file=str(env_file))
    else:
        result = run_gunicorn(**{name: value})
    output = result.stdout + result.stderr
    assert result.returncode == 4, output
    (error,) = [line for line in output.splitlines() if "error" in line.lower()]
    assert error.startswith(f"error: {name} is invalid: "), output
    assert "Traceback" not in output and "Booting worker" not in output, output
