"""/readyz names the failed dependency and nothing else; the detail goes to the log."""

from __future__ import annotations

import logging

from flask_google_signin import StoreUnavailable

DETAIL = "redis: Error 111 connecting to 127.0.0.1:6379. Connection refused."


def test_readyz_names_the_dependency_but_not_its_address(app, client, monkeypatch, caplog):
    def refuse() -> None:
        raise StoreUnavailable(DETAIL)

    monkeypatch.setattr(app.session_interface, "ping", refuse)
    with caplog.at_level(logging.WARNING, logger="app.health"):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "failed": "session_store"}
    assert "127.0.0.1" not in response.get_data(as_text=True)
    (record,) = [r for r in caplog.records if r.name == "app.health"]
    assert record.levelno == logging.WARNING and DETAIL in record.reason


def test_readyz_when_all_is_well(client):
    response = client.get("/readyz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok", "session_store": "cachelib"}
