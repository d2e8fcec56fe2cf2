"""Workspace groups in `make run`'s local mode: a stand-in for the Cloud Identity Groups API, and for the
token endpoint of the service account that asks it, answering membership from scripts/local_groups.json.

`make run` writes a service-account key file made for the stand-in (a fresh RSA key; its `token_uri`
the stand-in's), and points GOOGLE_SIGNIN_GROUPS_CREDENTIALS and GOOGLE_SIGNIN_CLOUD_IDENTITY_URL at
them, and ADMIN_GROUP at a group of the file: `/admin` opens for alice, and refuses bob. The admin and
profile pages label the groups as samples, because the API's URL is not Google's. The extension talks to
it exactly as to Google: the same calls, the same token request (a JWT assertion signed with the key).
"""

from __future__ import annotations

import json
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from local_calendar import JSONHandler  # scripts/, beside this file

MEMBERS = Path(__file__).with_name("local_groups.json")  # group email -> member emails (a nested group too)
ADMIN_GROUP = "admins@example.com"
TOKEN = "local-groups-token"  # noqa: S105  (a stand-in's, on loopback) what the token endpoint gives


class SampleGroups(ThreadingHTTPServer):
    """The API under /v1 and the token endpoint at /token, on 127.0.0.1, in a thread of this process."""

    daemon_threads = True

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.groups: dict[str, list[str]] = json.loads(MEMBERS.read_text())
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def key_file(self, folder: Path) -> Path:
        """A service account's JSON key, as the console gives one, whose tokens come from this stand-in."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
        path = folder / "local-groups-service-account.json"
        path.write_text(json.dumps({"type": "service_account", "project_id": "local", "private_key_id": "local",
                                    "private_key": pem, "client_email": "groups-reader@local.iam.gserviceaccount.com",
                                    "client_id": "1", "token_uri": f"{self.url}/token"}))
        path.chmod(0o600)
        return path

    def member(self, group: str, email: str, nested: bool) -> bool:
        members = self.groups.get(group, [])
        return email in members or (nested and any(self.member(inner, email, True) for inner in members
                                                   if inner in self.groups))


class _Handler(JSONHandler):
    server: SampleGroups

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))  # the assertion: the stand-in trusts it
        if self.path != "/token":
            return self._error(404, "NOT_FOUND")
        return self._answer(200, {"access_token": TOKEN, "expires_in": 3599, "token_type": "Bearer"})

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._error(401, "UNAUTHENTICATED")
        query = {name: values[0] for name, values in parse_qs(url.query).items()}
        names = sorted(self.server.groups)
        if url.path == "/v1/groups:lookup":
            group = query.get("groupKey.id", "")
            return self._answer(200, {"name": f"groups/{names.index(group)}"}) if group in names else \
                self._error(404, "NOT_FOUND")
        parts = url.path.removeprefix("/v1/groups/").split("/memberships:")
        if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) >= len(names):
            return self._error(404, "NOT_FOUND")
        group = names[int(parts[0])]
        if parts[1] == "lookup":
            email = query.get("memberKey.id", "")
            if self.server.member(group, email, nested=False):
                return self._answer(200, {"name": f"groups/{parts[0]}/memberships/{email}"})
            return self._error(404, "NOT_FOUND")
        if parts[1] == "checkTransitiveMembership":
            email = unquote(query.get("query", "")).removeprefix("member_key_id == '").removesuffix("'")
            return self._answer(200, {"hasMembership": True} if self.server.member(group, email, nested=True) else {})
        return self._error(404, "NOT_FOUND")

    def _error(self, code: int, status: str) -> None:
        self._answer(code, {"error": {"code": code, "status": status}})
