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
                 ready_path: str = "/healthz", workers: str | None = "2") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = docker_cmd()
        if module:
            argv[-1] = module
        executable = shutil.which(argv[0], path=str(Path(sys.executable).parent)) or argv[0]
        self.argv = [executable, *argv[1:]]
        # Two workers unless told otherwise; workers=None leaves gunicorn.conf.py's own count (bench/).
        self.env = {**({"WEB_CONCURRENCY": workers} if workers else {}), **env, "HOST": "127.0.0.1",
                    "PORT": str(self.port)}
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
    """A private redis-server on a free loopback port; stop() and start() it to fake an outage,
    kill() it to crash it. `extra` flags go after ours (a replica: "--replicaof", "127.0.0.1", port)."""

    program = "redis-server"

    def __init__(self, directory: Path, *extra: str) -> None:
        self.extra = extra
        self.binary = shutil.which(self.program) or self.program
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.directory = directory
        self.process: subprocess.Popen | None = None
        self.start()

    def command(self) -> list[str]:
        return [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(self.directory), *self.extra]

    def start(self) -> None:
        self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if self.answers():
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.program} did not start: {' '.join(self.command())}")

    def answers(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")

    def kill(self) -> None:
        """SIGKILL: gone at once, as in a crash (nothing flushed, no word to replicas or sentinels)."""
        assert self.process
        self.process.kill()
        self.process.wait(5)

    def stop(self) -> None:
        stop(self.process, 10)


class RedisSentinel(RedisServer):
    """A redis-sentinel watching the master `name` at `master_port`, with its own config file, which
    Sentinel rewrites as it learns (its peers, the replicas, a failover). `settings` are Sentinel's
    per-master ones without the name: "down-after-milliseconds 1000", ..."""

    program = "redis-sentinel"

    def __init__(self, directory: Path, name: str, master_port: int, quorum: int, *settings: str) -> None:
        self.monitor = [f"sentinel monitor {name} 127.0.0.1 {master_port} {quorum}"]
        self.monitor += [f"sentinel {key} {name} {value}" for key, _, value in (s.partition(" ") for s in settings)]
        super().__init__(directory)

    def command(self) -> list[str]:
        path = self.directory / "sentinel.conf"
        if not path.exists():  # a restart keeps what Sentinel learnt and wrote there
            lines = [f"port {self.port}", "bind 127.0.0.1", f"dir {self.directory}",
                     f"logfile {self.directory / 'sentinel.log'}", *self.monitor]
            path.write_text("\n".join(lines) + "\n")
        return [self.binary, str(path)]


def start_redis_cluster(directories: list[Path]) -> list[RedisServer]:
    """A Redis Cluster of primaries only, one per directory, slots shared out by `redis-cli --cluster create`."""
    nodes = [RedisServer(directory, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                         "--cluster-port", str(free_port()), "--cluster-node-timeout", "2000")
             for directory in directories]
    try:
        subprocess.run([shutil.which("redis-cli") or "redis-cli", "--cluster", "create",
                        *(f"127.0.0.1:{node.port}" for node in nodes), "--cluster-replicas", "0", "--cluster-yes"],
                       check=True, capture_output=True, timeout=30)
        deadline = time.monotonic() + 10
        while not all(b"cluster_state:ok" in redis_command(node.port, b"CLUSTER", b"INFO") for node in nodes):
            if time.monotonic() > deadline:
                raise RuntimeError("the Redis Cluster did not reach cluster_state:ok")
            time.sleep(0.05)
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return nodes


def redis_command(port: int, *words: bytes) -> bytes:
    """One command to a local Redis, its raw answer (small ones: for readiness checks)."""
    request = b"*%d\r\n" % len(words) + b"".join(b"$%d\r\n%s\r\n" % (len(word), word) for word in words)
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(request)
        return sock.recv(65536)
