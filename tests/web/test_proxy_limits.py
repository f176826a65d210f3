"""Rate limits behind a TLS proxy: keyed on the client, never on a header the client wrote itself."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count as numbers
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from scheduler.app import create_app
from scheduler.extensions import db, limiter
from tests.conftest import app_config
from tests.helpers import csrf_token

TIGHT = "2 per minute"
ACCOUNTS = numbers()


def sign_in_attempts(client: FlaskClient, forwarded_for: str, count: int = 1) -> list[int]:
    """Wrong-password sign-ins, each for a different account, arriving from ``forwarded_for``."""
    token = csrf_token(client, "/staff/login")
    statuses = []
    for _ in range(count):
        email = f"nobody-{next(ACCOUNTS)}@example.org"
        statuses.append(client.post("/staff/login", data={"email": email, "password": "guess", "csrf_token": token},
                                    headers={"X-Forwarded-For": forwarded_for}).status_code)
    return statuses


@pytest.fixture
def proxied_app(database_url: str, tmp_path: Path, app: Flask) -> Iterator[Flask]:
    """The app as deployed behind one TLS proxy, with a tight per-address sign-in limit."""
    application = create_app(app_config(database_url, tmp_path, TRUSTED_PROXY_COUNT="1", LOGIN_RATE_LIMIT=TIGHT),
                             instance_path=str(tmp_path))
    limiter.reset()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()
    limiter.reset()


def test_forwarded_for_is_ignored_unless_a_proxy_is_trusted(client: Any, app: Flask,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    assert app.config["TRUSTED_PROXY_COUNT"] == 0
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", TIGHT)
    # A client naming a new address each time is still one socket address, and one limit.
    assert sign_in_attempts(client, "203.0.113.1", 2) == [200, 200]
    assert sign_in_attempts(client, "203.0.113.2") == [429]


def test_clients_behind_a_trusted_proxy_are_limited_separately(proxied_app: Flask) -> None:
    client = proxied_app.test_client()
    assert sign_in_attempts(client, "203.0.113.1", 3) == [200, 200, 429]
    assert sign_in_attempts(client, "203.0.113.2", 2) == [200, 200]


def test_a_spoofed_leftmost_address_does_not_escape_the_limit(proxied_app: Flask) -> None:
    client = proxied_app.test_client()
    assert sign_in_attempts(client, "203.0.113.1", 2) == [200, 200]
    # The client wrote the first address itself; the proxy appended the real one.
    assert sign_in_attempts(client, "198.51.100.7, 203.0.113.1") == [429]
    assert sign_in_attempts(client, "198.51.100.8, 203.0.113.1") == [429]
