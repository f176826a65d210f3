"""Creating or updating the configuration from a setup document: validated by the document's models and by
the same schedule rules the staff pages apply, all or nothing."""

from __future__ import annotations

import re
import secrets
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, time
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from scheduler.audit import Actor, record
from scheduler.auth.models import Role, User, normalise_email
from scheduler.departments.models import BusinessHours, Department, Location, Topic
from scheduler.errors import DomainError, ErrorCode
from scheduler.experts.models import Expert
from scheduler.schedules.models import (
    Channel,
    DateOverride,
    OverrideKind,
    ReceptionDay,
    ReceptionException,
    WeeklyAvailability,
)
from scheduler.schedules.services import (
    WeeklyRow,
    override_errors,
    reception_day_errors,
    reception_exception_errors,
    weekly_errors,
)
from scheduler.setup.document import SECTIONS, WEEKDAYS, canonical_entry, parse_setup, sections, with_defaults
from scheduler.setup.exporter import department_entry, expert_entry, location_entry, reception_day_entry, topic_entry

__all__ = ["ImportReport", "SetupError", "import_setup"]

OUTCOMES = ("created", "updated", "unchanged", "deleted")


class SetupError(DomainError):
    """The document was refused as a whole; ``problems`` lists every reason, each with its path."""

    def __init__(self, problems: list[str]) -> None:
        fields: dict[str, str] = {}
        for problem in problems:
            path, _, message = problem.partition(": ")
            fields[path] = f"{fields[path]}; {message}" if path in fields else message
        super().__init__(fields, code=ErrorCode.INVALID_SETUP)
        self.problems = list(problems)


@dataclass
class ImportReport:
    """What an import did, per kind of entity: created, updated, unchanged, deleted."""

    counts: dict[str, Counter[str]] = field(default_factory=lambda: {kind: Counter() for kind in SECTIONS})
    # Staff accounts created for new experts: they cannot sign in until an admin sets a password.
    new_accounts: list[str] = field(default_factory=list)

    def add(self, kind: str, outcome: str) -> None:
        self.counts[kind][outcome] += 1

    @property
    def changed(self) -> bool:
        return any(counter[o] for counter in self.counts.values() for o in ("created", "updated", "deleted"))

    def lines(self) -> list[str]:
        lines = []
        for kind in SECTIONS:
            counter = self.counts[kind]
            parts = [f"{counter[o]} {o}" for o in OUTCOMES if o != "deleted" or counter[o]]
            lines.append(f"{kind.replace('_', ' ')}: {', '.join(parts)}")
        if self.new_accounts:
            lines.append(f"new staff accounts without a password (an admin must set one): {len(self.new_accounts)}")
        return lines


def import_setup(session: Session, doc: Any, actor: Actor) -> ImportReport:
    """Create or update everything ``doc`` describes, or raise ``SetupError`` and write nothing.

    The file is checked by the document's models first; while writing, what it would store is
    checked by the validators the schedule pages use. Runs inside a savepoint, so a refusal or a
    failure half-way leaves the caller's transaction as it was; the caller commits. Entities that
    the document does not mention are left alone.
    """
    document, problems = parse_setup(doc)
    if document is None:
        raise SetupError(problems)
    report = ImportReport()
    with session.begin_nested():
        importer = _Importer(session, actor, report)
        importer.run(sections(document))
        if importer.problems:  # leaving the savepoint by this error undoes everything written
            raise SetupError(importer.problems)
    return report


def _department_of(obj: object) -> int | None:
    """The department an imported record belongs to, for the audit log (a department is its own)."""
    if isinstance(obj, Department):
        return obj.id
    if isinstance(obj, ReceptionDay):
        return obj.location.department_id
    return getattr(obj, "department_id", None)


def _time(value: str | None) -> time | None:
    return None if value is None else time.fromisoformat(value)


def _date(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


def _set(obj: object, values: Mapping[str, Any], names: Iterable[str]) -> None:
    for name in names:
        if name in values:
            setattr(obj, name, values[name])


class _Importer:
    """Upserts one canonical document; keeps maps from identities to rows for the references."""

    def __init__(self, session: Session, actor: Actor, report: ImportReport) -> None:
        self.session = session
        self.actor = actor
        self.report = report
        self.departments: dict[str, Department] = {}
        self.locations: dict[str, Location] = {}
        self.topics: dict[str, Topic] = {}
        self.experts: dict[str, Expert] = {}
        self.weekly: dict[int, list[WeeklyAvailability]] = defaultdict(list)
        self.overrides: dict[int, list[DateOverride]] = defaultdict(list)
        # What the staff pages would refuse, found while writing (the savepoint is then rolled back).
        self.problems: list[str] = []

    def run(self, setup: dict[str, Any]) -> None:
        self.import_departments(setup.get("departments", []))
        self.import_locations(setup.get("locations", []))
        self.import_topics(setup.get("topics", []))
        self.import_experts(setup.get("experts", []))
        if "reception_days" in setup:
            self.import_reception_days(setup["reception_days"], [e["slug"] for e in setup.get("locations", [])])

    def refuse(self, path: str, errors: Mapping[str, str], rename: Callable[[str], str] = lambda key: key) -> None:
        """Record a schedule rule's messages (keyed by form field) under the document paths they concern."""
        self.problems.extend(f"{path}.{rename(key)}: {message}" for key, message in errors.items())

    # -- the generic step ------------------------------------------------------------------

    def upsert(self, kind: str, entity_type: str, obj: Any, stored: dict[str, Any] | None, entry: dict[str, Any],
               apply: Callable[[Any, dict[str, Any]], None]) -> None:
        """Create ``obj`` (when nothing is stored) or change only the keys whose value differs."""
        entry = canonical_entry(kind, entry)
        if stored is None:
            values = with_defaults(kind, entry)
            changes = {key: [None, value] for key, value in values.items()}
            self.session.add(obj)
        else:
            changes = {key: [stored[key], value] for key, value in entry.items() if stored[key] != value}
            if not changes:
                self.report.add(kind, "unchanged")
                return
            values = {key: new for key, (_old, new) in changes.items()}
        with self.session.no_autoflush:
            apply(obj, values)
        self.session.flush()
        outcome = "created" if stored is None else "updated"
        record(self.session, self.actor, f"{entity_type}.{outcome}", entity_type, obj.id, changes,
               department_id=_department_of(obj))
        self.report.add(kind, outcome)

    # -- departments, locations, topics ----------------------------------------------------

    def import_departments(self, entries: list[dict[str, Any]]) -> None:
        slugs = [entry["slug"] for entry in entries]
        query = select(Department).where(Department.slug.in_(slugs)).options(selectinload(Department.hours))
        existing = {d.slug: d for d in self.session.scalars(query)}
        for entry in entries:
            department = existing.get(entry["slug"])
            stored = department_entry(department) if department else None
            department = department or Department()
            self.upsert("departments", "department", department, stored, entry, self.apply_department)
            self.departments[department.slug] = department

    def apply_department(self, department: Department, values: dict[str, Any]) -> None:
        _set(department, values, ("slug", "title", "timezone", "holiday_calendar", "email", "is_active"))
        if "business_hours" in values:
            department.hours = [
                BusinessHours(weekday=WEEKDAYS.index(day), opens=_time(opens), closes=_time(closes))
                for day, intervals in values["business_hours"].items()
                for opens, closes in intervals
            ]

    def import_locations(self, entries: list[dict[str, Any]]) -> None:
        slugs = [entry["slug"] for entry in entries]
        existing = {loc.slug: loc for loc in self.session.scalars(select(Location).where(Location.slug.in_(slugs)))}
        for entry in entries:
            location = existing.get(entry["slug"])
            stored = location_entry(location) if location else None
            location = location or Location()
            self.upsert("locations", "location", location, stored, entry, self.apply_location)
            self.locations[location.slug] = location

    def apply_location(self, location: Location, values: dict[str, Any]) -> None:
        _set(location, values, ("slug", "name", "address", "timezone", "desks"))
        if "department" in values:
            slug = values["department"]
            location.department = self.departments[slug] if slug else None

    def import_topics(self, entries: list[dict[str, Any]]) -> None:
        slugs = [entry["slug"] for entry in entries]
        existing = {t.slug: t for t in self.session.scalars(select(Topic).where(Topic.slug.in_(slugs)))}
        for entry in entries:
            topic = existing.get(entry["slug"])
            stored = topic_entry(topic) if topic else None
            topic = topic or Topic()
            self.upsert("topics", "topic", topic, stored, entry, self.apply_topic)
            self.topics[topic.slug] = topic

    def apply_topic(self, topic: Topic, values: dict[str, Any]) -> None:
        _set(topic, values, ("slug", "title", "description", "duration_minutes", "slot_interval_minutes",
                             "buffer_minutes", "min_notice_minutes", "horizon_days", "seats",
                             "followup_working_days", "is_active"))
        if "department" in values:
            topic.department = self.departments[values["department"]]
        if "channels" in values:
            topic.allows_video = "video" in values["channels"]
            topic.allows_in_person = "in_person" in values["channels"]
        if "applicant_types" in values:
            topic.allows_individuals = "individual" in values["applicant_types"]
            topic.allows_legal_entities = "legal_entity" in values["applicant_types"]

    # -- experts ---------------------------------------------------------------------------

    def import_experts(self, entries: list[dict[str, Any]]) -> None:
        emails = [entry["email"] for entry in entries]
        # Accounts made by hand before emails were normalised still match, whatever their case.
        query = select(User).where(func.lower(User.email).in_(emails))
        users = {normalise_email(u.email): u for u in self.session.scalars(query)}
        experts = select(Expert).where(Expert.user_id.in_([u.id for u in users.values()]))
        by_user = {e.user_id: e for e in self.session.scalars(experts.options(selectinload(Expert.topics))).unique()}
        ids = [e.id for e in by_user.values()]
        for row in self.session.scalars(select(WeeklyAvailability).where(WeeklyAvailability.expert_id.in_(ids))):
            self.weekly[row.expert_id].append(row)
        for override in self.session.scalars(select(DateOverride).where(DateOverride.expert_id.in_(ids))):
            self.overrides[override.expert_id].append(override)
        for index, entry in enumerate(entries):
            user = users.get(entry["email"])
            expert = by_user.get(user.id) if user else None
            if expert is None:
                stored = None
                expert = Expert(user=user or self.new_account(entry))
            else:
                stored = expert_entry(expert, self.weekly[expert.id], self.overrides[expert.id])
            self.upsert("experts", "expert", expert, stored, entry, self.apply_expert)
            self.experts[entry["email"]] = expert
            self.check_schedule(f"experts[{index}]", expert, entry)

    def check_schedule(self, path: str, expert: Expert, entry: dict[str, Any]) -> None:
        """The weekly rows and overrides the file gives, as the schedule pages check them."""
        for channel in Channel if "weekly" in entry else ():
            rows = [(i, row) for i, row in enumerate(entry["weekly"]) if row["channel"] == channel]
            errors = weekly_errors(self.session, expert, channel, [self.weekly_input(row) for _i, row in rows])
            for key, message in errors.items():
                _rows, position, name = key.split("-", 2)
                field = {"location_id": "location"}.get(name, name)
                self.problems.append(f"{path}.weekly[{rows[int(position)][0]}].{field}: {message}")
        for i, row in enumerate(entry.get("overrides", [])):
            errors = override_errors(
                kind=OverrideKind(row["kind"]), first_day=_date(row["first_day"]), last_day=_date(row["last_day"]),
                reason=row["reason"].strip(), intervals=[(_time(a), _time(b)) for a, b in row["intervals"]])
            # "intervals-0-starts" is the first interval's start; the file has the pair intervals[0]
            self.refuse(f"{path}.overrides[{i}]", errors, lambda key: re.sub(r"-(\d+)-\w+$", r"[\1]", key))

    def weekly_input(self, row: dict[str, Any]) -> WeeklyRow:
        return WeeklyRow(
            weekday=WEEKDAYS.index(row["weekday"]), starts=_time(row["starts"]), ends=_time(row["ends"]),
            valid_from=_date(row["valid_from"]), valid_to=_date(row["valid_to"]),
            location_id=self.locations[row["location"]].id if row["location"] else None,
        )

    def new_account(self, entry: dict[str, Any]) -> User:
        """A staff account with a random password nobody knows: the document never carries passwords."""
        department = self.departments[entry["department"]]
        user = User(email=entry["email"], full_name=entry["full_name"], role=Role.EXPERT, department_id=department.id)
        user.set_password(secrets.token_urlsafe(32))
        self.session.add(user)
        self.session.flush()
        record(self.session, self.actor, "user.created", "user", user.id,
               {"email": [None, user.email], "role": [None, user.role.value]}, department_id=department.id)
        self.report.new_accounts.append(user.email)
        return user

    def apply_expert(self, expert: Expert, values: dict[str, Any]) -> None:
        _set(expert, values, ("position", "is_active"))
        if "full_name" in values:
            expert.user.full_name = values["full_name"]
        if "department" in values:
            expert.department = self.departments[values["department"]]
            if expert.user.role == Role.EXPERT:
                expert.user.department_id = expert.department.id
        if "topics" in values:
            expert.topics = [self.topics[slug] for slug in values["topics"]]
        if "weekly" in values:
            old_weekly = self.weekly.get(expert.id, []) if expert.id else []
            self.replace(old_weekly, [self.weekly_row(expert, row) for row in values["weekly"]])
        if "overrides" in values:
            old_overrides = self.overrides.get(expert.id, []) if expert.id else []
            self.replace(old_overrides, [self.override_row(expert, row) for row in values["overrides"]])

    def replace(self, old: list[Any], new: list[Any]) -> None:
        for row in old:
            self.session.delete(row)
        self.session.add_all(new)

    def weekly_row(self, expert: Expert, row: dict[str, Any]) -> WeeklyAvailability:
        return WeeklyAvailability(
            expert=expert, channel=Channel(row["channel"]), weekday=WEEKDAYS.index(row["weekday"]),
            starts=_time(row["starts"]), ends=_time(row["ends"]), valid_from=_date(row["valid_from"]),
            valid_to=_date(row["valid_to"]), location=self.locations[row["location"]] if row["location"] else None,
        )

    @staticmethod
    def override_row(expert: Expert, row: dict[str, Any]) -> DateOverride:
        return DateOverride(
            expert=expert, first_day=_date(row["first_day"]), last_day=_date(row["last_day"]),
            kind=OverrideKind(row["kind"]), channel=Channel(row["channel"]) if row["channel"] else None,
            intervals=[list(pair) for pair in row["intervals"]], reason=row["reason"],
        )

    # -- reception days --------------------------------------------------------------------

    def import_reception_days(self, entries: list[dict[str, Any]], location_slugs: list[str]) -> None:
        """Reception days are identified by (location, title); each listed location gets exactly the file's."""
        ids = [self.locations[slug].id for slug in location_slugs]
        query = (
            select(ReceptionDay).where(ReceptionDay.location_id.in_(ids)).order_by(ReceptionDay.id)
            .options(selectinload(ReceptionDay.topics), selectinload(ReceptionDay.experts),
                     selectinload(ReceptionDay.exceptions))
        )
        existing: dict[tuple[str, str], ReceptionDay] = {}
        surplus: list[ReceptionDay] = []  # a second day with the same (location, title)
        for day in self.session.scalars(query):
            key = (day.location.slug, day.title)
            if key in existing:
                surplus.append(day)
            else:
                existing[key] = day
        for index, entry in enumerate(entries):
            day = existing.pop((entry["location"], entry["title"]), None)
            stored = reception_day_entry(day) if day else None
            day = day or ReceptionDay()
            self.upsert("reception_days", "reception_day", day, stored, entry, self.apply_reception)
            self.check_reception(f"reception_days[{index}]", day, entry)
        for day in [*existing.values(), *surplus]:
            record(self.session, self.actor, "reception_day.deleted", "reception_day", day.id,
                   {"location": [day.location.slug, None], "title": [day.title, None]},
                   department_id=day.location.department_id)
            self.session.delete(day)
            self.report.add("reception_days", "deleted")
        self.session.flush()

    def apply_reception(self, day: ReceptionDay, values: dict[str, Any]) -> None:
        _set(day, values, ("title",))
        if "location" in values:
            day.location = self.locations[values["location"]]
        if "weekdays" in values:
            day.weekdays = [WEEKDAYS.index(name) for name in values["weekdays"]]
        for key in ("starts", "ends"):
            if key in values:
                setattr(day, key, _time(values[key]))
        for key in ("valid_from", "valid_to"):
            if key in values:
                setattr(day, key, _date(values[key]))
        if "topics" in values:
            day.topics = [self.topics[slug] for slug in values["topics"]]
        if "experts" in values:
            day.experts = [self.experts[email] for email in values["experts"]]
        if "exceptions" in values:
            day.exceptions = [
                ReceptionException(day=_date(row["day"]), is_cancelled=row["cancelled"], starts=_time(row["starts"]),
                                   ends=_time(row["ends"]), reason=row["reason"])
                for row in values["exceptions"]
            ]

    def check_reception(self, path: str, day: ReceptionDay, entry: dict[str, Any]) -> None:
        """The reception day as stored after the import, and the exceptions the file gives, as the pages check them."""
        errors = reception_day_errors(
            location=day.location, title=day.title.strip(), weekdays=day.weekdays, starts=day.starts, ends=day.ends,
            valid_from=day.valid_from, valid_to=day.valid_to, topics=day.topics, experts=day.experts)
        self.refuse(path, errors, lambda key: {"location_id": "location"}.get(key, key))
        for i, row in enumerate(entry.get("exceptions", [])):
            # Two exceptions on one date are the document's own problem, reported before any of this.
            errors = reception_exception_errors(
                day.valid_from, day.valid_to, (), day=_date(row["day"]), is_cancelled=row["cancelled"],
                starts=_time(row["starts"]), ends=_time(row["ends"]), reason=row["reason"].strip())
            self.refuse(f"{path}.exceptions[{i}]", errors)
