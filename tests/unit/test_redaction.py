"""The log redaction: every URL secret goes, everything else stays, whatever the message's shape."""

from __future__ import annotations

import logging
import sys

import pytest

from scheduler.redaction import REDACTED, RedactSecrets, add_redaction, redact

SECRET = "Zq8-dev_SECRET_0123456789abcdef"


@pytest.mark.parametrize(("line", "expected"), [
    (f'"GET /me/{SECRET} HTTP/1.1" 302', f'"GET /me/{REDACTED} HTTP/1.1" 302'),
    (f"GET /calendar/{SECRET}.ics HTTP/1.1", f"GET /calendar/{REDACTED}.ics HTTP/1.1"),
    (f"GET /manage/ABCD2345?token={SECRET}&confirmed=1", f"GET /manage/ABCD2345?token={REDACTED}&confirmed=1"),
    (f"/api/v1/bookings/ABCD2345/invite.ics?lang=ru&token={SECRET}",
     f"/api/v1/bookings/ABCD2345/invite.ics?lang=ru&token={REDACTED}"),
    (f'"https://okno.example.org/video/ABCD2345?TOKEN={SECRET}#x" "Mozilla"',
     f'"https://okno.example.org/video/ABCD2345?TOKEN={REDACTED}#x" "Mozilla"'),
    (f"/tickets/2026-000001?token={SECRET};v=1", f"/tickets/2026-000001?token={REDACTED};v=1"),
    (f"next=%2Fmanage%2FABCD2345%3Ftoken%3D{SECRET}%26a%3D1",
     f"next=%2Fmanage%2FABCD2345%3Ftoken%3D{REDACTED}%26a%3D1"),
    (f"\x1b[32mGET /me/{SECRET} HTTP/1.1\x1b[0m", f"\x1b[32mGET /me/{REDACTED} HTTP/1.1\x1b[0m"),
    # Left alone: pages that are not secrets, and the words outside URLs.
    ("POST /me/leave HTTP/1.1", "POST /me/leave HTTP/1.1"),
    ("GET /me HTTP/1.1", "GET /me HTTP/1.1"),
    ("GET /manage/ABCD2345 HTTP/1.1", "GET /manage/ABCD2345 HTTP/1.1"),
    ("GET /staff/workspace/?date=2026-12-08&view=week", "GET /staff/workspace/?date=2026-12-08&view=week"),
    ("GET /topics/stove?mytoken=abc", "GET /topics/stove?mytoken=abc"),
    ("the token expired", "the token expired"),
])
def test_redact(line: str, expected: str) -> None:
    assert redact(line) == expected


def record(msg: str, *args: object, exc_info: object = None) -> logging.LogRecord:
    return logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, msg, args or None,  # type: ignore[arg-type]
                             exc_info)  # type: ignore[arg-type]


def test_the_filter_rewrites_the_formatted_message_and_keeps_the_record() -> None:
    atoms = {"r": f"GET /me/{SECRET} HTTP/1.1", "f": f"https://okno.example.org/calendar/{SECRET}.ics", "s": "302"}
    entry = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, '"%(r)s" %(s)s "%(f)s"', (atoms,), None)
    assert RedactSecrets().filter(entry) is True
    assert entry.getMessage() == f'"GET /me/{REDACTED} HTTP/1.1" 302 "https://okno.example.org/calendar/{REDACTED}.ics"'
    assert entry.levelno == logging.INFO and entry.name == "gunicorn.access"

    untouched = record("%s requests served", 3)
    assert RedactSecrets().filter(untouched) is True
    assert (untouched.msg, untouched.args) == ("%s requests served", (3,))


def test_the_filter_redacts_a_traceback_that_quotes_a_url() -> None:
    try:
        raise ValueError(f"bad request /tickets/1?token={SECRET}")
    except ValueError:
        entry = record("Error handling request %s", f"/me/{SECRET}", exc_info=sys.exc_info())
    RedactSecrets().filter(entry)
    text = logging.Formatter().format(entry)
    assert SECRET not in text
    assert "ValueError: bad request /tickets/1?token=[redacted]" in text


def test_a_handler_with_the_filter_writes_no_secret(tmp_path: object) -> None:
    logger = logging.getLogger("tests.redaction")
    logger.propagate = False
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, entry: logging.LogRecord) -> None:
            lines.append(self.format(entry))

    handler = Keep()
    add_redaction(handler)
    add_redaction(handler)  # once only
    logger.addHandler(handler)
    try:
        logger.warning("opened %s", f"/manage/X?token={SECRET}")
    finally:
        logger.removeHandler(handler)
    assert lines == [f"opened /manage/X?token={REDACTED}"]
    assert sum(isinstance(f, RedactSecrets) for f in handler.filters) == 1
