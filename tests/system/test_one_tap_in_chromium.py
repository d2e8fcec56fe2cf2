"""One Tap in Chromium: the reference app with GOOGLE_SIGNIN_ONE_TAP on, served on 127.0.0.1 by
Werkzeug in this process (so the fake Google's requests-mock answers its calls for Google's keys),
and a stand-in for Google's client script served through Playwright's request routing.

The stand-in does what Google's script does with the HTML API: it reads the page's real
`g_id_onload` attributes, gets an ID token for `data-client_id` with `data-nonce` (from the test's
fake Google, RS256-signed), sets the `g_csrf_token` cookie and POSTs `credential` and
`g_csrf_token` to `data-login_uri`. It honours `disableAutoSelect()` as Google's does: a click on
an element with the class `g_id_signout` records it, and the prompt then no longer signs in by
itself. Nothing reaches Google: every other request to accounts.google.com is refused.
"""

from __future__ import annotations

import json
import threading
from urllib.parse import parse_qs, urlsplit

import pytest
from werkzeug.serving import make_server

from app import create_app

from ..helpers import base_config

pytestmark = [pytest.mark.slow, pytest.mark.browser]

STAND_IN = """
(async () => {
  const onload = document.getElementById("g_id_onload");
  const autoSelectOff = document.cookie.includes("g_state=");
  document.querySelectorAll(".g_id_signout").forEach((element) => element.addEventListener("click", () => {
    document.cookie = "g_state=auto_select_disabled; path=/";  // google.accounts.id.disableAutoSelect()
  }));
  if (!onload || autoSelectOff) {
    window.standInPrompt = onload ? "shown, waiting for a click" : "no prompt";
    return;
  }
  const data = onload.dataset;
  window.standInSaw = {...data};
  const answer = await fetch("https://accounts.google.com/gsi/stand-in-credential?" +
    new URLSearchParams({client_id: data.client_id, nonce: data.nonce}));
  const {credential} = await answer.json();
  const csrf = "gcsrf-" + Math.random().toString(36).slice(2);
  document.cookie = `g_csrf_token=${csrf}; path=/`;
  const form = document.createElement("form");
  form.method = "POST";
  form.action = data.login_uri;
  for (const [name, value] of Object.entries({credential, g_csrf_token: csrf, select_by: "user"})) {
    const input = document.createElement("input");
    Object.assign(input, {type: "hidden", name, value});
    form.appendChild(input);
  }
  document.body.appendChild(form);
  form.submit();
})();
"""


@pytest.fixture
def one_tap_server(tmp_path, google):
    app = create_app(base_config(tmp_path, GOOGLE_SIGNIN_ONE_TAP="true", TESTING=False), environ={})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def stand_in(page, google):
    """Google's hosts as the stand-in: the client script and a credential for the page's nonce."""
    issued: list[dict] = []

    def serve(route) -> None:
        url = urlsplit(route.request.url)
        if url.path == "/gsi/client":
            route.fulfill(status=200, content_type="text/javascript", body=STAND_IN)
        elif url.path == "/gsi/stand-in-credential":
            query = {name: values[0] for name, values in parse_qs(url.query).items()}
            claims = {**google.claims(), "aud": query["client_id"], "azp": query["client_id"], "nonce": query["nonce"]}
            issued.append(claims)
            route.fulfill(status=200, content_type="application/json", headers={"Access-Control-Allow-Origin": "*"},
                          body=json.dumps({"credential": google.sign(claims)}))
        else:
            route.abort()

    page.route("https://accounts.google.com/**", serve)
    return issued


def test_one_tap_signs_in_and_sign_out_stops_the_prompt(page, one_tap_server, stand_in):
    page.goto(one_tap_server + "/")
    page.locator(".nav-user").wait_for()  # the stand-in posted the credential: back home, signed in
    assert "Ada Lovelace" in page.locator(".nav-user").inner_text()
    assert len(stand_in) == 1
    page.goto(one_tap_server + "/profile")
    assert "Signed in with Google's prompt" in page.content()
    page.locator("button.g_id_signout").click()
    page.wait_for_url(one_tap_server + "/")
    page.locator(".gsi-button").wait_for()
    page.wait_for_function("window.standInPrompt !== undefined")
    assert page.evaluate("window.standInPrompt") == "shown, waiting for a click"  # not signed straight back in
    assert page.locator(".nav-user").count() == 0 and len(stand_in) == 1


def test_the_page_gives_the_script_its_real_attributes(page, one_tap_server, stand_in):
    page.route(one_tap_server + "/login/one-tap**", lambda route: route.fulfill(status=204))  # stop at the POST
    with page.expect_request(lambda request: "/login/one-tap" in request.url) as posted:
        # The stand-in posts at once, maybe before the page's load event (static/local-time.js is still
        # loading), and a navigation that ends in 204 leaves that event unfired: wait for the POST only.
        page.goto(one_tap_server + "/", wait_until="commit")
    form = parse_qs(posted.value.post_data or "")
    assert set(form) == {"credential", "g_csrf_token", "select_by"}
    saw = page.evaluate("window.standInSaw")
    assert saw["login_uri"] == one_tap_server + "/login/one-tap?next=/"
    assert saw["auto_select"] == "false" and saw["use_fedcm_for_prompt"] == "true"
    assert stand_in[0]["nonce"] == saw["nonce"] and stand_in[0]["aud"] == saw["client_id"]


def test_without_googles_script_the_button_still_signs_in(page, one_tap_server, google):
    page.route("https://accounts.google.com/**", lambda route: route.abort())  # FedCM blocked, script gone
    page.goto(one_tap_server + "/")
    link = page.locator("a.gsi-button")
    assert link.get_attribute("href") == "/login"
    assert page.locator(".nav-user").count() == 0
