"""A pooled connection is tested before it is lent only if it sat idle: one round trip less per request.

``pool_pre_ping`` sends ``SELECT 1`` at every checkout, so every request paid one database round trip
before its first statement; in a booking rush, where the database is the bottleneck, that is one
round trip in every four of a refused booking. A connection returned to the pool a moment ago was
working a moment ago: it is lent as it is. One idle for ``POOL_PING_IDLE_SECONDS`` or longer (after
a quiet spell, or a database restart the pool has not yet seen) is pinged first, and replaced when
the ping fails, as ``pool_pre_ping`` would (the pool retries with a fresh connection).

What this gives up, and how little: should the database drop connections within that second, the
next statement on one of them fails instead of being retried; SQLAlchemy then recognises the
disconnect and discards every pooled connection of that moment, so later requests connect afresh.
The health check (``scheduler.health``) always pings, so it never reports a dead database as up.
``POOL_PING_IDLE_SECONDS = 0`` pings at every checkout (``pool_pre_ping``).
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError

_RETURNED_AT = "okno_returned_at"
PINGED = "okno_pinged"  # set on the connection record when this checkout pinged it


def engine_options(idle_seconds: float) -> dict[str, Any]:
    """The pool options for ``SQLALCHEMY_ENGINE_OPTIONS``: the pool's own ping only when every checkout pings."""
    return {"pool_pre_ping": idle_seconds <= 0}


def ping_idle_connections(engine: Engine, idle_seconds: float) -> None:
    """Ping a connection at checkout when it was returned (or made) ``idle_seconds`` ago or more."""
    if idle_seconds <= 0:
        return  # pool_pre_ping does it at every checkout

    @event.listens_for(engine, "connect")
    def _connected(_dbapi_connection: Any, record: Any) -> None:
        record.info[_RETURNED_AT] = time.monotonic()  # connecting proved it

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _lent(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get(_RETURNED_AT)
        if returned is not None and time.monotonic() - returned < idle_seconds:
            record.info[PINGED] = False
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            # The pool discards this connection and lends another (new) one instead.
            raise DisconnectionError(f"the database did not answer a ping: {error}") from error
        record.info[PINGED] = True
