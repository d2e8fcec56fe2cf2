"""Liveness and readiness for load balancers and orchestrators; they never touch a session."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

from .errors import StoreUnavailable

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """The process answers: restarting it would not help anything else."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """Every dependency a request needs answers; 503 names the one that does not."""
    try:
        current_app.session_interface.ping()
    except StoreUnavailable as exc:
        return jsonify(status="unavailable", failed="session_store", detail=str(exc)), 503
    return jsonify(status="ok", session_store=current_app.config["SESSION_TYPE"])
