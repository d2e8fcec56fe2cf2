"""A fake Cloud Identity Groups API and a fake service-account token endpoint, under requests-mock.

The service account's key is an RSA key the test run made, written as a JSON key file the way the Cloud
console hands it out; its token_uri is a host of the fake's own, so any other host the code called
would be an unregistered URL (requests-mock raises). The token endpoint checks the JWT assertion
as Google does: RS256 with the account's key, `iss` the account's email, `aud` Google's token
endpoint (google-auth always puts that there), the scope, and the grant type. The API answers from
`groups`: group email -> (id, direct members, nested group emails).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import requests
from joserfc import jwt
from joserfc.jwk import RSAKey

TOKEN_URI = "https://sa-token.test/token"
GOOGLE_TOKEN_AUD = "https://oauth2.googleapis.com/token"  # google-auth's assertion audience
SCOPE = "https://www.googleapis.com/auth/cloud-identity.groups.readonly"
API = "https://cloudidentity.googleapis.com/v1/"
ACCESS_TOKEN = "ya29.service-account-token"
CLIENT_EMAIL = "groups-reader@signin-test.iam.gserviceaccount.com"


class FakeCloudIdentity:
    def __init__(self, mocker, folder: Path, key: RSAKey) -> None:
        """`key`: an RSA key the test run generated (the fake Google's: making another costs a second)."""
        pem = key.as_pem(private=True).decode()
        self.public = RSAKey.import_key(key.as_pem(private=False))
        self.key_file = folder / "service-account.json"
        self.key_file.write_text(json.dumps({
            "type": "service_account", "project_id": "signin-test", "private_key_id": "key-1", "private_key": pem,
            "client_email": CLIENT_EMAIL, "client_id": "1234567890", "token_uri": TOKEN_URI,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth"}))
        self.groups: dict[str, dict] = {
            "eng@example.com": {"id": "eng01", "members": {"ada@example.com"}, "nested": set()},
            "admins@example.com": {"id": "adm01", "members": set(), "nested": set()},
            "ops@example.com": {"id": "ops01", "members": set(), "nested": {"eng@example.com"}},
        }
        self.calls: list[str] = []  # API paths asked, with their raw query
        self.token_calls = 0
        self.down = False  # every API answer 503
        self.delay = 0.0  # seconds an API answer takes (a call given less time times out, as a socket would)
        self.token_delay = 0.0  # the same, for the token endpoint
        self.transitive_allowed = True  # False: 403, as for a member outside the editions that offer it
        mocker.post(TOKEN_URI, json=self._token)
        mocker.get(re.compile(re.escape(API) + ".*"), json=self._api)

    def add(self, group: str, email: str) -> None:
        self.groups[group]["members"].add(email)

    def remove(self, group: str, email: str) -> None:
        self.groups[group]["members"].discard(email)

    def membership_calls(self) -> list[str]:
        return [call for call in self.calls if "memberships:" in call]

    def _token(self, request, context) -> dict:
        self.token_calls += 1
        self.wait(self.token_delay, request)
        form = {k: v[0] for k, v in parse_qs(request.text).items()}
        assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
        token = jwt.decode(form["assertion"], self.public, algorithms=["RS256"])  # the signature, by the account's key
        claims = token.claims
        assert token.header["alg"] == "RS256"
        assert claims["iss"] == CLIENT_EMAIL and claims["aud"] == GOOGLE_TOKEN_AUD and claims["scope"] == SCOPE
        assert "sub" not in claims  # no user impersonated: no domain-wide delegation
        assert claims["exp"] > time.time()
        return {"access_token": ACCESS_TOKEN, "expires_in": 3599, "token_type": "Bearer"}

    def _api(self, request, context) -> dict:
        parts = urlsplit(request.url)
        path, raw = parts.path.removeprefix("/v1/"), parts.query
        self.calls.append(f"{path}?{raw}")
        self.wait(self.delay, request)
        if request.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
            context.status_code = 401
            return {"error": {"code": 401, "status": "UNAUTHENTICATED"}}
        if self.down:
            context.status_code = 503
            return {"error": {"code": 503, "status": "UNAVAILABLE"}}
        query = {k: v[0] for k, v in parse_qs(raw).items()}
        by_id = {group["id"]: email for email, group in self.groups.items()}
        if path == "groups:lookup":
            group = self.groups.get(query.get("groupKey.id", ""))
            if group is None:
                context.status_code = 404
                return {"error": {"code": 404, "status": "NOT_FOUND"}}
            return {"name": f"groups/{group['id']}"}
        match = re.fullmatch(r"groups/([^/]+)/memberships:(lookup|checkTransitiveMembership)", path)
        assert match and match[1] in by_id, path
        email = by_id[match[1]]
        if match[2] == "lookup":
            if query["memberKey.id"] in self.groups[email]["members"]:
                return {"name": f"groups/{match[1]}/memberships/1"}
            context.status_code = 404
            return {"error": {"code": 404, "status": "NOT_FOUND"}}
        assert "%20%3D%3D%20" in raw  # the CEL query, URL-encoded
        member = re.fullmatch(r"member_key_id == '(.+)'", unquote(raw.partition("query=")[2]))
        assert member, raw
        if not self.transitive_allowed:
            context.status_code = 403
            return {"error": {"code": 403, "status": "PERMISSION_DENIED"}}
        return {"hasMembership": True} if self.transitive(email, member[1]) else {}  # false: left out

    @staticmethod
    def wait(delay: float, request) -> None:
        """Answer after `delay` seconds; a call that gave itself less (its timeout) times out then, as
        on a socket (requests-mock has none for the deadline's watchdog to cut)."""
        if not delay:
            return
        if request.timeout is None or request.timeout < delay:
            time.sleep(min(request.timeout or delay, delay))
            raise requests.exceptions.ReadTimeout("the fake's answer took longer than the call's timeout")
        time.sleep(delay)

    def transitive(self, group: str, email: str) -> bool:
        found = self.groups[group]
        return email in found["members"] or any(self.transitive(inner, email) for inner in found["nested"])
