"""Liveness and readiness for load balancers and orchestrators; they never touch a session."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

from flask_google_signin import GroupsUnavailable, StoreUnavailable, check_groups, check_store

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """The process answers: restarting it would not help anything else."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """Every dependency a request needs answers; 503 names the one that does not, and only that:
    the error text (the store's address, its folder) goes to the log, not to whoever asks."""
    try:
        check_store()
    except StoreUnavailable as exc:
        log.warning("not ready", extra={"event": "not_ready", "reason": f"session_store: {exc}"})
        return jsonify(status="unavailable", failed="session_store"), 503
    try:
        check_groups()  # a configured group not found is a configuration error; an API outage is not
    except GroupsUnavailable as exc:
        log.warning("not ready", extra={"event": "not_ready", "reason": f"groups: {exc}"})
        return jsonify(status="unavailable", failed="groups"), 503
    return jsonify(status="ok", session_store=current_app.config["SESSION_TYPE"])
