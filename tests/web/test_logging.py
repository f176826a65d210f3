"""Log lines: human-readable text by default, one JSON object per line with LOG_FORMAT=json, with the request id."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from flask import Flask, g

from scheduler.logging_setup import apply_log_format


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, logging.Handler, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("okno.test")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)  # whatever other tests left on the root logger
    logger.propagate = False
    yield logger, handler, stream
    logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)
    logger.propagate = True


def test_json_lines_carry_time_level_logger_message_extras_and_the_request_id(app: Flask, captured: tuple) -> None:
    logger, handler, stream = captured
    apply_log_format("json", [handler])
    with app.test_request_context("/healthz"):
        app.preprocess_request()  # the app's own before-request hooks give the request its id
        request_id = g.request_id
        logger.warning("booking held", extra={"booking": "A-1234"})
    logger.info("outside any request")

    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside["level"] == "WARNING" and inside["logger"] == "okno.test" and inside["message"] == "booking held"
    assert inside["request_id"] == request_id and len(request_id) == 32
    assert inside["booking"] == "A-1234"
    logged_at = datetime.fromisoformat(inside["time"])
    assert logged_at.utcoffset() is not None and logged_at.utcoffset().total_seconds() == 0
    assert abs((datetime.now(UTC) - logged_at).total_seconds()) < 60
    assert "request_id" not in outside and outside["message"] == "outside any request"


def test_text_stays_the_default_format(app: Flask, captured: tuple) -> None:
    logger, handler, stream = captured
    assert app.config["LOG_FORMAT"] == "text"
    apply_log_format(app.config["LOG_FORMAT"], [handler])
    logger.warning("booking held")
    line = stream.getvalue().strip()
    assert line.endswith("WARNING okno.test: booking held")
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_either_format_keeps_url_secrets_out(app: Flask, captured: tuple, log_format: str) -> None:
    """The one place that formats handlers also redacts: a JSON line is no way around it."""
    logger, handler, stream = captured
    apply_log_format(log_format, [handler])
    secret = "Zq8-dev_SECRET_0123456789abcdef"
    logger.warning("GET %s failed", f"/manage/ABCD2345?token={secret}")
    logger.info(f"feed /calendar/{secret}.ics")
    assert secret not in stream.getvalue()
    assert stream.getvalue().count("[redacted]") == 2
