"""The health check used by load balancers and monitoring."""

from __future__ import annotations

from typing import Any, Literal

from flask import Blueprint, jsonify
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from scheduler.extensions import db, limiter
from scheduler.openapi import documented
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
