"""The setup document declared once as pydantic models: its parts, parsing, canonical form and JSON Schema."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from scheduler.departments.models import APPLICANT_TYPES, CHANNELS
from scheduler.setup.parts import BAD, Loc, Part, Problem, after, duplicates, good, overlaps, problem_texts
from scheduler.setup.values import (
    OMITTED,
    WEEKDAY_INDEX,
    WEEKDAYS,
    ApplicantType,
    Boolean,
    Channel,
    ContactEmail,
    Date,
    ExpertEmail,
    HolidayCalendar,
    Interval,
    NullableChannel,
    NullableDate,
    NullableMinutes,
    NullableTime,
    OverrideKind,
    Slug,
    Time,
    Timezone,
    Weekday,
    a_string,
    check,
    text,
    unique_list,
    whole,
)

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
    "sections",
    "setup_schema",
    "validate_setup",
    "with_defaults",
]

FORMAT = "okno-setup"
VERSION = 1
SECTIONS = ("departments", "locations", "topics", "experts", "reception_days")
SCHEMA_ID = f"urn:okno:schema:setup:{VERSION}"


class BusinessHours(Part):
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
            yield from overlaps((day,), values.get(day))


class Department(Part):
    """A department (a competent authority or service), matched by slug."""

    complete: ClassVar[bool] = False
    slug: Slug
    title: text(200, blank=False)
    timezone: Timezone
    holiday_calendar: HolidayCalendar = "RU"
    email: ContactEmail = ""
    is_active: Boolean = True
    business_hours: BusinessHours = BusinessHours()


class Location(Part):
    """An office where in-person reception happens, matched by slug."""

    complete: ClassVar[bool] = False
    slug: Slug
    name: text(200, blank=False)
    address: text(300, blank=False)
    timezone: Timezone
    desks: whole(1, 1000, "Visitors received at once.") = 1
    department: Annotated[Slug | None, Field(description="Slug of the department that runs the office.")] = None


class Topic(Part):
    """A consultation topic with its booking rules, matched by slug."""

    complete: ClassVar[bool] = False
    slug: Slug
    department: Slug
    title: text(200, blank=False)
    description: text(None) = ""
    duration_minutes: whole(1, 1440) = 30
    slot_interval_minutes: Annotated[NullableMinutes, Field(
        description="Step between slot starts; null means the duration.")] = None
    buffer_minutes: whole(0, 1440) = 0
    min_notice_minutes: whole(0, 525600) = 5
    horizon_days: whole(0, 3660) = 30
    seats: whole(1, 1000) = 1
    channels: unique_list(Channel, nonempty=True) = ["video"]
    applicant_types: unique_list(ApplicantType, nonempty=True) = list(APPLICANT_TYPES)
    followup_working_days: whole(1, 365) = 4
    is_active: Boolean = True


class WeeklyRow(Part):
    """One interval of an expert's weekly pattern on one channel."""

    channel: Channel
    weekday: Weekday
    starts: Time
    ends: Time
    valid_from: NullableDate = None
    valid_to: NullableDate = None
    location: Annotated[Slug | None, Field(description="In-person rows only: the office; null means any.")] = None

    @classmethod
    def rules(cls, values: dict[str, Any]) -> Iterator[Problem]:
        yield from after(values, "starts", "ends")
        yield from after(values, "valid_from", "valid_to", inclusive=True)
        if values.get("channel") == "video" and good(values.get("location")):
            yield ("location",), "only in_person rows have a location", None


class Override(Part):
    """An absence over a date range, or replacement hours (kind "hours") on some dates."""

    first_day: Date
    last_day: Annotated[NullableDate, Field(description="Inclusive; absent or null means first_day.")] = None
    kind: OverrideKind
    channel: Annotated[NullableChannel, Field(description="null means every channel.")] = None
    intervals: list[Interval] = []
    reason: text(200) = ""

    @model_validator(mode="after")
    def _one_day_by_default(self) -> Override:
        if self.last_day is None:
            self.last_day = self.first_day
        return self

    @classmethod
    def rules(cls, values: dict[str, Any]) -> Iterator[Problem]:
        if values.get("last_day") is None:
            values["last_day"] = values.get("first_day")
        yield from after(values, "first_day", "last_day", inclusive=True)
        intervals = values.get("intervals")
        yield from overlaps(("intervals",), intervals)
        if values.get("kind") == "absence" and good(intervals) and intervals:
            yield ("intervals",), "must be empty for an absence", None
        if values.get("kind") == "hours" and good(intervals) and not intervals:
            yield ("intervals",), 'must list at least one interval for kind "hours"', None


class Expert(Part):
    """A staff member who consults, matched by email; a missing staff account is made without a usable password."""

    complete: ClassVar[bool] = False
    email: ExpertEmail
    full_name: text(200, blank=False)
    department: Slug
    position: text(200) = ""
    is_active: Boolean = True
    topics: unique_list(Slug) = []
    weekly: list[WeeklyRow] = []
    overrides: list[Override] = []

    @classmethod
    def rules(cls, values: dict[str, Any]) -> Iterator[Problem]:
        """No two weekly rows of one weekday and channel may overlap while both are valid."""
        weekly = values.get("weekly")
        seen: list[tuple[int, WeeklyRow]] = []
        for index, row in enumerate(weekly if good(weekly) else []):
            if not good(row):
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


class ReceptionException(Part):
    """One date of a reception day: cancelled, or other hours (cancelled false with starts and ends)."""

    day: Date
    cancelled: Boolean = True
    starts: NullableTime = None
    ends: NullableTime = None
    reason: text(200) = ""

    @classmethod
    def rules(cls, values: dict[str, Any]) -> Iterator[Problem]:
        if values.get("cancelled") is True:
            for key in ("starts", "ends"):
                if good(values.get(key)):
                    yield (key,), "must be null when the day is cancelled", None
        elif values.get("cancelled") is False:
            for key in ("starts", "ends"):
                if values.get(key) is None:
                    yield (key,), "is required when the day is not cancelled", None
            yield from after(values, "starts", "ends")


class ReceptionDay(Part):
    """A recurring in-person reception, identified by (location, title)."""

    complete: ClassVar[bool] = False
    location: Slug
    title: text(200, description="Identifies the reception day within its location.")
    weekdays: unique_list(Weekday, nonempty=True)
    starts: Time
    ends: Time
    valid_from: NullableDate = None
    valid_to: NullableDate = None
    topics: unique_list(Slug) = []
    experts: unique_list(ExpertEmail, description="Emails of the experts on duty.") = []
    exceptions: list[ReceptionException] = []

    @classmethod
    def rules(cls, values: dict[str, Any]) -> Iterator[Problem]:
        yield from after(values, "starts", "ends")
        yield from after(values, "valid_from", "valid_to", inclusive=True)
        yield from duplicates(("exceptions",), values.get("exceptions"), lambda row: row.day, "day")


# The key that identifies each entity of a section, for uniqueness and references.
IDENTITY = {"departments": "slug", "locations": "slug", "topics": "slug", "experts": "email"}


class SetupDocument(Part):
    """The whole configuration of an okno installation, never passwords: written by `flask setup export`,
    read by `flask setup import FILE`. Every reference resolves inside the document; see docs/setup-format.md."""

    model_config = ConfigDict(title="okno set-up document", json_schema_extra={"$id": SCHEMA_ID})
    complete: ClassVar[bool] = False

    schema_: Any = Field(None, alias="$schema", description="Where an editor finds this schema; ignored.",
                         json_schema_extra=a_string)
    format: Annotated[Literal[FORMAT], check(lambda v: v == FORMAT, f'must be "{FORMAT}"')]
    version: Annotated[Literal[VERSION], check(lambda v: type(v) is int and v == VERSION,
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
            yield from duplicates((section,), values.get(section), lambda item, key=key: getattr(item, key), key)
        yield from duplicates(("reception_days",), values.get("reception_days"),
                               lambda item: (item.location, item.title), "(location, title)")
        known = {section: _known(values.get(section), key) for section, key in IDENTITY.items()}

        def ref(value: Any, section: str, loc: Loc, label: str) -> Iterator[Problem]:
            names = known[section]
            if good(value) and names is not None and value not in names:
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
    return [(i, item) for i, item in enumerate(items) if good(item)] if good(items) else []


def _known(items: Any, key: str) -> set[str] | None:
    """Identities defined in a section; None when one of them is broken (fix that first: no noise)."""
    if items is BAD or (items is not None and not all(good(item) for item in items)):
        return None
    return {getattr(item, key) for item in items or []}


ENTITIES: dict[str, type[Part]] = {
    "departments": Department, "locations": Location, "topics": Topic, "experts": Expert,
    "reception_days": ReceptionDay,
}
# The keys of each section's entities, in the order exports write them.
FIELDS: dict[str, tuple[str, ...]] = {section: tuple(model.model_fields) for section, model in ENTITIES.items()}


# --------------------------------------------------------------------------- the document


def parse_setup(doc: Any) -> tuple[SetupDocument | None, list[str]]:
    """The document as models in the file's order, or None and every problem as "path: message"."""
    if not isinstance(doc, dict):
        return None, ["document: must be a JSON object"]
    try:
        return SetupDocument.model_validate(doc), []
    except ValidationError as exc:
        return None, problem_texts(exc)


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
            result["weekdays"] = sorted(result["weekdays"], key=WEEKDAY_INDEX.__getitem__)
        if "experts" in result:
            result["experts"] = sorted(result["experts"])
        if "exceptions" in result:
            result["exceptions"] = sorted(result["exceptions"], key=lambda row: row["day"])
    return result


def _weekly_order(row: dict[str, Any]) -> tuple[Any, ...]:
    return (WEEKDAY_INDEX[row["weekday"]], CHANNELS.index(row["channel"]), row["starts"], row["ends"],
            row["valid_from"] or "", row["valid_to"] or "", row["location"] or "")


def _override_order(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["first_day"], row["last_day"], row["kind"], row["channel"] or "", row["intervals"], row["reason"])
