"""Liveness (/healthz) and readiness (/readyz) for load balancers, monitoring and the people reading them."""

from __future__ import annotations

from typing import Any, Literal

from flask import Blueprint, current_app, jsonify
from pydantic import BaseModel
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from scheduler.connection_checks import PINGED
from scheduler.db import utcnow
from scheduler.extensions import db
from scheduler.openapi import documented
from scheduler.ratelimits import unlimited
from scheduler.readiness import Readiness, assess_readiness
from scheduler.transaction import discard_changes

bp = Blueprint("health", __name__)


class Health(BaseModel):
    status: Literal["ok"]
    database: Literal["ok"]


@bp.route("/healthz")
@unlimited
@documented({200: (Health, "The service and its database are up"), 503: (None, "The database is unreachable")})
def healthz() -> Any:
    """Health check"""
    if not database_answers():
        discard_changes()
        return jsonify({"status": "error", "database": "unreachable"}), 503
    return jsonify({"status": "ok", "database": "ok"})


def database_answers() -> bool:
    """Whether the database answers, asked outside any transaction: one round trip, not four.

    A borrowed connection is pinged (the pool's ping when it sat idle, else the dialect's own, which
    runs outside a transaction), and a new one proves itself by connecting; ``SELECT 1`` in the
    request's session would add BEGIN and COMMIT to that ping.
    """
    bind = db.engine  # not the session: a request that never opens one skips making and closing it
    try:
        if isinstance(bind, Connection):  # tests put the app inside one connection's transaction
            bind.exec_driver_sql("SELECT 1")
            return True
        with bind.connect() as connection:
            pooled = connection.connection
            if not pooled.info.get(PINGED, True):  # lent without a ping: it was in use a moment ago
                try:
                    bind.dialect.do_ping(pooled.dbapi_connection)
                except bind.dialect.loaded_dbapi.Error:
                    connection.invalidate()  # not back into the pool for the next request
                    return False
    except SQLAlchemyError:
        return False
    return True


@bp.route("/readyz")
@unlimited
@documented({200: (Readiness, "Take traffic: every check passes (ok), or only checks outside READY_FAIL_ON fail "
                              "(degraded)"),
             503: (Readiness, "Do not take traffic: a check in READY_FAIL_ON (by default the database) fails")})
def readyz() -> Any:
    """Readiness check"""
    readiness = assess_readiness(db.session, current_app.config, utcnow())
    discard_changes()  # read only: nothing for the request's boundary to commit
    return jsonify(readiness.model_dump(mode="json")), readiness.http_status
