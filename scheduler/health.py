"""Liveness (/healthz) and readiness (/readyz) for load balancers, monitoring and the people reading them."""

from __future__ import annotations

from typing import Any, Literal

from flask import Blueprint, current_app, jsonify
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from scheduler.db import utcnow
from scheduler.extensions import db, limiter
from scheduler.openapi import documented
from scheduler.readiness import Readiness, assess_readiness
from scheduler.transaction import discard_changes

bp = Blueprint("health", __name__)


class Health(BaseModel):
    status: Literal["ok"]
    database: Literal["ok"]


@bp.route("/healthz")
@limiter.exempt
@documented({200: (Health, "The service and its database are up"), 503: (None, "The database is unreachable")})
def healthz() -> Any:
    """Health check"""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        discard_changes()
        return jsonify({"status": "error", "database": "unreachable"}), 503
    return jsonify({"status": "ok", "database": "ok"})


@bp.route("/readyz")
@limiter.exempt
@documented({200: (Readiness, "Take traffic: every check passes (ok), or only checks outside READY_FAIL_ON fail "
                              "(degraded)"),
             503: (Readiness, "Do not take traffic: a check in READY_FAIL_ON (by default the database) fails")})
def readyz() -> Any:
    """Readiness check"""
    readiness = assess_readiness(db.session, current_app.config, utcnow())
    discard_changes()  # read only: nothing for the request's boundary to commit
    return jsonify(readiness.model_dump(mode="json")), readiness.http_status
