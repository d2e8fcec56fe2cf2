"""Starting the servers the project runs beside the app: one module for `make run`, the tests and bench/.

The local OpenID provider (oidc-provider-mock), gunicorn with the Docker image's command, and a
private redis-server, each on a free port of 127.0.0.1, each waited for until it answers.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
USERS = [
    {"sub": "alice", "email": "alice@example.com", "email_verified": True, "name": "Alice Example",
     "given_name": "Alice", "family_name": "Example", "locale": "en", "hd": "example.com"},
    {"sub": "bob", "email": "bob@example.org", "email_verified": True, "name": "Bob Builder",
     "given_name": "Bob", "family_name": "Builder", "locale": "en-GB"},
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, process: subprocess.Popen | None = None, seconds: float = 30) -> None:
    """Until `url` answers; RuntimeError if `process` dies first or time runs out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the process meant to answer at {url} exited with {process.returncode}"
                               " (is the port taken?)")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - loopback only
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answered at {url} within {seconds:.0f} s")


def stop(process: subprocess.Popen | None, seconds: float = 20) -> None:
    """SIGTERM, then SIGKILL if it does not go in time."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def provider_command(port: int, users: list[dict] = USERS) -> list[str]:
    args = [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(port)]
    for user in users:
        args += ["--user-claims", json.dumps(user)]
    return args


def provider_env(env: dict[str, str]) -> dict[str, str]:
    """uvicorn, under the provider, reads WEB_CONCURRENCY too, and cannot run several workers."""
    return {**{k: v for k, v in env.items() if k != "WEB_CONCURRENCY"}, "NO_COLOR": "1"}


class Provider:
    """oidc-provider-mock on 127.0.0.1; with a log file, its access log counts the calls made to it."""

    def __init__(self, port: int | None = None, *extra: str, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.metadata_url = f"{self.url}/.well-known/openid-configuration"
        self.extra = extra
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        log: IO[str] | int = open(self.log_path, "a") if self.log_path else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen([*provider_command(self.port), *self.extra], cwd=ROOT,
                                            env=provider_env(dict(os.environ)), stdout=log, stderr=log)
        finally:
            if not isinstance(log, int):
                log.close()
        wait_http(self.metadata_url, self.process)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.resume()
            stop(self.process, 10)

    def pause(self) -> None:
        """SIGSTOP: the port still accepts connections but nothing answers (a hung provider)."""
        assert self.process
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process
        os.kill(self.process.pid, signal.SIGCONT)

    def calls(self) -> list[str]:
        """Requests served so far, as "METHOD /path" (uvicorn's access log; needs `log_path`)."""
        assert self.log_path, "start the provider with a log_path to count its calls"
        text = self.log_path.read_text()
        return [f"{m} {p}" for m, p in re.findall(r'"(GET|POST|PUT) ([^ ?"]+)[^"]*" \d{3}', text)]

    def revoke(self, sub: str) -> None:
        """The mock's admin endpoint: every access and refresh token of `sub` stops working."""
        request = urllib.request.Request(f"{self.url}/users/{sub}/revoke-tokens", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=15):  # noqa: S310 - loopback only
            pass


def docker_cmd() -> list[str]:
    """The Dockerfile's CMD: tests and bench/ boot exactly this command."""
    text = (ROOT / "Dockerfile").read_text()
    match = re.search(r"^CMD\s+(\[.*\])\s*$", text, re.MULTILINE)
    assert match, "Dockerfile has no exec-form CMD"
    return list(json.loads(match.group(1)))


class Gunicorn:
    """The Dockerfile's command (or the same with another WSGI module), run from the repo root with
    this interpreter's gunicorn; its output goes to `log_path`."""

    def __init__(self, env: dict[str, str], log_path: Path, module: str | None = None,
                 ready_path: str = "/healthz") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = docker_cmd()
        if module:
            argv[-1] = module
        executable = shutil.which(argv[0], path=str(Path(sys.executable).parent)) or argv[0]
        self.argv = [executable, *argv[1:]]
        self.env = {"WEB_CONCURRENCY": "2", **env, "HOST": "127.0.0.1", "PORT": str(self.port)}
        self.log_path = log_path
        self.log = open(log_path, "w")
        self.process = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_http(f"{self.url}{ready_path}", self.process)
        except RuntimeError:
            self.stop()
            raise RuntimeError(f"gunicorn did not start: {' '.join(self.argv)}\n{log_path.read_text()}") from None

    def logs(self) -> str:
        self.log.flush()
        return self.log_path.read_text()

    def stop(self) -> None:
        stop(self.process)
        self.log.close()


class RedisServer:
    """A private redis-server on a free loopback port; stop() and start() it to fake an outage."""

    def __init__(self, directory: Path, *extra: str) -> None:
        self.extra = extra
        self.binary = shutil.which("redis-server") or "redis-server"
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.directory = directory
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory), *self.extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        stop(self.process, 10)
