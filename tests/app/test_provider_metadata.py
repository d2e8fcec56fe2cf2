"""Google's discovery document and keys: one fetch at a time per worker, an unknown `kid` refetching
the keys once however many requests race, and a failed fetch remembered so sign-ins fail fast."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

from joserfc.jwk import RSAKey

from flask_google_signin import GOOGLE_METADATA_URL

from ..helpers import GOOGLE, AuthActions


def calls(google, url: str) -> int:
    return sum(1 for request in google.mocker.request_history if request.url.partition("?")[0] == url)


def test_40_racing_tokens_with_an_unknown_kid_refetch_the_keys_once(app, google):
    """The keys were cached before Google rotated them: the first token signed with the new key
    refetches them, the other 39 wait for that answer instead of asking again."""
    assert AuthActions(app.test_client(), google).sign_in().status_code == 302  # keys cached: key 1 only
    new_key = RSAKey.generate_key(2048, parameters={"kid": "google-key-2", "use": "sig", "alg": "RS256"})
    google.published = [google.key, new_key]
    google.key = new_key
    nonces: dict[str, str] = {}
    challenges: dict[str, str] = {}
    browsers = []
    for i in range(40):
        browser = AuthActions(app.test_client(), google)
        start = browser.client.get("/login")
        params = {k: v[0] for k, v in parse_qs(urlsplit(start.location).query).items()}
        code = f"4/code-{i}"
        nonces[code], challenges[code] = params["nonce"], params["code_challenge"]
        google.codes.add(code)
        browsers.append((browser, params, code))
    token, lock = google._token, threading.Lock()

    def token_for_its_code(request, context):  # the fake answers with the nonce of the sign-in it serves
        form = parse_qs(request.text)
        with lock:
            code = form.get("code", [""])[0]
            google.nonce, google.code_challenge = nonces.get(code), challenges.get(code)
            return token(request, context)

    google.mocker.post(GOOGLE["token_endpoint"], json=token_for_its_code)
    before = calls(google, GOOGLE["jwks_uri"])
    barrier = threading.Barrier(40)

    def finish(item):
        browser, params, code = item
        barrier.wait()
        return browser.client.get("/callback", query_string={"code": code, "state": params["state"]}).status_code

    with ThreadPoolExecutor(40) as pool:
        statuses = list(pool.map(finish, browsers))
    assert calls(google, GOOGLE["jwks_uri"]) - before == 1
    assert statuses == [302] * 40


def test_20_racing_first_logins_fetch_the_discovery_document_once(make_app, google):
    app = make_app()
    barrier = threading.Barrier(20)

    def login(_):
        client = app.test_client()
        barrier.wait()
        return client.get("/login").status_code

    with ThreadPoolExecutor(20) as pool:
        assert list(pool.map(login, range(20))) == [302] * 20
    assert calls(google, GOOGLE_METADATA_URL) == 1


def test_a_failed_discovery_is_remembered_and_sign_ins_fail_fast(make_app, google, monkeypatch):
    app = make_app()
    google.mocker.get(GOOGLE_METADATA_URL, status_code=500)
    client = app.test_client()
    statuses = [client.get("/login").status_code for _ in range(28)]
    assert len(set(statuses)) == 1 and statuses[0] >= 500 and calls(google, GOOGLE_METADATA_URL) == 1
    later = time.monotonic() + 11  # the failure is forgotten after a few seconds: the next sign-in asks again
    monkeypatch.setattr("flask_google_signin.oidc.client.time.monotonic", lambda: later)
    google.mocker.get(GOOGLE_METADATA_URL, json=GOOGLE)
    assert client.get("/login").status_code == 302 and calls(google, GOOGLE_METADATA_URL) == 2
