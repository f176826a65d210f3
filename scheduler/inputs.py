"""Values a client types, held to what the calendar and the database can hold: days, record ids, path segments."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Flask, abort, request
from werkzeug.routing import IntegerConverter, Map, UnicodeConverter

from scheduler.errors import wants_json

# Every page, export and API that reads a day accepts only these: the service has no data before 2000 and plans
# nothing past 2100, and arithmetic a few days either side of them stays far inside datetime's years 1..9999.
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2100, 12, 31)
MAX_ID = 2**31 - 1  # PostgreSQL's integer: a larger id names no record, and the database would refuse to compare it


def parse_day(raw: str) -> date:
    """An ISO date (YYYY-MM-DD) between FIRST_DAY and LAST_DAY; ValueError otherwise, as date.fromisoformat."""
    day = date.fromisoformat(raw)
    if not is_served_day(day):
        raise ValueError(f"{raw!r} is outside {FIRST_DAY}..{LAST_DAY}")
    return day


def is_served_day(day: date) -> bool:
    return FIRST_DAY <= day <= LAST_DAY


def is_record_id(value: int) -> bool:
    return 1 <= value <= MAX_ID


def parse_id(raw: str | None) -> int | None:
    """A record id typed into a form or a link; anything but a whole number 1..MAX_ID is no choice at all."""
    if not (raw or "").isascii() or not (raw or "").isdigit():
        return None
    value = int(str(raw))
    return value if is_record_id(value) else None


class SegmentConverter(UnicodeConverter):
    """A path segment without control characters: a NUL or a newline in a code or slug matches no route (404)."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        super().__init__(map, *args, **kwargs)
        self.regex = r"[^/\x00-\x1f\x7f]+"  # after the base class, which sets its own from the length arguments


class RecordIdConverter(IntegerConverter):
    """``<int:...>`` in a route: ids outside 1..MAX_ID match no route (404) instead of reaching the database."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def has_control_characters(text: str) -> bool:
    """NUL, which PostgreSQL refuses in text, and the other C0 controls but tab, newline and carriage return."""
    return any((ord(ch) < 32 and ch not in "\t\n\r") or ch == "\x7f" for ch in text)


def refuse_control_characters() -> None:
    """A page's query or form value with a control character is a bad request (400), whatever the field.

    The JSON API checks its own values field by field (422 with the field's path), so it is left to that.
    """
    if wants_json():
        return
    values = [*request.args.values(), *(request.form.values() if request.method == "POST" else ())]
    if any(has_control_characters(value) for value in values):
        abort(400)


def register_input_rules(app: Flask) -> None:
    """Before any route is added: routes compile their converters when registered."""
    app.url_map.converters.update(default=SegmentConverter, string=SegmentConverter, int=RecordIdConverter)
    app.before_request(refuse_control_characters)
