"""Views marked ``unlimited`` skip the rate limiter altogether; every other view stays limited."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from scheduler.ratelimits import _is_unlimited


def test_health_checks_and_metrics_skip_the_limiter_and_the_api_stays_limited(
        app: Flask, client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "API_RATE_LIMIT", "2 per minute")
    address = {"REMOTE_ADDR": "203.0.113.9"}
    assert [client.get("/api/v1/topics", environ_base=address).status_code for _ in range(3)] == [200, 200, 429]
    assert {client.get("/healthz", environ_base=address).status_code for _ in range(5)} == {200}
    for path, spared in (("/healthz", True), ("/readyz", True), ("/metrics", True), ("/api/v1/topics", False),
                         ("/api/v1/slots", False), ("/no/such/page", False)):
        with app.test_request_context(path):
            assert _is_unlimited() is spared, path
