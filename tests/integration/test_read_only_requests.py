"""Who may write (scheduler.transaction): a GET reads only unless its view is marked; SQLite reads beside a writer.

A probe app on a fresh database (committed data, real transactions, no test-wide rollback) serves
a few views of its own next to okno's, so that what a request begins and commits is what production does.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import make_url

from scheduler.app import create_app
from scheduler.audit import AuditEntry
from scheduler.extensions import csrf, db
from scheduler.transaction import WriteInReadOnlyRequest, may_write, writes
from tests.conftest import app_config


def _note() -> None:
    db.session.add(AuditEntry(actor_type="system", action="probe.note", entity_type="probe", entity_id="1"))
    db.session.flush()


@pytest.fixture
def probe(fresh_database_url: str, tmp_path: Path, restore_jobs: None) -> Iterator[Flask]:
    app = create_app(app_config(fresh_database_url, tmp_path), instance_path=str(tmp_path))

    @app.get("/probe/read")
    def read() -> str:
        return str(db.session.scalar(select(func.count(AuditEntry.id))))

    @app.get("/probe/unmarked")
    def unmarked() -> str:
        _note()
        return "noted"

    @app.get("/probe/raw-sql")
    def raw_sql() -> str:
        db.session.execute(text("DELETE FROM audit_entries"))
        return "deleted"

    @app.get("/probe/marked")
    @writes
    def marked() -> str:
        _note()
        return "noted"

    @app.post("/probe/post")
    @csrf.exempt
    def post() -> str:
        _note()
        return "noted"

    with app.app_context():
        db.create_all()
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def notes(app: Flask) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count(AuditEntry.id)).where(AuditEntry.action == "probe.note"))
        db.session.remove()
    return int(count or 0)


def test_a_get_that_writes_fails_unless_its_view_is_marked(probe: Flask) -> None:
    client = probe.test_client()
    with pytest.raises(WriteInReadOnlyRequest, match="GET unmarked tried to write"):
        client.get("/probe/unmarked")
    with pytest.raises(WriteInReadOnlyRequest, match=r"tried to write \(DELETE\)"):
        client.get("/probe/raw-sql")  # text SQL is caught as well as the ORM's statements
    assert notes(probe) == 0
    assert client.get("/probe/read").text == "0"  # reading is what a GET is for

    assert client.get("/probe/marked").text == "noted"
    assert client.post("/probe/post").text == "noted"
    assert notes(probe) == 2  # both committed at the request's boundary


def test_work_outside_a_request_may_write(probe: Flask) -> None:
    with probe.app_context():
        assert may_write()  # jobs and commands
        with probe.test_request_context("/probe/read"):  # a context pushed by hand handles no request
            assert may_write()
            _note()
            db.session.commit()
        db.session.remove()
    assert notes(probe) == 1


@pytest.fixture
def sqlite_probe(probe: Flask, database_url: str) -> Flask:
    if not database_url.startswith("sqlite"):
        pytest.skip("how transactions begin on SQLite")
    return probe


def test_on_sqlite_only_work_that_may_write_takes_the_write_lock(sqlite_probe: Flask) -> None:
    begun: list[str] = []
    with sqlite_probe.app_context():
        engine = db.engine

    def remember(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("BEGIN"):
            begun.append(statement)

    event.listen(engine, "before_cursor_execute", remember)
    try:
        client = sqlite_probe.test_client()
        for method, path, expected in [("GET", "/probe/read", "BEGIN"), ("GET", "/api/v1/topics", "BEGIN"),
                                       ("GET", "/probe/marked", "BEGIN IMMEDIATE"),
                                       ("POST", "/probe/post", "BEGIN IMMEDIATE")]:
            begun.clear()
            assert client.open(path, method=method).status_code == 200
            assert begun == [expected], (method, path)
        begun.clear()
        with sqlite_probe.app_context():  # a job or a command
            db.session.execute(select(1))
            db.session.commit()
            db.session.remove()
        assert begun == ["BEGIN IMMEDIATE"]
    finally:
        event.remove(engine, "before_cursor_execute", remember)


def test_on_sqlite_reads_go_on_while_another_process_holds_the_write_lock(sqlite_probe: Flask,
                                                                          fresh_database_url: str) -> None:
    client = sqlite_probe.test_client()
    assert client.get("/probe/marked").status_code == 200
    writer = sqlite3.connect(make_url(fresh_database_url).database or "", timeout=0, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("DELETE FROM audit_entries")
        began = time.monotonic()
        assert client.get("/probe/read").text == "1"  # the last committed state, not the writer's
        topics = client.get("/api/v1/topics")
        assert topics.status_code == 200, topics.text
        # Serialised reads would wait for the lock (busy_timeout is 10 s) and then fail.
        assert time.monotonic() - began < 5
        writer.execute("COMMIT")
    finally:
        writer.close()
    assert client.get("/probe/read").text == "0"


def test_the_health_check_borrows_a_checked_connection_and_begins_nothing(probe: Flask) -> None:
    """Each check pings the database once (the pool's ping, or its own when the pool lent the
    connection unpinged, fresh from another request); the session would add BEGIN, SELECT and COMMIT."""
    with probe.app_context():
        engine = db.engine
    sent: list[str] = []
    pings: list[object] = []
    real_ping = engine.dialect.do_ping

    def remember(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    def counted_ping(dbapi_connection: Any) -> bool:
        pings.append(dbapi_connection)
        return real_ping(dbapi_connection)

    event.listen(engine, "before_cursor_execute", remember)
    engine.dialect.do_ping = counted_ping  # type: ignore[method-assign]
    try:
        client = probe.test_client()
        responses = [client.get("/healthz") for _ in range(3)]  # in quick succession: the pool's ping is skipped
    finally:
        event.remove(engine, "before_cursor_execute", remember)
        del engine.dialect.do_ping
    assert all(r.status_code == 200 and r.get_json() == {"status": "ok", "database": "ok"} for r in responses)
    assert sent == []
    assert len(pings) >= 2  # the first connection proved itself by connecting; every later check pinged
