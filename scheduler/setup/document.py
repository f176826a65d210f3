"""The setup document declared once as pydantic models: parsing, its problems, canonical form and JSON Schema."""

from __future__ import annotations

import copy
import difflib
import functools
import json
import re
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from scheduler.auth.models import normalise_email
from scheduler.calendar import WorkingCalendar
from scheduler.departments.models import APPLICANT_TYPES, CHANNELS

__all__ = [
    "FIELDS",
    "FORMAT",
    "SECTIONS",
    "VERSION",
    "WEEKDAYS",
    "SetupDocument",
    "canonical_entry",
    "canonical_setup",
    "dump_setup",
    "normalise_setup",
    "parse_setup",
    "schema_text",
    "setup_schema",
    "validate_setup",
    "with_defaults",
]

FORMAT = "okno-setup"
VERSION = 1
SECTIONS = ("departments", "locations", "topics", "experts", "reception_days")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
OVERRIDE_KINDS = ("absence", "hours")
SCHEMA_ID = f"urn:okno:schema:setup:{VERSION}"

_WEEKDAY_INDEX = {name: index for index, name in enumerate(WEEKDAYS)}
SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str, int | None]  # where, what, and the index of the sibling it refers to ("<sibling>")


class _Bad:
    """A value that failed its own check: rules spanning several values skip it (its problem is reported)."""

    def __repr__(self) -> str:
        return "<invalid>"


BAD = _Bad()


# --------------------------------------------------------------------------- values


def _invalid(message: str) -> PydanticCustomError:
    return PydanticCustomError("setup", message)


def _check(test: Callable[[Any], bool], message: str) -> BeforeValidator:
    """A value check with the document's own message (pydantic's constraints only describe the schema)."""

    def check(value: Any) -> Any:
        if not test(value):
            raise _invalid(message)
        return value

    return BeforeValidator(check)


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _whole_check(lowest: int, highest: int) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not _is_whole(value) or value < lowest:
            raise _invalid("must be a positive whole number" if lowest == 1 else
                           f"must be a whole number, {lowest} or more")
        if value > highest:
            raise _invalid(f"must be at most {highest}")
        return value

    return check


def _whole(lowest: int, highest: int, description: str | None = None) -> Any:
    return Annotated[int, Field(ge=lowest, le=highest, description=description),
                     BeforeValidator(_whole_check(lowest, highest))]


def _text_check(max_length: int | None, blank: bool) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not isinstance(value, str):
            raise _invalid("must be a string")
        if not blank and not value.strip():
            raise _invalid("must not be empty")
        if max_length is not None and len(value) > max_length:
            raise _invalid(f"must be at most {max_length} characters")
        return value

    return check


def _text(max_length: int | None, *, blank: bool = True, description: str | None = None) -> Any:
    return Annotated[str, Field(max_length=max_length, min_length=None if blank else 1, description=description),
                     BeforeValidator(_text_check(max_length, blank))]


def _nullable(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else check(value)


def _slug_check(value: Any) -> Any:
    if not isinstance(value, str) or not re.fullmatch(SLUG_PATTERN, value):
        raise _invalid("must be a slug: lowercase Latin letters, digits, '-' and '_' (e.g. gas-connection)")
    if len(value) > 80:
        raise _invalid("must be at most 80 characters")
    return value


def _timezone_check(value: Any) -> Any:
    if not isinstance(value, str) or not value:
        raise _invalid("must be an IANA time zone name such as Europe/Moscow")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise _invalid(f"unknown time zone {value!r}: use an IANA name such as Europe/Moscow") from None
    return value


@functools.lru_cache(maxsize=64)
def _calendar_problem(code: str) -> str | None:
    try:
        WorkingCalendar(code or None)
    except ValueError as exc:
        return str(exc)
    return None


def _calendar_check(value: Any) -> Any:
    if not isinstance(value, str) or len(value) > 16:
        raise _invalid('must be a holiday calendar code such as "RU" or "RU-KO", or "" for none')
    problem = _calendar_problem(value)
    if problem:
        raise _invalid(f"unknown holiday calendar {value!r}: {problem}")
    return value


def _email_check(*, optional: bool, normalise: bool) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not isinstance(value, str):
            raise _invalid("must be an email address (a string)")
        if optional and value == "":
            return value
        if len(value) > 254:
            raise _invalid("must be at most 254 characters")
        try:
            validate_email(value, check_deliverability=False)
        except EmailNotValidError as exc:
            raise _invalid(f"not a valid email address: {exc}") from None
        return normalise_email(value) if normalise else value

    return check


def _date_check(value: Any) -> Any:
    if isinstance(value, str) and re.fullmatch(DATE_PATTERN, value):
        try:
            date.fromisoformat(value)
        except ValueError:
            pass
        else:
            return value
    raise _invalid('must be a date "YYYY-MM-DD"')


def _time_check(value: Any) -> Any:
    if not isinstance(value, str) or not re.fullmatch(TIME_PATTERN, value):
        raise _invalid('must be a time "HH:MM" from 00:00 to 23:59')
    return value


def _weekday_check(value: Any) -> Any:
    if isinstance(value, str) and value in _WEEKDAY_INDEX:
        return value
    if _is_whole(value) and 0 <= value <= 6:
        return WEEKDAYS[value]
    raise _invalid(f"must be a weekday: {', '.join(WEEKDAYS)} (or 0 = Monday .. 6 = Sunday)")


def _choice_check(options: Iterable[str]) -> Callable[[Any], Any]:
    allowed = tuple(options)

    def check(value: Any) -> Any:
        if value not in allowed:
            raise _invalid(f"must be one of: {', '.join(allowed)}")
        return value

    return check


def _unique_list(item: Any, *, nonempty: bool = False, description: str | None = None) -> Any:
    """A list whose items must differ: ``_Part`` names each repetition (see ``_repeated``)."""
    return Annotated[list[item], Field(min_length=1 if nonempty else None, description=description,
                                       json_schema_extra={"uniqueItems": True})]


def _repeated(field: str, items: Any) -> Iterator[Problem]:
    seen: set[Any] = set()
    for index, item in enumerate(items if _good(items) else []):
        if _good(item) and item in seen:
            yield (field, index), f"{item!r} is listed twice", None
        seen.add(item)


def _pair_check(value: Any) -> Any:
    if not isinstance(value, list) or len(value) != 2:
        raise _invalid('must be a pair of times ["HH:MM", "HH:MM"]')
    return value


def _ends_after_starts(pair: list[str]) -> list[str]:
    if pair[1] <= pair[0]:
        raise _invalid(f"must end after it starts ({pair[0]} to {pair[1]})")
    return pair


Slug = Annotated[str, Field(pattern=SLUG_PATTERN, max_length=80), BeforeValidator(_slug_check)]
Time = Annotated[str, Field(pattern=TIME_PATTERN), BeforeValidator(_time_check)]
Date = Annotated[str, Field(pattern=DATE_PATTERN, json_schema_extra={"format": "date"}), BeforeValidator(_date_check)]
Timezone = Annotated[str, Field(min_length=1, max_length=64, description="An IANA time zone name, e.g. Europe/Moscow."),
                     BeforeValidator(_timezone_check)]
ExpertEmail = Annotated[str, Field(max_length=254, json_schema_extra={"format": "email"},
                                   description="An email address (matched case-insensitively)."),
                        BeforeValidator(_email_check(optional=False, normalise=True))]
Weekday = Annotated[Literal[WEEKDAYS] | Annotated[int, Field(ge=0, le=6)], BeforeValidator(_weekday_check),
                    Field(description="A weekday name (exported form), or a number 0 = Monday .. 6 = Sunday.")]
Channel = Annotated[Literal[CHANNELS], BeforeValidator(_choice_check(CHANNELS))]
Boolean = Annotated[bool, _check(lambda v: isinstance(v, bool), "must be true or false")]
Interval = Annotated[list[Time], Field(min_length=2, max_length=2), BeforeValidator(_pair_check),
                     AfterValidator(_ends_after_starts)]


def _omit_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def _a_string(schema: dict[str, Any]) -> None:
    """Editors expect a string; the importer reads nothing from it, so it accepts any value."""
    _omit_default(schema)
    schema["type"] = "string"


# An optional key that may be left out but not given as null (the default None is never validated).
OMITTED = Field(None, json_schema_extra=_omit_default)


# --------------------------------------------------------------------------- problems and rules


def _suggestion(key: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _good(*values: Any) -> bool:
    return all(value is not BAD and value is not None for value in values)


def _after(row: Mapping[str, Any], first: str, second: str, *, inclusive: bool = False) -> Iterator[Problem]:
    a, b = row.get(first), row.get(second)
    if _good(a, b) and (b < a if inclusive else b <= a):
        yield (second,), f"must be {'on or after' if inclusive else 'after'} {first} ({a})", None


def _overlaps(loc: Loc, intervals: Any) -> Iterator[Problem]:
    """Each interval that overlaps an earlier one of the same list; touching is fine."""
    if not _good(intervals):
        return
    seen: list[tuple[int, list[str]]] = []
    for index, pair in enumerate(intervals):
        if not _good(pair):
            continue
        for other, (starts, ends) in seen:
            if pair[0] < ends and starts < pair[1]:
                yield (*loc, index), f"overlaps <sibling> ({starts}-{ends})", other
                break
        seen.append((index, pair))


def _duplicates(loc: Loc, items: Any, key: Callable[[Any], Any], label: str) -> Iterator[Problem]:
    first: dict[Any, int] = {}
    for index, item in enumerate(items if _good(items) else []):
        value = key(item) if _good(item) else BAD
        if not _good(value) or (isinstance(value, tuple) and not all(_good(v) for v in value)):
            continue
        if value in first:
            shown = value[0] if isinstance(value, tuple) and len(value) == 1 else value
            yield (*loc, index), f"duplicate {label} {shown!r} (also <sibling>)", first[value]
        else:
            first[value] = index


def _get(item: Any, name: str) -> Any:
    return getattr(item, name, BAD) if isinstance(item, BaseModel) else item.get(name, BAD)


class _Part(BaseModel):
    """A JSON object of the document: unknown keys refused, every problem named with its place."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    # Nested rows always hold every field (defaults filled); top-level entities are patches.
    complete: ClassVar[bool] = True
    not_an_object: ClassVar[str] = "must be an object"

    @classmethod
    def rules(cls, values: dict[str, Any]) -> Iterator[Problem]:
        """Rules that span several values; ``values`` holds the valid ones (``BAD`` marks the rest)."""
        return iter(())

    @classmethod
    def _rules(cls, values: dict[str, Any]) -> Iterator[Problem]:
        for name, info in cls.model_fields.items():
            if info.json_schema_extra == {"uniqueItems": True}:
                yield from _repeated(name, values.get(name))
        yield from cls.rules(values)

    @classmethod
    def unknown_key(cls, key: str) -> str:
        return f"unknown key{_suggestion(key, [f.alias or n for n, f in cls.model_fields.items()])}"

    @model_validator(mode="wrap")
    @classmethod
    def _every_problem(cls, data: Any, handler: Callable[[Any], Any]) -> Any:
        try:
            part = handler(data)
        except ValidationError as exc:
            problems = [cls._own(error) for error in exc.errors()]
            if isinstance(data, dict):
                problems += _line_errors(cls._rules(cls._partial(data, exc)), data)
            raise ValidationError.from_exception_data(cls.__name__, problems) from None
        if found := _line_errors(cls._rules(dict(part.__dict__)), data):
            raise ValidationError.from_exception_data(cls.__name__, found)
        if cls.complete:
            part.__pydantic_fields_set__.update(cls.model_fields)
        return part

    @classmethod
    def _own(cls, error: Any) -> dict[str, Any]:
        """One error in the document's words (errors of nested parts were worded there already)."""
        kind, loc, ctx = error["type"], error["loc"], error.get("ctx")
        if kind == "missing":
            message = "is required"
        elif kind == "extra_forbidden":
            message = cls.unknown_key(str(loc[-1]))
        elif kind == "model_type" or kind == "dict_type":
            message = cls.not_an_object
        elif kind == "list_type":
            message = "must be a list"
        elif kind == "too_short":
            message = "must not be empty"
        else:
            message = error["msg"]
        return {"type": PydanticCustomError("setup", message, ctx), "loc": loc, "input": error.get("input")}

    @classmethod
    def _partial(cls, data: dict[str, Any], exc: ValidationError) -> dict[str, Any]:
        """The valid values of a refused object, so that its rules still report their own problems."""
        failed = {error["loc"][0] for error in exc.errors() if error["loc"]}
        values: dict[str, Any] = {}
        for name, info in cls.model_fields.items():
            key = info.alias or name
            if key not in data:
                values[name] = None if info.is_required() else info.get_default(call_default_factory=True)
            elif key not in failed:
                values[name] = _adapter(cls, name).validate_python(data[key])
            elif (item := _item_type(info.annotation)) is not None and isinstance(data[key], list):
                values[name] = [_valid_or_bad(item, element) for element in data[key]]
            else:
                values[name] = BAD
        return values


@functools.cache
def _adapter(cls: type[BaseModel], name: str) -> TypeAdapter[Any]:
    info = cls.model_fields[name]
    return TypeAdapter(Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation)


def _item_type(annotation: Any) -> Any:
    """``X`` for ``list[X]`` (or ``list[X] | None``), else None."""
    if get_origin(annotation) in (Union, types.UnionType):
        annotation = next((a for a in get_args(annotation) if a is not type(None)), None)
    return get_args(annotation)[0] if get_origin(annotation) is list else None


def _valid_or_bad(item: Any, value: Any) -> Any:
    try:
        return TypeAdapter(item).validate_python(value)
    except ValidationError:
        return BAD


def _line_errors(problems: Iterable[Problem], data: Any) -> list[dict[str, Any]]:
    return [{"type": PydanticCustomError("setup", message, None if sibling is None else {"sibling": sibling}),
             "loc": loc, "input": data} for loc, message, sibling in problems]


# --------------------------------------------------------------------------- the parts


class BusinessHours(_Part):
    """Opening intervals per weekday; a weekday that is not listed is closed."""

    model_config = ConfigDict(title="Business hours")
    complete: ClassVar[bool] = False
    not_an_object: ClassVar[str] = 'must be an object such as {"mon": [["09:00", "18:00"]]}'

    mon: list[Interval] = OMITTED
    tue: list[Interval] = OMITTED
    wed: list[Interval] = OMITTED
    thu: list[Interval] = OMITTED
    fri: list[Interval] = OMITTED
    sat: list[Interval] = OMITTED
    sun: list[Interval] = OMITTED

    @classmethod
    def unknown_key(cls, key: str) -> str:
        return f"unknown weekday; use {', '.join(WEEKDAYS)}"

    @classmethod
    def rules(cls, values: dict[str, Any]) -> Iterator[Problem]:
        for day in WEEKDAYS:
            yield from _overlaps((day,), values.get(day))


class Department(_Part):
    """A department (a competent authority or service), matched by slug."""

    complete: ClassVar[bool] = False
    slug: Slug
    title: _text(200, blank=False)
    timezone: Timezone
    holiday_calendar: Annotated[str, Field(
        max_length=16, description='Public-holiday calendar ("RU", "RU-KO", ...); "" ignores public holidays.'),
        BeforeValidator(_calendar_check)] = "RU"
    email: Annotated[str, Field(max_length=254, description="Contact address, or empty."),
                     BeforeValidator(_email_check(optional=True, normalise=False))] = ""
    is_active: Boolean = True
    business_hours: BusinessHours = BusinessHours()


class Location(_Part):
    """An office where in-person reception happens, matched by slug."""

    complete: ClassVar[bool] = False
    slug: Slug
    name: _text(200, blank=False)
    address: _text(300, blank=False)
    timezone: Timezone
    desks: _whole(1, 1000, "Visitors received at once.") = 1
    department: Annotated[Slug | None, Field(description="Slug of the department that runs the office.")] = None


class Topic(_Part):
    """A consultation topic with its booking rules, matched by slug."""

    complete: ClassVar[bool] = False
    slug: Slug
    department: Slug
    title: _text(200, blank=False)
    description: _text(None) = ""
    duration_minutes: _whole(1, 1440) = 30
    slot_interval_minutes: Annotated[Annotated[int, Field(ge=1, le=1440)] | None, BeforeValidator(
        _nullable(_whole_check(1, 1440))), Field(description="Step between slot starts; null means the duration.")
    ] = None
    buffer_minutes: _whole(0, 1440) = 0
    min_notice_minutes: _whole(0, 525600) = 5
    horizon_days: _whole(0, 3660) = 30
    seats: _whole(1, 1000) = 1
    channels: _unique_list(Channel, nonempty=True) = ["video"]
    applicant_types: _unique_list(Annotated[Literal[APPLICANT_TYPES], BeforeValidator(
        _choice_check(APPLICANT_TYPES))], nonempty=True) = list(APPLICANT_TYPES)
    followup_working_days: _whole(1, 365) = 4
    is_active: Boolean = True


class WeeklyRow(_Part):
    """One interval of an expert's weekly pattern on one channel."""

    channel: Channel
    weekday: Weekday
    starts: Time
    ends: Time
    valid_from: Annotated[Date | None, BeforeValidator(_nullable(_date_check))] = None
    valid_to: Annotated[Date | None, BeforeValidator(_nullable(_date_check))] = None
    location: Annotated[Slug | None, Field(description="In-person rows only: the office; null means any.")] = None

    @classmethod
    def rules(cls, values: dict[str, Any]) -> Iterator[Problem]:
        yield from _after(values, "starts", "ends")
        yield from _after(values, "valid_from", "valid_to", inclusive=True)
        if values.get("channel") == "video" and _good(values.get("location")):
            yield ("location",), "only in_person rows have a location", None


class Override(_Part):
    """An absence over a date range, or replacement hours (kind "hours") on some dates."""

    first_day: Date
    last_day: Annotated[Date | None, BeforeValidator(_nullable(_date_check)),
                        Field(description="Inclusive; absent or null means first_day.")] = None
    kind: Annotated[Literal[OVERRIDE_KINDS], BeforeValidator(_choice_check(OVERRIDE_KINDS))]
    channel: Annotated[Channel | None, BeforeValidator(_nullable(_choice_check(CHANNELS))),
                       Field(description="null means every channel.")] = None
    intervals: list[Interval] = []
    reason: _text(200) = ""

    @model_validator(mode="after")
    def _one_day_by_default(self) -> Override:
        if self.last_day is None:
            self.last_day = self.first_day
        return self

    @classmethod
    def rules(cls, values: dict[str, Any]) -> Iterator[Problem]:
        if values.get("last_day") is None:
            values["last_day"] = values.get("first_day")
        yield from _after(values, "first_day", "last_day", inclusive=True)
        intervals = values.get("intervals")
        yield from _overlaps(("intervals",), intervals)
        if values.get("kind") == "absence" and _good(intervals) and intervals:
            yield ("intervals",), "must be empty for an absence", None
        if values.get("kind") == "hours" and _good(intervals) and not intervals:
            yield ("intervals",), 'must list at least one interval for kind "hours"', None


class Expert(_Part):
    """A staff member who consults, matched by email; a missing staff account is made without a usable password."""

    complete: ClassVar[bool] = False
    email: ExpertEmail
    full_name: _text(200, blank=False)
    department: Slug
    position: _text(200) = ""
    is_active: Boolean = True
    topics: _unique_list(Slug) = []
    weekly: list[WeeklyRow] = []
    overrides: list[Override] = []

    @classmethod
    def rules(cls, values: dict[str, Any]) -> Iterator[Problem]:
        """No two weekly rows of one weekday and channel may overlap while both are valid."""
        weekly = values.get("weekly")
        seen: list[tuple[int, WeeklyRow]] = []
        for index, row in enumerate(weekly if _good(weekly) else []):
            if not _good(row):
                continue
            for other_index, other in seen:
                if (other.weekday, other.channel) == (row.weekday, row.channel) and _same_time(row, other):
                    yield (("weekly", index), f"overlaps <sibling> ({other.weekday} {other.channel} "
                           f"{other.starts}-{other.ends})", other_index)
                    break
            seen.append((index, row))


def _same_time(a: WeeklyRow, b: WeeklyRow) -> bool:
    """Hours overlap and validity periods (open ends included) overlap too."""
    if not (a.starts < b.ends and b.starts < a.ends):
        return False
    return (a.valid_from or "0000") <= (b.valid_to or "9999") and (b.valid_from or "0000") <= (a.valid_to or "9999")


class ReceptionException(_Part):
    """One date of a reception day: cancelled, or other hours (cancelled false with starts and ends)."""

    day: Date
    cancelled: Boolean = True
    starts: Annotated[Time | None, BeforeValidator(_nullable(_time_check))] = None
    ends: Annotated[Time | None, BeforeValidator(_nullable(_time_check))] = None
    reason: _text(200) = ""

    @classmethod
    def rules(cls, values: dict[str, Any]) -> Iterator[Problem]:
        if values.get("cancelled") is True:
            for key in ("starts", "ends"):
                if _good(values.get(key)):
                    yield (key,), "must be null when the day is cancelled", None
        elif values.get("cancelled") is False:
            for key in ("starts", "ends"):
                if values.get(key) is None:
                    yield (key,), "is required when the day is not cancelled", None
            yield from _after(values, "starts", "ends")


class ReceptionDay(_Part):
    """A recurring in-person reception, identified by (location, title)."""

    complete: ClassVar[bool] = False
    location: Slug
    title: _text(200, description="Identifies the reception day within its location.")
    weekdays: _unique_list(Weekday, nonempty=True)
    starts: Time
    ends: Time
    valid_from: Annotated[Date | None, BeforeValidator(_nullable(_date_check))] = None
    valid_to: Annotated[Date | None, BeforeValidator(_nullable(_date_check))] = None
    topics: _unique_list(Slug) = []
    experts: _unique_list(ExpertEmail, description="Emails of the experts on duty.") = []
    exceptions: list[ReceptionException] = []

    @classmethod
    def rules(cls, values: dict[str, Any]) -> Iterator[Problem]:
        yield from _after(values, "starts", "ends")
        yield from _after(values, "valid_from", "valid_to", inclusive=True)
        yield from _duplicates(("exceptions",), values.get("exceptions"), lambda row: row.day, "day")


# The key that identifies each entity of a section, for uniqueness and references.
IDENTITY = {"departments": "slug", "locations": "slug", "topics": "slug", "experts": "email"}


class SetupDocument(_Part):
    """The whole configuration of an okno installation, never passwords: written by `flask setup export`,
    read by `flask setup import FILE`. Every reference resolves inside the document; see docs/setup-format.md."""

    model_config = ConfigDict(title="okno set-up document", json_schema_extra={"$id": SCHEMA_ID})
    complete: ClassVar[bool] = False

    schema_: Any = Field(None, alias="$schema", description="Where an editor finds this schema; ignored.",
                         json_schema_extra=_a_string)
    format: Annotated[Literal[FORMAT], _check(lambda v: v == FORMAT, f'must be "{FORMAT}"')]
    version: Annotated[Literal[VERSION], _check(lambda v: type(v) is int and v == VERSION,
                                                f"must be {VERSION} (the only version this okno reads)")]
    departments: list[Department] = OMITTED
    locations: list[Location] = OMITTED
    topics: list[Topic] = OMITTED
    experts: list[Expert] = OMITTED
    reception_days: list[ReceptionDay] = OMITTED

    @classmethod
    def rules(cls, values: dict[str, Any]) -> Iterator[Problem]:
        """Unique identities, and references that resolve inside the same document."""
        for section, key in IDENTITY.items():
            yield from _duplicates((section,), values.get(section), lambda item, key=key: _get(item, key), key)
        yield from _duplicates(("reception_days",), values.get("reception_days"),
                               lambda item: (item.location, item.title), "(location, title)")
        known = {section: _known(values.get(section), key) for section, key in IDENTITY.items()}

        def ref(value: Any, section: str, loc: Loc, label: str) -> Iterator[Problem]:
            names = known[section]
            if _good(value) and names is not None and value not in names:
                yield loc, f"unknown {label} {value!r} (not in {section})", None

        for section in ("locations", "topics", "experts"):
            for i, item in _entries(values, section):
                yield from ref(item.department, "departments", (section, i, "department"), "department")
        for i, item in _entries(values, "experts"):
            for j, slug in enumerate(item.topics):
                yield from ref(slug, "topics", ("experts", i, "topics", j), "topic")
            for j, row in enumerate(item.weekly):
                yield from ref(row.location, "locations", ("experts", i, "weekly", j, "location"), "location")
        for i, item in _entries(values, "reception_days"):
            yield from ref(item.location, "locations", ("reception_days", i, "location"), "location")
            for j, slug in enumerate(item.topics):
                yield from ref(slug, "topics", ("reception_days", i, "topics", j), "topic")
            for j, email in enumerate(item.experts):
                yield from ref(email, "experts", ("reception_days", i, "experts", j), "expert")


def _entries(values: dict[str, Any], section: str) -> list[tuple[int, Any]]:
    items = values.get(section)
    return [(i, item) for i, item in enumerate(items) if _good(item)] if _good(items) else []


def _known(items: Any, key: str) -> set[str] | None:
    """Identities defined in a section; None when one of them is broken (fix that first: no noise)."""
    if items is BAD or (items is not None and not all(_good(item) for item in items)):
        return None
    return {getattr(item, key) for item in items or []}


ENTITIES: dict[str, type[_Part]] = {
    "departments": Department, "locations": Location, "topics": Topic, "experts": Expert,
    "reception_days": ReceptionDay,
}
# The keys of each section's entities, in the order exports write them.
FIELDS: dict[str, tuple[str, ...]] = {section: tuple(model.model_fields) for section, model in ENTITIES.items()}


# --------------------------------------------------------------------------- the document


def _path(loc: Loc) -> str:
    """``("experts", 1, "weekly", 0)`` as ``experts[1].weekly[0]``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part != "[key]":
            text += f".{part}" if text else str(part)
    return text or "document"


def _problems(exc: ValidationError) -> list[str]:
    problems = []
    for error in exc.errors():
        message = error["msg"]
        sibling = (error.get("ctx") or {}).get("sibling")
        if sibling is not None:
            message = message.replace("<sibling>", _path((*error["loc"][:-1], sibling)))
        problems.append(f"{_path(error['loc'])}: {message}")
    return problems


def parse_setup(doc: Any) -> tuple[SetupDocument | None, list[str]]:
    """The document as models in the file's order, or None and every problem as "path: message"."""
    if not isinstance(doc, dict):
        return None, ["document: must be a JSON object"]
    try:
        return SetupDocument.model_validate(doc), []
    except ValidationError as exc:
        return None, _problems(exc)


def validate_setup(doc: Any) -> list[str]:
    """Every problem of ``doc`` as "path: message"; empty when it is valid."""
    return parse_setup(doc)[1]


def sections(document: SetupDocument) -> dict[str, list[dict[str, Any]]]:
    """Each section present as plain entries in the file's order: only the keys an entity gives, rows complete."""
    dumped = document.model_dump(exclude_unset=True, include=set(SECTIONS))
    return {section: dumped[section] for section in SECTIONS if dumped.get(section) is not None}


def normalise_setup(doc: Any) -> dict[str, Any]:
    """The canonical form of a valid document: weekday names, lower-case emails, stable order."""
    document, problems = parse_setup(doc)
    if document is None:
        raise ValueError("invalid setup document: " + "; ".join(problems))
    return canonical_setup(sections(document))


def with_defaults(section: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    """A (canonical) entity with every absent optional key set to its default, in field order."""
    model = ENTITIES[section]
    return {name: entry[name] if name in entry else _default(model, name) for name in model.model_fields}


def _default(model: type[BaseModel], name: str) -> Any:
    value = model.model_fields[name].get_default(call_default_factory=True)
    return value.model_dump(exclude_unset=True) if isinstance(value, BaseModel) else copy.deepcopy(value)


def setup_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the document, generated from the models."""
    schema = SetupDocument.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
    _drop_generated_titles(schema)
    return schema


def schema_text() -> str:
    """The schema as the committed docs/setup.schema.json spells it."""
    return json.dumps(setup_schema(), ensure_ascii=False, indent=2) + "\n"


def _drop_generated_titles(node: Any) -> None:
    """Property titles pydantic derives from field names ("Min Notice Minutes") say nothing a key does not."""
    if isinstance(node, dict):
        for value in (node.get("properties") or {}).values():
            if isinstance(value, dict):
                value.pop("title", None)
        for value in node.values():
            _drop_generated_titles(value)
    elif isinstance(node, list):
        for value in node:
            _drop_generated_titles(value)


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
    """One entity in canonical form (only the keys it has, in field order, every list sorted)."""
    result = json.loads(json.dumps({name: entry[name] for name in FIELDS[section] if name in entry}))
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
