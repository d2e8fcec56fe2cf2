"""The test harness's own rules: `make test-fast` (-m "not slow") starts no server."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from .conftest import SERVER_FIXTURES  # the collection check lives there


def test_a_fast_test_cannot_open_a_listening_socket():
    with socket.socket() as sock, pytest.raises(pytest.fail.Exception, match=r"mark it @pytest\.mark\.slow"):
        sock.listen()


def test_a_fast_test_cannot_start_a_server_program():
    with pytest.raises(pytest.fail.Exception, match="a server process"):
        subprocess.Popen([sys.executable, "-m", "gunicorn", "--version"])


def test_a_fast_test_may_run_a_short_helper():
    assert subprocess.run([sys.executable, "-c", "print('ok')"], capture_output=True, text=True).stdout == "ok\n"


def test_server_fixtures_are_listed_for_the_collection_check():
    """Every fixture that starts a server is in SERVER_FIXTURES (the collection check reads it)."""
    known = {"local_provider", "gunicorn_factory", "app_server", "https_app_server", "browser", "page", "redis_server"}
    assert known <= SERVER_FIXTURES
