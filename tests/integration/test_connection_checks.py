"""A pooled connection is pinged before it is lent only after sitting idle (scheduler.connection_checks).

A connection back from a request a moment ago is lent as it is (no ``SELECT 1`` round trip); one idle
longer than the bound is pinged, and replaced when the database dropped it meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError

from scheduler.config import build_config, normalise_database_url
from scheduler.connection_checks import engine_options, ping_idle_connections

IDLE = 0.3


@pytest.fixture
def engine(fresh_database_url: str) -> Iterator[Engine]:
    engine = create_engine(normalise_database_url(fresh_database_url), **engine_options(IDLE))
    ping_idle_connections(engine, IDLE)
    yield engine
    engine.dispose()


@pytest.fixture
def pings(engine: Engine) -> Iterator[list[Any]]:
    seen: list[Any] = []
    real = engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        seen.append(dbapi_connection)
        return real(dbapi_connection)

    engine.dialect.do_ping = counted  # type: ignore[method-assign]
    yield seen
    del engine.dialect.do_ping


def one(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT 1")).scalar_one())


def test_a_connection_back_a_moment_ago_is_lent_without_a_ping_and_one_idle_longer_is_pinged(
        engine: Engine, pings: list[Any]) -> None:
    assert one(engine) == 1
    assert pings == []  # a new connection proved itself by connecting
    for _ in range(5):
        one(engine)
    assert pings == []  # each time back a moment ago
    time.sleep(IDLE + 0.05)
    one(engine)
    assert len(pings) == 1


def test_the_pools_own_ping_is_off_only_while_this_one_is_on(tmp_path: Path) -> None:
    assert engine_options(1.0) == {"pool_pre_ping": False}
    assert engine_options(0.0) == {"pool_pre_ping": True}  # 0: ping at every checkout
    assert build_config({"OKNO_ENV": "testing"}, tmp_path)["SQLALCHEMY_ENGINE_OPTIONS"] == {"pool_pre_ping": False}
    every_time = build_config({"OKNO_ENV": "testing", "POOL_PING_IDLE_SECONDS": "0"}, tmp_path)
    assert every_time["SQLALCHEMY_ENGINE_OPTIONS"] == {"pool_pre_ping": True}


def _terminate_the_pooled_backend(engine: Engine, fresh_database_url: str) -> None:
    with engine.connect() as connection:
        pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
    admin = create_engine(normalise_database_url(fresh_database_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    admin.dispose()


def test_an_idle_connection_the_database_dropped_is_replaced_before_it_is_lent(
        engine: Engine, pings: list[Any], fresh_database_url: str) -> None:
    if make_url(normalise_database_url(fresh_database_url)).get_backend_name() != "postgresql":
        pytest.skip("a server that drops connections: PostgreSQL")
    _terminate_the_pooled_backend(engine, fresh_database_url)
    time.sleep(IDLE + 0.05)
    assert one(engine) == 1  # the ping failed, the pool connected afresh: the caller saw nothing
    assert len(pings) == 1


def test_a_connection_dropped_within_the_bound_fails_once_and_the_pool_starts_afresh(
        engine: Engine, fresh_database_url: str) -> None:
    """The documented cost of skipping the ping: one statement fails, then every connection is new."""
    if make_url(normalise_database_url(fresh_database_url)).get_backend_name() != "postgresql":
        pytest.skip("a server that drops connections: PostgreSQL")
    _terminate_the_pooled_backend(engine, fresh_database_url)
    with pytest.raises(DBAPIError) as failed:
        one(engine)
    assert failed.value.connection_invalidated
    assert one(engine) == 1
