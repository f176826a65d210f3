"""The whole configuration as one JSON document: export, validate and normalise it."""

from __future__ import annotations

import copy
import difflib
import functools
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from scheduler.auth.models import normalise_email
from scheduler.calendar import WorkingCalendar
from scheduler.departments.models import APPLICANT_TYPES, CHANNELS, Department, Location, Topic
from scheduler.experts.models import Expert
from scheduler.schedules.models import DateOverride, ReceptionDay, WeeklyAvailability

__all__ = [
    "FIELDS",
    "FORMAT",
    "SECTIONS",
    "VERSION",
    "WEEKDAYS",
    "canonical_entry",
    "department_entry",
    "dump_setup",
    "expert_entry",
    "export_setup",
    "location_entry",
    "normalise_setup",
    "reception_day_entry",
    "topic_entry",
    "validate_setup",
    "with_defaults",
]

FORMAT = "okno-setup"
VERSION = 1
SECTIONS = ("departments", "locations", "topics", "experts", "reception_days")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
OVERRIDE_KINDS = ("absence", "hours")
# Keys allowed at the top level besides the sections; "$schema" lets editors find the schema.
TOP_LEVEL_KEYS = ("$schema", "format", "version", *SECTIONS)

_WEEKDAY_INDEX = {name: index for index, name in enumerate(WEEKDAYS)}
_SLUG_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")
_TIME_RE = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class _Invalid(Exception):
    """A value's problem: the message that follows its path."""


class _Bad:
    """Marks a value that failed its check (its problem is already recorded)."""

    def __repr__(self) -> str:
        return "<invalid>"


BAD = _Bad()

Check = Callable[[Any, str, list[str]], Any]


@dataclass(frozen=True)
class Field:
    """One key of an object: how to check it, whether it must be present, its default."""

    check: Check
    required: bool = False
    default: Any = None


# --------------------------------------------------------------------------- value checks


def _scalar(convert: Callable[[Any], Any]) -> Check:
    def check(value: Any, path: str, problems: list[str]) -> Any:
        try:
            return convert(value)
        except _Invalid as exc:
            problems.append(f"{path}: {exc}")
            return BAD

    return check


def _text(max_length: int | None, *, blank: bool = True) -> Check:
    def convert(value: Any) -> str:
        if not isinstance(value, str):
            raise _Invalid("must be a string")
        if not blank and not value.strip():
            raise _Invalid("must not be empty")
        if max_length is not None and len(value) > max_length:
            raise _Invalid(f"must be at most {max_length} characters")
        return value

    return _scalar(convert)


def _to_slug(value: Any) -> str:
    if not isinstance(value, str) or not _SLUG_RE.fullmatch(value):
        raise _Invalid("must be a slug: lowercase Latin letters, digits, '-' and '_' (e.g. gas-connection)")
    if len(value) > 80:
        raise _Invalid("must be at most 80 characters")
    return value


def _whole(lowest: int, highest: int) -> Callable[[Any], int]:
    def convert(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < lowest:
            kind = "a positive whole number" if lowest == 1 else f"a whole number, {lowest} or more"
            raise _Invalid(f"must be {kind}")
        if value > highest:
            raise _Invalid(f"must be at most {highest}")
        return value

    return convert


def _integer(lowest: int, highest: int) -> Check:
    return _scalar(_whole(lowest, highest))


def _to_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Invalid("must be true or false")
    return value


def _nullable(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else convert(value)


def _to_timezone(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _Invalid("must be an IANA time zone name such as Europe/Moscow")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise _Invalid(f"unknown time zone {value!r}: use an IANA name such as Europe/Moscow") from None
    return value


@functools.lru_cache(maxsize=64)
def _calendar_problem(code: str) -> str | None:
    try:
        WorkingCalendar(code or None)
    except ValueError as exc:
        return str(exc)
    return None


def _to_calendar(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 16:
        raise _Invalid('must be a holiday calendar code such as "RU" or "RU-KO", or "" for none')
    problem = _calendar_problem(value)
    if problem:
        raise _Invalid(f"unknown holiday calendar {value!r}: {problem}")
    return value


def _email(*, optional: bool, normalise: bool) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if not isinstance(value, str):
            raise _Invalid("must be an email address (a string)")
        if optional and value == "":
            return value
        if len(value) > 254:
            raise _Invalid("must be at most 254 characters")
        try:
            validate_email(value, check_deliverability=False)
        except EmailNotValidError as exc:
            raise _Invalid(f"not a valid email address: {exc}") from None
        return normalise_email(value) if normalise else value

    return convert


_to_expert_email = _email(optional=False, normalise=True)


def _to_time(value: Any) -> str:
    if not isinstance(value, str) or not _TIME_RE.fullmatch(value):
        raise _Invalid('must be a time "HH:MM" from 00:00 to 23:59')
    return value


def _to_date(value: Any) -> str:
    if isinstance(value, str) and _DATE_RE.fullmatch(value):
        try:
            date.fromisoformat(value)
        except ValueError:
            pass
        else:
            return value
    raise _Invalid('must be a date "YYYY-MM-DD"')


def _to_weekday(value: Any) -> str:
    if isinstance(value, str) and value in _WEEKDAY_INDEX:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 6:
        return WEEKDAYS[value]
    raise _Invalid(f"must be a weekday: {', '.join(WEEKDAYS)} (or 0 = Monday .. 6 = Sunday)")


def _choice(options: Iterable[str]) -> Callable[[Any], str]:
    allowed = tuple(options)

    def convert(value: Any) -> str:
        if value not in allowed:
            raise _Invalid(f"must be one of: {', '.join(allowed)}")
        return str(value)

    return convert


def _list(item: Check, *, unique: bool = False, nonempty: bool = False) -> Check:
    """A JSON array checked item by item; ``unique`` refuses a repeated (valid) item."""

    def check(value: Any, path: str, problems: list[str]) -> Any:
        if not isinstance(value, list):
            problems.append(f"{path}: must be a list")
            return BAD
        if nonempty and not value:
            problems.append(f"{path}: must not be empty")
        result = [item(element, f"{path}[{index}]", problems) for index, element in enumerate(value)]
        if unique:
            seen: set[Any] = set()
            for index, element in enumerate(result):
                if element is not BAD and element in seen:
                    problems.append(f"{path}[{index}]: {element!r} is listed twice")
                seen.add(element)
        return result

    return check


def _interval(value: Any, path: str, problems: list[str]) -> Any:
    """``["09:00", "18:00"]``: a pair of times, the second after the first."""
    if not isinstance(value, list) or len(value) != 2:
        problems.append(f'{path}: must be a pair of times ["HH:MM", "HH:MM"]')
        return BAD
    starts, ends = (_scalar(_to_time)(part, f"{path}[{index}]", problems) for index, part in enumerate(value))
    if starts is BAD or ends is BAD:
        return BAD
    if ends <= starts:
        problems.append(f"{path}: must end after it starts ({starts} to {ends})")
        return BAD
    return [starts, ends]


def _overlaps(items: Iterable[tuple[str, str, str]], problems: list[str]) -> None:
    """Report each (path, starts, ends) interval that overlaps an earlier one; touching is fine."""
    seen: list[tuple[str, str, str]] = []
    for path, starts, ends in items:
        for other_path, other_starts, other_ends in seen:
            if starts < other_ends and other_starts < ends:
                problems.append(f"{path}: overlaps {other_path} ({other_starts}-{other_ends})")
                break
        seen.append((path, starts, ends))


def _intervals(value: Any, path: str, problems: list[str]) -> Any:
    result = _list(_interval)(value, path, problems)
    if result is not BAD:
        _overlaps(((f"{path}[{i}]", *pair) for i, pair in enumerate(result) if pair is not BAD), problems)
    return result


def _business_hours(value: Any, path: str, problems: list[str]) -> Any:
    """``{"mon": [["09:00", "13:00"], ["14:00", "18:00"]], ...}``: a missing weekday is closed."""
    if not isinstance(value, dict):
        problems.append(f'{path}: must be an object such as {{"mon": [["09:00", "18:00"]]}}')
        return BAD
    result: dict[str, Any] = {}
    for key, intervals in value.items():
        if key not in _WEEKDAY_INDEX:
            problems.append(f"{path}.{key}: unknown weekday; use {', '.join(WEEKDAYS)}")
            result[key] = BAD
            continue
        result[key] = _intervals(intervals, f"{path}.{key}", problems)
    return result


def _record(fields: Mapping[str, Field], *, complete: bool,
            post: Callable[[dict[str, Any], str, list[str]], None] | None = None) -> Check:
    """A JSON object with known keys; ``complete`` fills absent optional keys with defaults."""

    def check(value: Any, path: str, problems: list[str]) -> Any:
        if not isinstance(value, dict):
            problems.append(f"{path}: must be an object")
            return BAD
        for key in value:
            if key not in fields:
                problems.append(f"{path}.{key}: unknown key{_suggestion(key, fields)}")
        result: dict[str, Any] = {}
        for name, spec in fields.items():
            if name in value:
                result[name] = spec.check(value[name], f"{path}.{name}", problems)
            elif spec.required:
                problems.append(f"{path}.{name}: is required")
                result[name] = BAD
            elif complete:
                result[name] = copy.deepcopy(spec.default)
        if post is not None:
            post(result, path, problems)
        return result

    return check


def _suggestion(key: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _good(*values: Any) -> bool:
    return all(value is not BAD and value is not None for value in values)


def _check_after(row: dict[str, Any], first: str, second: str, path: str, problems: list[str],
                 *, inclusive: bool = False) -> None:
    a, b = row.get(first), row.get(second)
    if _good(a, b) and (b < a if inclusive else b <= a):
        relation = "on or after" if inclusive else "after"
        problems.append(f"{path}.{second}: must be {relation} {first} ({a})")


# --------------------------------------------------------------------------- the fields


def _weekly_post(row: dict[str, Any], path: str, problems: list[str]) -> None:
    _check_after(row, "starts", "ends", path, problems)
    _check_after(row, "valid_from", "valid_to", path, problems, inclusive=True)
    if row.get("channel") == "video" and _good(row.get("location")):
        problems.append(f"{path}.location: only in_person rows have a location")


def _override_post(row: dict[str, Any], path: str, problems: list[str]) -> None:
    if row.get("last_day") is None and row.get("first_day") is not BAD:
        row["last_day"] = row.get("first_day")
    _check_after(row, "first_day", "last_day", path, problems, inclusive=True)
    intervals = row.get("intervals")
    if row.get("kind") == "absence" and _good(intervals) and intervals:
        problems.append(f"{path}.intervals: must be empty for an absence")
    if row.get("kind") == "hours" and _good(intervals) and not intervals:
        problems.append(f'{path}.intervals: must list at least one interval for kind "hours"')


def _exception_post(row: dict[str, Any], path: str, problems: list[str]) -> None:
    if row.get("cancelled") is True:
        for key in ("starts", "ends"):
            if _good(row.get(key)):
                problems.append(f"{path}.{key}: must be null when the day is cancelled")
    elif row.get("cancelled") is False:
        for key in ("starts", "ends"):
            if row.get(key) is None:
                problems.append(f"{path}.{key}: is required when the day is not cancelled")
        _check_after(row, "starts", "ends", path, problems)


def _reception_post(row: dict[str, Any], path: str, problems: list[str]) -> None:
    _check_after(row, "starts", "ends", path, problems)
    _check_after(row, "valid_from", "valid_to", path, problems, inclusive=True)
    exceptions = row.get("exceptions")
    if _good(exceptions):
        _unique(exceptions, "day", f"{path}.exceptions", "day", problems)


def _expert_post(row: dict[str, Any], path: str, problems: list[str]) -> None:
    """No two weekly rows of one channel may overlap on a weekday while both are valid."""
    weekly = row.get("weekly")
    if not _good(weekly):
        return
    seen: list[tuple[str, dict[str, Any]]] = []
    for index, item in enumerate(weekly):
        if not _good(item) or not all(_good(item.get(k)) for k in ("weekday", "channel", "starts", "ends")):
            continue
        for other_path, other in seen:
            if (other["weekday"], other["channel"]) == (item["weekday"], item["channel"]) and _same_time(item, other):
                problems.append(f"{path}.weekly[{index}]: overlaps {other_path} ({other['weekday']} "
                                f"{other['channel']} {other['starts']}-{other['ends']})")
                break
        seen.append((f"{path}.weekly[{index}]", item))


def _same_time(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Hours overlap and validity periods (open ends included) overlap too."""
    if not (a["starts"] < b["ends"] and b["starts"] < a["ends"]):
        return False
    a_from, a_to = _period(a)
    b_from, b_to = _period(b)
    return a_from <= b_to and b_from <= a_to


def _period(row: dict[str, Any]) -> tuple[str, str]:
    valid_from, valid_to = row.get("valid_from"), row.get("valid_to")
    return (valid_from if _good(valid_from) else "0000-00-00", valid_to if _good(valid_to) else "9999-99-99")


_slug = _scalar(_to_slug)
_optional_slug = _scalar(_nullable(_to_slug))
_boolean = _scalar(_to_bool)
_timezone = _scalar(_to_timezone)
_time = _scalar(_to_time)
_optional_date = _scalar(_nullable(_to_date))
_channel = _scalar(_choice(CHANNELS))


def _set_of(options: tuple[str, ...]) -> Check:
    return _list(_scalar(_choice(options)), unique=True, nonempty=True)


WEEKLY_FIELDS: dict[str, Field] = {
    "channel": Field(_channel, required=True),
    "weekday": Field(_scalar(_to_weekday), required=True),
    "starts": Field(_time, required=True),
    "ends": Field(_time, required=True),
    "valid_from": Field(_optional_date),
    "valid_to": Field(_optional_date),
    "location": Field(_optional_slug),
}

OVERRIDE_FIELDS: dict[str, Field] = {
    "first_day": Field(_scalar(_to_date), required=True),
    "last_day": Field(_optional_date),  # absent or null: the first day
    "kind": Field(_scalar(_choice(OVERRIDE_KINDS)), required=True),
    "channel": Field(_scalar(_nullable(_choice(CHANNELS)))),  # null: every channel
    "intervals": Field(_intervals, default=[]),
    "reason": Field(_text(200), default=""),
}

EXCEPTION_FIELDS: dict[str, Field] = {
    "day": Field(_scalar(_to_date), required=True),
    "cancelled": Field(_boolean, default=True),
    "starts": Field(_scalar(_nullable(_to_time))),
    "ends": Field(_scalar(_nullable(_to_time))),
    "reason": Field(_text(200), default=""),
}

FIELDS: dict[str, dict[str, Field]] = {
    "departments": {
        "slug": Field(_slug, required=True),
        "title": Field(_text(200, blank=False), required=True),
        "timezone": Field(_timezone, required=True),
        "holiday_calendar": Field(_scalar(_to_calendar), default="RU"),
        "email": Field(_scalar(_email(optional=True, normalise=False)), default=""),
        "is_active": Field(_boolean, default=True),
        "business_hours": Field(_business_hours, default={}),
    },
    "locations": {
        "slug": Field(_slug, required=True),
        "name": Field(_text(200, blank=False), required=True),
        "address": Field(_text(300, blank=False), required=True),
        "timezone": Field(_timezone, required=True),
        "desks": Field(_integer(1, 1000), default=1),
        "department": Field(_optional_slug),
    },
    "topics": {
        "slug": Field(_slug, required=True),
        "department": Field(_slug, required=True),
        "title": Field(_text(200, blank=False), required=True),
        "description": Field(_text(None), default=""),
        "duration_minutes": Field(_integer(1, 1440), default=30),
        "slot_interval_minutes": Field(_scalar(_nullable(_whole(1, 1440)))),
        "buffer_minutes": Field(_integer(0, 1440), default=0),
        "min_notice_minutes": Field(_integer(0, 525600), default=5),
        "horizon_days": Field(_integer(0, 3660), default=30),
        "seats": Field(_integer(1, 1000), default=1),
        "channels": Field(_set_of(CHANNELS), default=["video"]),
        "applicant_types": Field(_set_of(APPLICANT_TYPES), default=list(APPLICANT_TYPES)),
        "followup_working_days": Field(_integer(1, 365), default=4),
        "is_active": Field(_boolean, default=True),
    },
    "experts": {
        "email": Field(_scalar(_to_expert_email), required=True),
        "full_name": Field(_text(200, blank=False), required=True),
        "department": Field(_slug, required=True),
        "position": Field(_text(200), default=""),
        "is_active": Field(_boolean, default=True),
        "topics": Field(_list(_slug, unique=True), default=[]),
        "weekly": Field(_list(_record(WEEKLY_FIELDS, complete=True, post=_weekly_post)), default=[]),
        "overrides": Field(_list(_record(OVERRIDE_FIELDS, complete=True, post=_override_post)), default=[]),
    },
    "reception_days": {
        "location": Field(_slug, required=True),
        "title": Field(_text(200), required=True),
        "weekdays": Field(_list(_scalar(_to_weekday), unique=True, nonempty=True), required=True),
        "starts": Field(_time, required=True),
        "ends": Field(_time, required=True),
        "valid_from": Field(_optional_date),
        "valid_to": Field(_optional_date),
        "topics": Field(_list(_slug, unique=True), default=[]),
        "experts": Field(_list(_scalar(_to_expert_email), unique=True), default=[]),
        "exceptions": Field(_list(_record(EXCEPTION_FIELDS, complete=True, post=_exception_post)), default=[]),
    },
}


_POSTS: dict[str, Callable[[dict[str, Any], str, list[str]], None]] = {
    "experts": _expert_post,
    "reception_days": _reception_post,
}
# Top-level entities are patches: an absent optional key leaves the stored value alone.
_ENTITIES: dict[str, Check] = {
    section: _record(fields, complete=False, post=_POSTS.get(section)) for section, fields in FIELDS.items()
}
# The key that identifies each entity of a section, for uniqueness and references.
IDENTITY = {"departments": "slug", "locations": "slug", "topics": "slug", "experts": "email"}


# --------------------------------------------------------------------------- the document


def validate_setup(doc: Any) -> list[str]:
    """Every problem of ``doc`` as "path: message", in document order; empty when it is valid."""
    return _parse(doc)[1]


def normalise_setup(doc: Any) -> dict[str, Any]:
    """The canonical form of a valid document: weekday names, lower-case emails, stable order."""
    parsed, problems = _parse(doc)
    if problems:
        raise ValueError("invalid setup document: " + "; ".join(problems))
    return canonical_setup(parsed)


def _parse(doc: Any) -> tuple[dict[str, Any], list[str]]:
    problems: list[str] = []
    if not isinstance(doc, dict):
        return {}, ["document: must be a JSON object"]
    for key in doc:
        if key not in TOP_LEVEL_KEYS:
            problems.append(f"{key}: unknown key{_suggestion(key, TOP_LEVEL_KEYS)}")
    if "format" not in doc:
        problems.append("format: is required")
    elif doc["format"] != FORMAT:
        problems.append(f'format: must be "{FORMAT}"')
    if "version" not in doc:
        problems.append("version: is required")
    elif type(doc["version"]) is not int or doc["version"] != VERSION:
        problems.append(f"version: must be {VERSION} (the only version this okno reads)")
    parsed: dict[str, Any] = {}
    for section in SECTIONS:
        if section in doc:
            parsed[section] = _list(_ENTITIES[section])(doc[section], section, problems)
    _cross_check(parsed, problems)
    return parsed, problems


def _entries(parsed: dict[str, Any], section: str) -> list[tuple[int, dict[str, Any]]]:
    items = parsed.get(section)
    if not _good(items):
        return []
    return [(index, item) for index, item in enumerate(items) if _good(item)]


def _known(parsed: dict[str, Any], section: str) -> set[str] | None:
    """Identities defined in ``section``; None when one of them is broken (fix that first: no noise)."""
    items = parsed.get(section, [])
    key = IDENTITY[section]
    if not _good(items) or not all(_good(item) and _good(item.get(key)) for item in items):
        return None
    return {item[key] for item in items}


def _unique(items: list[Any], key: str | Callable[[dict[str, Any]], Any], path: str, label: str,
            problems: list[str]) -> None:
    first: dict[Any, int] = {}
    for index, item in enumerate(items):
        if not _good(item):
            continue
        value = key(item) if callable(key) else item.get(key)
        if not _good(value) or (isinstance(value, tuple) and not all(_good(v) for v in value)):
            continue
        if value in first:
            shown = value[0] if isinstance(value, tuple) and len(value) == 1 else value
            problems.append(f"{path}[{index}]: duplicate {label} {shown!r} (also {path}[{first[value]}])")
        else:
            first[value] = index


def _cross_check(parsed: dict[str, Any], problems: list[str]) -> None:
    """Unique identities and references that resolve inside the same document."""
    for section, key in IDENTITY.items():
        if _good(parsed.get(section)):
            _unique(parsed[section], key, section, key, problems)
    if _good(parsed.get("reception_days")):
        _unique(parsed["reception_days"], lambda r: (r.get("location"), r.get("title")), "reception_days",
                "(location, title)", problems)

    known = {section: _known(parsed, section) for section in IDENTITY}

    def ref(value: Any, section: str, path: str, label: str) -> None:
        names = known[section]
        if _good(value) and names is not None and value not in names:
            problems.append(f"{path}: unknown {label} {value!r} (not in {section})")

    for i, item in _entries(parsed, "locations"):
        ref(item.get("department"), "departments", f"locations[{i}].department", "department")
    for i, item in _entries(parsed, "topics"):
        ref(item.get("department"), "departments", f"topics[{i}].department", "department")
    for i, item in _entries(parsed, "experts"):
        ref(item.get("department"), "departments", f"experts[{i}].department", "department")
        for j, slug in enumerate(_items(item.get("topics"))):
            ref(slug, "topics", f"experts[{i}].topics[{j}]", "topic")
        for j, row in enumerate(_items(item.get("weekly"))):
            if _good(row):
                ref(row.get("location"), "locations", f"experts[{i}].weekly[{j}].location", "location")
    for i, item in _entries(parsed, "reception_days"):
        ref(item.get("location"), "locations", f"reception_days[{i}].location", "location")
        for j, slug in enumerate(_items(item.get("topics"))):
            ref(slug, "topics", f"reception_days[{i}].topics[{j}]", "topic")
        for j, email in enumerate(_items(item.get("experts"))):
            ref(email, "experts", f"reception_days[{i}].experts[{j}]", "expert")


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def with_defaults(section: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    """A (canonical) entity with every absent optional key set to its default, in field order."""
    result: dict[str, Any] = {}
    for name, spec in FIELDS[section].items():
        result[name] = copy.deepcopy(entry[name]) if name in entry else copy.deepcopy(spec.default)
    return result


def dump_setup(doc: Mapping[str, Any]) -> str:
    """The document as indented JSON text (Cyrillic kept as is) with a final newline.

    Objects are indented by two spaces; a list of plain values or of time pairs stays on one
    line (``"weekdays": ["tue", "thu"]``), so that people can read and edit the file.
    """
    return _render(doc, 0) + "\n"


def _render(value: Any, level: int) -> str:
    inline = json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict) and value:
        inner = "  " * (level + 1)
        members = [f"{inner}{json.dumps(key, ensure_ascii=False)}: {_render(item, level + 1)}"
                   for key, item in value.items()]
        return "{\n" + ",\n".join(members) + "\n" + "  " * level + "}"
    if isinstance(value, list) and any(isinstance(item, dict) for item in value):
        inner = "  " * (level + 1)
        return "[\n" + ",\n".join(inner + _render(item, level + 1) for item in value) + "\n" + "  " * level + "]"
    return inline


# --------------------------------------------------------------------------- canonical order


def canonical_setup(parsed: Mapping[str, Any]) -> dict[str, Any]:
    """Sections sorted by identity, every list inside an entity in a stable order."""
    result: dict[str, Any] = {"format": FORMAT, "version": VERSION}
    for section in SECTIONS:
        if section in parsed:
            entries = [canonical_entry(section, entry) for entry in parsed[section]]
            result[section] = sorted(entries, key=_IDENTITY_SORT[section])
    return result


_IDENTITY_SORT: dict[str, Callable[[dict[str, Any]], Any]] = {
    "departments": lambda e: e["slug"],
    "locations": lambda e: e["slug"],
    "topics": lambda e: e["slug"],
    "experts": lambda e: e["email"],
    "reception_days": lambda e: (e["location"], e["title"]),
}


def canonical_entry(section: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    """One entity in canonical form (only the keys it has, in field order)."""
    result = {name: copy.deepcopy(entry[name]) for name in FIELDS[section] if name in entry}
    if "business_hours" in result:
        hours = result["business_hours"]
        result["business_hours"] = {day: sorted(hours[day]) for day in WEEKDAYS if hours.get(day)}
    if section == "topics":
        for key, order in (("channels", CHANNELS), ("applicant_types", APPLICANT_TYPES)):
            if key in result:
                result[key] = [option for option in order if option in result[key]]
    if "topics" in result:
        result["topics"] = sorted(result["topics"])
    if section == "experts" and "weekly" in result:
        result["weekly"] = sorted(result["weekly"], key=_weekly_order)
    if "overrides" in result:
        for row in result["overrides"]:
            row["intervals"] = sorted(row["intervals"])
        result["overrides"] = sorted(result["overrides"], key=_override_order)
    if section == "reception_days":
        if "weekdays" in result:
            result["weekdays"] = sorted(result["weekdays"], key=_WEEKDAY_INDEX.__getitem__)
        if "experts" in result:
            result["experts"] = sorted(result["experts"])
        if "exceptions" in result:
            result["exceptions"] = sorted(result["exceptions"], key=lambda row: row["day"])
    return result


def _weekly_order(row: dict[str, Any]) -> tuple[Any, ...]:
    return (_WEEKDAY_INDEX[row["weekday"]], CHANNELS.index(row["channel"]), row["starts"], row["ends"],
            row["valid_from"] or "", row["valid_to"] or "", row["location"] or "")


def _override_order(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["first_day"], row["last_day"], row["kind"], row["channel"] or "", row["intervals"], row["reason"])


# --------------------------------------------------------------------------- export


def _hhmm(value: time | None) -> str | None:
    return None if value is None else value.strftime("%H:%M")


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _stored_hhmm(value: str) -> str:
    """Override intervals are stored as text; give them back as "HH:MM" whatever their spelling."""
    try:
        return time.fromisoformat(value).strftime("%H:%M")
    except (TypeError, ValueError):
        return value


def department_entry(department: Department) -> dict[str, Any]:
    hours: dict[str, list[list[str]]] = defaultdict(list)
    for row in department.hours:
        hours[WEEKDAYS[row.weekday]].append([_hhmm(row.opens), _hhmm(row.closes)])
    return canonical_entry("departments", {
        "slug": department.slug, "title": department.title, "timezone": department.timezone,
        "holiday_calendar": department.holiday_calendar, "email": department.email,
        "is_active": department.is_active, "business_hours": dict(hours),
    })


def location_entry(location: Location) -> dict[str, Any]:
    return canonical_entry("locations", {
        "slug": location.slug, "name": location.name, "address": location.address, "timezone": location.timezone,
        "desks": location.desks, "department": location.department.slug if location.department else None,
    })


def topic_entry(topic: Topic) -> dict[str, Any]:
    return canonical_entry("topics", {
        "slug": topic.slug, "department": topic.department.slug, "title": topic.title,
        "description": topic.description, "duration_minutes": topic.duration_minutes,
        "slot_interval_minutes": topic.slot_interval_minutes, "buffer_minutes": topic.buffer_minutes,
        "min_notice_minutes": topic.min_notice_minutes, "horizon_days": topic.horizon_days, "seats": topic.seats,
        "channels": topic.channels, "applicant_types": topic.applicant_types,
        "followup_working_days": topic.followup_working_days, "is_active": topic.is_active,
    })


def _weekly_row(row: WeeklyAvailability) -> dict[str, Any]:
    return {
        "channel": row.channel.value, "weekday": WEEKDAYS[row.weekday], "starts": _hhmm(row.starts),
        "ends": _hhmm(row.ends), "valid_from": _iso(row.valid_from), "valid_to": _iso(row.valid_to),
        "location": row.location.slug if row.location else None,
    }


def _override_row(row: DateOverride) -> dict[str, Any]:
    return {
        "first_day": _iso(row.first_day), "last_day": _iso(row.last_day), "kind": row.kind.value,
        "channel": row.channel.value if row.channel else None,
        "intervals": [[_stored_hhmm(a), _stored_hhmm(b)] for a, b in row.intervals or []], "reason": row.reason,
    }


def expert_entry(expert: Expert, weekly: Iterable[WeeklyAvailability],
                 overrides: Iterable[DateOverride]) -> dict[str, Any]:
    """An expert as the document has it: no password, no account state, just who and when."""
    return canonical_entry("experts", {
        "email": normalise_email(expert.user.email), "full_name": expert.user.full_name,
        "department": expert.department.slug, "position": expert.position, "is_active": expert.is_active,
        "topics": [topic.slug for topic in expert.topics], "weekly": [_weekly_row(row) for row in weekly],
        "overrides": [_override_row(row) for row in overrides],
    })


def reception_day_entry(day: ReceptionDay) -> dict[str, Any]:
    exceptions = []
    for row in day.exceptions:
        # A day that is not cancelled but lacks hours is treated as cancelled by the slot search.
        cancelled = row.is_cancelled or row.starts is None or row.ends is None
        exceptions.append({
            "day": _iso(row.day), "cancelled": cancelled, "starts": None if cancelled else _hhmm(row.starts),
            "ends": None if cancelled else _hhmm(row.ends), "reason": row.reason,
        })
    return canonical_entry("reception_days", {
        "location": day.location.slug, "title": day.title, "weekdays": [WEEKDAYS[d] for d in day.weekdays or []],
        "starts": _hhmm(day.starts), "ends": _hhmm(day.ends), "valid_from": _iso(day.valid_from),
        "valid_to": _iso(day.valid_to), "topics": [topic.slug for topic in day.topics],
        "experts": [normalise_email(expert.user.email) for expert in day.experts], "exceptions": exceptions,
    })


def export_setup(session: Session) -> dict[str, Any]:
    """The whole configuration as one canonical document (the same data gives the same text)."""
    departments = session.scalars(select(Department).options(selectinload(Department.hours))).all()
    locations = session.scalars(select(Location)).all()
    topics = session.scalars(select(Topic)).all()
    experts = session.scalars(select(Expert).options(selectinload(Expert.topics))).unique().all()
    weekly: dict[int, list[WeeklyAvailability]] = defaultdict(list)
    for row in session.scalars(select(WeeklyAvailability)):
        weekly[row.expert_id].append(row)
    overrides: dict[int, list[DateOverride]] = defaultdict(list)
    for override in session.scalars(select(DateOverride)):
        overrides[override.expert_id].append(override)
    reception = session.scalars(
        select(ReceptionDay).options(selectinload(ReceptionDay.topics), selectinload(ReceptionDay.experts),
                                     selectinload(ReceptionDay.exceptions))
    ).all()
    return canonical_setup({
        "departments": [department_entry(d) for d in departments],
        "locations": [location_entry(loc) for loc in locations],
        "topics": [topic_entry(t) for t in topics],
        "experts": [expert_entry(e, weekly[e.id], overrides[e.id]) for e in experts],
        "reception_days": [reception_day_entry(r) for r in reception],
    })
