"""A hostile OpenID provider that breaks one rule at a time: a real HTTP server on 127.0.0.1, or the same
WSGI app answered in process through requests-mock (`serve=False`, then `answer` is the matcher).

Modelled on the OpenID Foundation's RP certification tests (`rp-*`). By default it behaves like
a correct provider (discovery, JWKS, authorization with PKCE, token, userinfo, revocation); a test
bends one attribute and checks that the relying party refuses. `reset()` puts it back.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from typing import Any
from urllib.parse import urlencode

import requests
import requests_mock
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

DRIP_SECONDS = 12  # a dripping answer completes after this long (past any sane per-call budget)
DROP = object()  # a value that removes a key (None must stay expressible: "code_challenge_method": null)
IN_PROCESS_URL = "http://hostile-op.test"  # where the in-process provider answers (nothing resolves it)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_jws(header: dict, claims: dict, sign: Any) -> str:
    """Build a compact JWS by hand, so we can make tokens a correct library refuses to make."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64(sign(signing_input.encode()))}"


def apply(base: dict, overrides: dict) -> dict:
    merged = {**base, **overrides}
    return {k: v for k, v in merged.items() if v is not DROP}


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        """The provider's access log would only clutter the app's captured log lines."""


class HostileProvider:
    """Discovery, JWKS, authorize, token, userinfo and revoke on one loopback port."""

    def __init__(self, client_id: str, client_secret: str, serve: bool = True) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.key = RSAKey.generate_key(2048, parameters={"kid": "op-key-1", "use": "sig", "alg": "RS256"})
        self.other_key = RSAKey.generate_key(2048, parameters={"kid": "op-key-2", "use": "sig", "alg": "RS256"})
        self.ec_key = ECKey.generate_key("P-256", parameters={"kid": "op-ec-1", "use": "sig", "alg": "ES256"})
        self.release = threading.Event()
        self.server = None
        self.url = IN_PROCESS_URL
        if serve:
            self.server = make_server("127.0.0.1", 0, self.wsgi, threaded=True, request_handler=QuietHandler)
            self.url = f"http://127.0.0.1:{self.server.server_port}"
            threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.issuer = self.url
        self.metadata_url = f"{self.url}/.well-known/openid-configuration"
        self.reset()

    # -- knobs a test turns; reset() restores a well-behaved provider

    def reset(self) -> None:
        self.release.set()  # wake any handler still hanging from the previous test
        self.release = threading.Event()
        self.sub = "248289761001"
        self.published: list = [self.key]  # keys served at jwks_uri
        self.signer = "rs256"  # rs256 | none | hs256-public-key | hs256-client-secret | es256
        self.signing_key = self.key
        self.header: dict = {}  # overrides for the JOSE header (DROP removes kid, say)
        self.id_claims: dict = {}  # overrides for the ID token claims
        self.discovery: dict = {}  # overrides for the discovery document
        self.discovery_raw: str | None = None  # served instead of the document (as text/html)
        self.token_status = 200
        self.token_body: Any = None  # a dict/str replaces the whole token response
        self.token_extra: dict = {}
        self.userinfo_extra: dict = {}
        self.hang: dict[str, float] = {}  # endpoint -> seconds to stall before answering
        self.drip: dict[str, float] = {}  # endpoint -> seconds between bytes of its answer (slowloris)
        self.revoke_status = 200
        self.grants: dict[str, dict] = {}  # code -> the authorization request it answers
        self.log: list[tuple[str, dict]] = []  # (endpoint, parameters) for every request
        self.revoked: list[str] = []
        self.access_token = "hostile-access-" + secrets.token_hex(8)
        self.refresh_token = "hostile-refresh-" + secrets.token_hex(8)

    def calls(self, endpoint: str) -> list[dict]:
        return [params for name, params in self.log if name == endpoint]

    def stop(self) -> None:
        self.release.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def answer(self, request: requests.PreparedRequest) -> requests.Response | None:
        """A requests-mock matcher: a call to this provider's URL, answered by its WSGI app in process."""
        if not request.url.startswith(self.url + "/"):
            return None
        body = request.body.encode() if isinstance(request.body, str) else request.body or b""
        response = Client(self.wsgi).open(request.path_url, method=request.method, headers=dict(request.headers),
                                          data=body)
        return requests_mock.create_response(request, status_code=response.status_code,
                                             headers=dict(response.headers), content=response.get_data())

    # -- what the provider serves

    def document(self) -> dict:
        base = {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "userinfo_endpoint": f"{self.url}/userinfo",
            "jwks_uri": f"{self.url}/jwks",
            "revocation_endpoint": f"{self.url}/revoke",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        }
        return apply(base, self.discovery)

    def claims(self, grant: dict) -> dict:
        now = int(time.time())
        base = {
            "iss": self.issuer,
            "aud": self.client_id,
            "azp": self.client_id,
            "sub": self.sub,
            "email": "grace@example.org",
            "email_verified": True,
            "name": "Grace Hopper",
            "iat": now,
            "exp": now + 600,
            "nonce": grant.get("nonce"),
        }
        return apply(base, self.id_claims)

    def id_token(self, grant: dict) -> str:
        claims = self.claims(grant)
        if self.signer == "none":
            return raw_jws(apply({"alg": "none", "typ": "JWT"}, self.header), claims, lambda _: b"")
        if self.signer == "hs256-public-key":  # the classic RS/HS confusion: HMAC keyed with the public key
            pem = self.key.as_pem(private=False)
            header = apply({"alg": "HS256", "kid": self.key.kid, "typ": "JWT"}, self.header)
            return raw_jws(header, claims, lambda data: hmac.new(pem, data, hashlib.sha256).digest())
        if self.signer == "hs256-client-secret":
            secret = self.client_secret.encode()
            header = apply({"alg": "HS256", "typ": "JWT"}, self.header)
            return raw_jws(header, claims, lambda data: hmac.new(secret, data, hashlib.sha256).digest())
        if self.signer == "es256":
            header = apply({"alg": "ES256", "kid": self.ec_key.kid, "typ": "JWT"}, self.header)
            return jwt.encode(header, claims, self.ec_key, algorithms=["ES256"])
        header = apply({"alg": "RS256", "kid": self.signing_key.kid, "typ": "JWT"}, self.header)
        return jwt.encode(header, claims, self.signing_key)

    # -- WSGI

    def wsgi(self, environ: dict, start_response: Any) -> Any:
        request = Request(environ)
        endpoint = request.path.strip("/").replace(".well-known/openid-configuration", "discovery")
        self.log.append((endpoint, {**request.args.to_dict(), **request.form.to_dict(),
                                    "authorization": request.headers.get("Authorization", "")}))
        if endpoint in self.hang:
            self.release.wait(self.hang[endpoint])
        handler = getattr(self, f"on_{endpoint}", None)
        response = handler(request) if handler else Response("not found", 404)
        if endpoint in self.drip:
            response = self.dripping(response, self.drip[endpoint])
        return response(environ, start_response)

    def dripping(self, response: Response, interval: float) -> Response:
        """Answer at once, then send the body a byte at a time for DRIP_SECONDS, then the rest:
        each read is quick, the whole is not."""
        body = response.get_data()
        release = self.release

        def drip() -> Any:
            stop = time.monotonic() + DRIP_SECONDS
            for i, byte in enumerate(body):
                if time.monotonic() > stop:
                    yield body[i:]
                    return
                if release.wait(interval):
                    return
                yield bytes([byte])

        return Response(drip(), response.status_code, content_type=response.content_type,
                        headers={"Content-Length": str(len(body))})

    @staticmethod
    def json(data: Any, status: int = 200) -> Response:
        return Response(json.dumps(data), status, content_type="application/json")

    def on_discovery(self, request: Request) -> Response:
        if self.discovery_raw is not None:
            return Response(self.discovery_raw, 200, content_type="text/html")
        return self.json(self.document())

    def on_jwks(self, request: Request) -> Response:
        return self.json({"keys": [key.as_dict(private=False) for key in self.published]})

    def on_authorize(self, request: Request) -> Response:
        """Grant at once (no login page) and send the browser back with a fresh code."""
        args = request.args.to_dict()
        code = "code-" + secrets.token_urlsafe(12)
        self.grants[code] = args
        query = urlencode({"code": code, "state": args.get("state", "")})
        return Response(status=302, headers={"Location": f"{args['redirect_uri']}?{query}"})

    def client_authenticated(self, request: Request) -> bool:
        basic = request.authorization
        if basic is not None:
            return basic.username == self.client_id and basic.password == self.client_secret
        return (request.form.get("client_id") == self.client_id
                and request.form.get("client_secret") == self.client_secret)

    def on_token(self, request: Request) -> Response:
        if self.token_body is not None:
            if isinstance(self.token_body, str):
                return Response(self.token_body, self.token_status, content_type="text/html")
            return self.json(self.token_body, self.token_status)
        form = request.form
        if form.get("grant_type") == "refresh_token":
            return self.json({"access_token": self.access_token, "expires_in": 600, "token_type": "Bearer"})
        grant = self.grants.pop(form.get("code", ""), None)
        if grant is None or not self.client_authenticated(request) or form.get("redirect_uri") != grant.get(
                "redirect_uri"):
            return self.json({"error": "invalid_grant"}, 400)
        challenge = b64(hashlib.sha256(form.get("code_verifier", "").encode()).digest())
        if grant.get("code_challenge_method") != "S256" or grant.get("code_challenge") != challenge:
            return self.json({"error": "invalid_grant", "error_description": "PKCE verification failed"}, 400)
        body = {"access_token": self.access_token, "refresh_token": self.refresh_token, "token_type": "Bearer",
                "expires_in": 600, "scope": grant.get("scope", ""), "id_token": self.id_token(grant)}
        return self.json(apply(body, self.token_extra), self.token_status)

    def on_userinfo(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {self.access_token}":
            return self.json({"error": "invalid_token"}, 401)
        info = {"sub": self.sub, "email": "grace@example.org", "email_verified": True, "name": "Grace Hopper"}
        return self.json(apply(info, self.userinfo_extra))

    def on_revoke(self, request: Request) -> Response:
        self.revoked.append(request.form.get("token", ""))
        return Response("", self.revoke_status)
