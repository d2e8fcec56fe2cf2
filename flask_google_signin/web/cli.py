"""`flask risc`: register the /risc receiver with Google's RISC API, and test it.

    flask risc register --url https://your.host/risc [--key-file sa.json]   stream:update, push delivery
    flask risc verify [--state TEXT]                                       stream:verify: Google posts a test event
    flask risc status                                                      the stream's configuration and status

Each call carries a JWT that the service account signs itself (RS256 with the private key of its
JSON key file, `aud` the RISC management service, valid one hour), as Google's "Protect user
accounts with Cross-Account Protection" describes. The key file is `--key-file`, else
GOOGLE_APPLICATION_CREDENTIALS; its service account needs the role RISC Configuration Admin
(roles/riscconfigs.admin) in the project of the OAuth client.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import requests
from flask import current_app, url_for
from flask.cli import AppGroup
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from ..accounts.risc import EVENT_TYPES
from ..settings import settings

RISC_API = "https://risc.googleapis.com/v1beta"
AUDIENCE = "https://risc.googleapis.com/google.identity.risc.v1beta.RiscManagementService"
PUSH = "https://schemas.openid.net/secevent/risc/delivery-method/push"
TOKEN_LIFETIME = 3600  # Google: the authorization token expires exactly one hour after it is issued
API_TIMEOUT = 30  # seconds per RISC API call

cli = AppGroup("risc", help="Cross-Account Protection (RISC): register and test this app's /risc receiver.")

key_file_option = click.option(
    "--key-file", envvar="GOOGLE_APPLICATION_CREDENTIALS", required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The service account's JSON key file (default: $GOOGLE_APPLICATION_CREDENTIALS).")


@cli.command()
@click.option("--url", help="The receiver's public https URL, e.g. https://your.host/risc "
                            "(default: PUBLIC_BASE_URL + /risc).")
@key_file_option
def register(url: str | None, key_file: Path) -> None:
    """Register (or update) the stream: push delivery to URL, every event type the receiver handles."""
    base = settings().get("PUBLIC_BASE_URL") or ""
    with current_app.test_request_context():  # the receiver's path, under the app's url_prefix if any
        path = url_for("google_signin_risc.receive")
    url = url or (base.rstrip("/") + path if base else None)
    if not url:
        raise click.UsageError("give --url https://your.host/risc (or set PUBLIC_BASE_URL)")
    if urlsplit(url).scheme != "https" or not urlsplit(url).hostname:
        raise click.BadParameter("Google delivers only to an https URL", param_hint="--url")
    body = {"delivery": {"delivery_method": PUSH, "url": url}, "events_requested": list(EVENT_TYPES)}
    call("POST", "stream:update", key_file, body)
    click.echo(f"Registered {url} for {len(EVENT_TYPES)} event types. Test it with: flask risc verify")


@cli.command()
@click.option("--state", help="Text Google echoes in the verification event (default: the time now).")
@key_file_option
def verify(state: str | None, key_file: Path) -> None:
    """Ask Google to post a verification event to the registered receiver."""
    state = state or f"flask risc verify {datetime.now(UTC).isoformat(timespec='seconds')}"
    call("POST", "stream:verify", key_file, {"state": state})
    click.echo(f"Google will post a verification event with state {state!r}; the receiver logs it "
               "(event=risc_event reason=verification).")


@cli.command()
@key_file_option
def status(key_file: Path) -> None:
    """Show the stream's configuration and status, as Google has them."""
    click.echo(json.dumps({"stream": call("GET", "stream", key_file),
                           "status": call("GET", "stream/status", key_file)}, indent=2))


def bearer_token(key_file: Path) -> str:
    """A JWT the service account signs itself: iss = sub = its email, aud = the RISC management service."""
    try:
        account = json.loads(key_file.read_text())
        email, pem, key_id = account["client_email"], account["private_key"], account["private_key_id"]
        if not all(isinstance(value, str) for value in (email, pem, key_id)):
            raise TypeError
        key = RSAKey.import_key(pem)
    except (OSError, ValueError, KeyError, TypeError, JoseError) as exc:
        raise click.ClickException(f"{key_file} is not a service account's JSON key file (client_email, "
                                   f"private_key, private_key_id): {type(exc).__name__}") from None
    now = int(time.time())
    claims = {"iss": email, "sub": email, "aud": AUDIENCE, "iat": now, "exp": now + TOKEN_LIFETIME}
    return jwt.encode({"alg": "RS256", "typ": "JWT", "kid": key_id}, claims, key)


def call(method: str, path: str, key_file: Path, body: dict[str, Any] | None = None) -> Any:
    """One RISC API call; a refusal stops the command with Google's message (never the token)."""
    headers = {"Authorization": f"Bearer {bearer_token(key_file)}"}
    try:
        response = requests.request(method, f"{RISC_API}/{path}", json=body, headers=headers, timeout=API_TIMEOUT)
    except requests.RequestException as exc:
        raise click.ClickException(f"the RISC API could not be reached: {type(exc).__name__}") from None
    if not response.ok:
        raise click.ClickException(f"the RISC API refused {path} ({response.status_code}): {message(response)}")
    try:
        return response.json() if response.content else {}
    except ValueError:
        return {}


def message(response: requests.Response) -> str:
    """Google's error message (`{"error": {"message": ...}}`), else the start of the body."""
    try:
        said = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        said = response.text
    return str(said)[:500]
