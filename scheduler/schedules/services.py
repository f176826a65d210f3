"""Schedule management rules: weekly hours, date overrides, reception days, permissions and the slot preview."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, time
from itertools import combinations
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from scheduler.audit import Actor, record
from scheduler.auth.access import Action, condition
from scheduler.auth.models import User
from scheduler.departments.models import Department, Location, Topic
from scheduler.errors import DomainError
from scheduler.experts.models import Expert
from scheduler.schedules.models import (
    Channel,
    DateOverride,
    OverrideKind,
    ReceptionDay,
    ReceptionException,
    WeeklyAvailability,
)

# Plain functions over a session, shared by views, CLI and tests: validate (a DomainError names each offending
# field), apply, audit; the caller commits. Error keys follow WTForms' nested field names ("rows-2-ends",
# "intervals-0-starts") so that a form view can put each message beside its input.

WEEKDAY_CODES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # audit entries are language-neutral
MAX_OVERRIDE_DAYS = 366
MAX_TEXT = 200


# --------------------------------------------------------------------------- permissions


def manageable_experts(session: Session, user: User) -> list[Expert]:
    query = select(Expert).join(Department, Department.id == Expert.department_id).where(
        condition(user, Action.MANAGE_SCHEDULE, department=Expert.department_id, people=[Expert.user_id]))
    experts = session.scalars(query.order_by(Department.title, Expert.id)).unique().all()
    return sorted(experts, key=lambda e: (e.department.title, e.name.casefold(), e.id))


def manageable_locations(session: Session, user: User) -> list[Location]:
    query = select(Location).where(condition(user, Action.MANAGE_RECEPTION_DAYS, department=Location.department_id,
                                             location=Location.id))
    return list(session.scalars(query.order_by(Location.name, Location.id)))


def reception_days_at(session: Session, locations: Sequence[Location]) -> list[ReceptionDay]:
    if not locations:
        return []
    return list(
        session.scalars(
            select(ReceptionDay)
            .where(ReceptionDay.location_id.in_([loc.id for loc in locations]))
            .options(selectinload(ReceptionDay.location), selectinload(ReceptionDay.topics),
                     selectinload(ReceptionDay.experts))
            .order_by(ReceptionDay.location_id, ReceptionDay.starts, ReceptionDay.id)
        )
    )


def department_scope(session: Session, department_ids: Collection[int] | None) -> tuple[list[Topic], list[Expert]]:
    """In-person topics and experts a reception day may name: these departments', or everyone's (None)."""
    topics = select(Topic).where(Topic.allows_in_person.is_(True))
    experts = select(Expert)
    if department_ids is not None:
        topics = topics.where(Topic.department_id.in_(department_ids))
        experts = experts.where(Expert.department_id.in_(department_ids))
    return (list(session.scalars(topics.order_by(Topic.title, Topic.id))),
            sorted(session.scalars(experts).unique(), key=lambda e: (e.name.casefold(), e.id)))


def expert_locations(session: Session, expert: Expert) -> list[Location]:
    """Offices an expert's in-person weekly hours may be tied to: their department's, or shared ones."""
    return list(session.scalars(
        select(Location)
        .where(or_(Location.department_id == expert.department_id, Location.department_id.is_(None)))
        .order_by(Location.name, Location.id)
    ))


# --------------------------------------------------------------------------- pure validation


@dataclass(frozen=True)
class WeeklyRow:
    """One submitted line of a weekly pattern; a line with neither start nor end is an unused blank."""

    weekday: int | None
    starts: time | None
    ends: time | None
    valid_from: date | None = None
    valid_to: date | None = None
    location_id: int | None = None

    @property
    def is_blank(self) -> bool:
        return self.starts is None and self.ends is None


def times_overlap(a: tuple[time, time], b: tuple[time, time]) -> bool:
    """Half-open intervals: 9-12 and 12-13 touch and do not overlap."""
    return a[0] < b[1] and b[0] < a[1]


def periods_meet(a_from: date | None, a_to: date | None, b_from: date | None, b_to: date | None) -> bool:
    """Whether two inclusive validity periods share a day (None = open-ended)."""
    return (a_from is None or b_to is None or a_from <= b_to) and (b_from is None or a_to is None or b_from <= a_to)


def hhmm(value: time) -> str:
    return value.strftime("%H:%M")


def _pair_errors(key: str, starts: time | None, ends: time | None) -> dict[str, str]:
    if starts is None:
        return {f"{key}-starts": _("Enter the start time.")}
    if ends is None:
        return {f"{key}-ends": _("Enter the end time.")}
    if ends <= starts:
        return {f"{key}-ends": _("The end must be after the start.")}
    return {}


def interval_errors(intervals: Sequence[tuple[time | None, time | None]], prefix: str = "intervals") -> dict[str, str]:
    """Messages for a day's intervals: each complete, ending after it starts, none overlapping another."""
    errors: dict[str, str] = {}
    complete: list[tuple[int, tuple[time, time]]] = []
    for i, (starts, ends) in enumerate(intervals):
        if starts is None and ends is None:
            continue
        found = _pair_errors(f"{prefix}-{i}", starts, ends)
        errors.update(found)
        if not found:
            complete.append((i, (starts, ends)))  # type: ignore[arg-type]
    for (_i, a), (j, b) in combinations(complete, 2):
        key = f"{prefix}-{j}-starts"
        if key not in errors and times_overlap(a, b):
            errors[key] = _("Overlaps %(start)s–%(end)s.", start=hhmm(a[0]), end=hhmm(a[1]))
    return errors


def weekly_row_errors(rows: Sequence[WeeklyRow], prefix: str = "rows") -> dict[str, str]:
    """Messages for a weekly pattern: weekday range, complete times, end after start, valid dates in order,
    and no two intervals of one weekday overlapping on a day when both are valid."""
    errors: dict[str, str] = {}
    complete: list[tuple[int, WeeklyRow]] = []
    for i, row in enumerate(rows):
        if row.is_blank:
            continue
        key = f"{prefix}-{i}"
        found = _pair_errors(key, row.starts, row.ends)
        if row.weekday is None or not 0 <= row.weekday <= 6:
            found[f"{key}-weekday"] = _("Choose a day of the week.")
        if row.valid_from and row.valid_to and row.valid_to < row.valid_from:
            found[f"{key}-valid_to"] = _("The last day must not be before the first day.")
        errors.update(found)
        if not found:
            complete.append((i, row))
    for (_i, a), (j, b) in combinations(complete, 2):
        key = f"{prefix}-{j}-starts"
        if (key not in errors and a.weekday == b.weekday
                and times_overlap((a.starts, a.ends), (b.starts, b.ends))  # type: ignore[arg-type]
                and periods_meet(a.valid_from, a.valid_to, b.valid_from, b.valid_to)):
            errors[key] = _("Overlaps %(start)s–%(end)s on the same day of the week.",
                            start=hhmm(a.starts), end=hhmm(a.ends))  # type: ignore[arg-type]
    return errors


# --------------------------------------------------------------------------- weekly availability


def describe_weekly(weekday: int, starts: time, ends: time, valid_from: date | None = None,
                    valid_to: date | None = None, location_id: int | None = None) -> str:
    """A compact, stable text of one weekly row for the audit log ("mon 09:00-12:00 from 2025-01-01")."""
    text = f"{WEEKDAY_CODES[weekday]} {hhmm(starts)}-{hhmm(ends)}"
    if valid_from:
        text += f" from {valid_from.isoformat()}"
    if valid_to:
        text += f" to {valid_to.isoformat()}"
    if location_id is not None:
        text += f" at location {location_id}"
    return text


def weekly_rows(session: Session, expert: Expert, channel: Channel | None = None) -> list[WeeklyAvailability]:
    query = select(WeeklyAvailability).where(WeeklyAvailability.expert_id == expert.id)
    if channel is not None:
        query = query.where(WeeklyAvailability.channel == channel)
    order = (WeeklyAvailability.weekday, WeeklyAvailability.starts, WeeklyAvailability.valid_from,
             WeeklyAvailability.id)
    return list(session.scalars(query.order_by(*order)))


def weekly_errors(session: Session, expert: Expert, channel: Channel, rows: Sequence[WeeklyRow],
                  prefix: str = "rows") -> dict[str, str]:
    """Messages for one channel's weekly pattern of ``expert``: the rows themselves, and each in-person row's
    office among the expert's (their department's or a shared one); video hours have no office."""
    errors = weekly_row_errors(rows, prefix)
    allowed_locations = {loc.id for loc in expert_locations(session, expert)}
    for i, row in enumerate(rows):
        if row.is_blank or row.location_id is None:
            continue
        if channel == Channel.VIDEO:
            errors.setdefault(f"{prefix}-{i}-location_id", _("Video hours are not tied to an office."))
        elif row.location_id not in allowed_locations:
            errors.setdefault(f"{prefix}-{i}-location_id", _("Choose an office of the expert's department."))
    return errors


def set_weekly_availability(session: Session, actor: Actor, expert: Expert, channel: Channel | str,
                            rows: Sequence[WeeklyRow]) -> list[WeeklyAvailability]:
    """Replace the expert's weekly pattern on ``channel`` with ``rows`` (blank lines ignored).

    Replacing the whole pattern, rather than editing rows one by one, keeps the overlap rule
    checkable in one place and gives the audit log one before/after pair per save.
    """
    channel = Channel(channel)
    errors = weekly_errors(session, expert, channel, rows)
    if errors:
        raise DomainError(errors)

    existing = weekly_rows(session, expert, channel)
    filled = [r for r in rows if not r.is_blank]
    before = sorted(describe_weekly(r.weekday, r.starts, r.ends, r.valid_from, r.valid_to, r.location_id)
                    for r in existing)
    after = sorted(describe_weekly(r.weekday, r.starts, r.ends, r.valid_from, r.valid_to, r.location_id)  # type: ignore[arg-type]
                   for r in filled)
    if before == after:
        return existing
    for old in existing:
        session.delete(old)
    session.flush()
    created = [
        WeeklyAvailability(expert_id=expert.id, channel=channel, weekday=r.weekday, starts=r.starts, ends=r.ends,
                           valid_from=r.valid_from, valid_to=r.valid_to, location_id=r.location_id)
        for r in filled
    ]
    session.add_all(created)
    session.flush()
    record(session, actor, "schedule.weekly_set", "expert", expert.id, {f"weekly_{channel.value}": [before, after]},
           department_id=expert.department_id)
    return created


# --------------------------------------------------------------------------- date overrides


def _override_snapshot(row: DateOverride) -> dict[str, Any]:
    return {
        "expert_id": row.expert_id,
        "kind": OverrideKind(row.kind).value,
        "first_day": row.first_day.isoformat(),
        "last_day": row.last_day.isoformat(),
        "channel": Channel(row.channel).value if row.channel else None,
        "intervals": list(row.intervals or []),
        "reason": row.reason,
    }


def current_overrides(session: Session, expert: Expert, today: date) -> list[DateOverride]:
    """Overrides that still matter: ending today or later, soonest first."""
    return list(session.scalars(
        select(DateOverride)
        .where(DateOverride.expert_id == expert.id, DateOverride.last_day >= today)
        .order_by(DateOverride.first_day, DateOverride.id)
    ))


def override_errors(*, kind: OverrideKind, first_day: date, last_day: date, reason: str,
                    intervals: Sequence[tuple[time | None, time | None]] = ()) -> dict[str, str]:
    """Messages for a date override: days in order and at most a year apart, a short reason, and for
    replacement hours at least one interval, each complete and none overlapping another."""
    errors: dict[str, str] = {}
    if last_day < first_day:
        errors["last_day"] = _("The last day must not be before the first day.")
    elif (last_day - first_day).days >= MAX_OVERRIDE_DAYS:
        errors["last_day"] = _("An override may cover at most %(days)d days.", days=MAX_OVERRIDE_DAYS)
    if len(reason) > MAX_TEXT:
        errors["reason"] = _("At most %(count)d characters.", count=MAX_TEXT)
    if kind == OverrideKind.HOURS:
        errors.update(interval_errors(intervals))
        complete = [(a, b) for a, b in intervals if a is not None and b is not None]
        if not complete and not any(k.startswith("intervals-") for k in errors):
            errors["intervals-0-starts"] = _("Enter at least one interval of hours.")
    return errors


def add_override(session: Session, actor: Actor, expert: Expert, *, kind: OverrideKind | str, first_day: date,
                 last_day: date | None = None, channel: Channel | str | None = None,
                 intervals: Sequence[tuple[time | None, time | None]] = (), reason: str = "") -> DateOverride:
    """Record an absence over ``first_day..last_day``, or replacement hours on those dates.

    Intervals are ignored for an absence: a form may still carry times typed before the kind changed.
    """
    kind = OverrideKind(kind)
    channel = Channel(channel) if channel else None
    last_day = last_day or first_day
    reason = (reason or "").strip()
    errors = override_errors(kind=kind, first_day=first_day, last_day=last_day, intervals=intervals, reason=reason)
    if errors:
        raise DomainError(errors)
    stored: list[list[str]] = []
    if kind == OverrideKind.HOURS:
        complete = sorted((a, b) for a, b in intervals if a is not None and b is not None)
        stored = [[hhmm(a), hhmm(b)] for a, b in complete]

    row = DateOverride(expert_id=expert.id, first_day=first_day, last_day=last_day, kind=kind, channel=channel,
                       intervals=stored, reason=reason)
    session.add(row)
    session.flush()
    record(session, actor, "schedule.override_added", "date_override", row.id,
           {name: [None, value] for name, value in _override_snapshot(row).items()},
           department_id=expert.department_id)
    return row


def delete_override(session: Session, actor: Actor, override: DateOverride) -> None:
    record(session, actor, "schedule.override_deleted", "date_override", override.id,
           {name: [value, None] for name, value in _override_snapshot(override).items()},
           department_id=override.expert.department_id)
    session.delete(override)
    session.flush()


# --------------------------------------------------------------------------- reception days


def _reception_snapshot(day: ReceptionDay) -> dict[str, Any]:
    return {
        "location_id": day.location_id,
        "title": day.title,
        "weekdays": sorted(day.weekdays or []),
        "starts": hhmm(day.starts),
        "ends": hhmm(day.ends),
        "valid_from": day.valid_from.isoformat() if day.valid_from else None,
        "valid_to": day.valid_to.isoformat() if day.valid_to else None,
        "topic_ids": sorted(t.id for t in day.topics),
        "expert_ids": sorted(e.id for e in day.experts),
    }


def reception_day_errors(*, location: Location | None, title: str, weekdays: Iterable[int], starts: time | None,
                         ends: time | None, valid_from: date | None, valid_to: date | None, topics: Sequence[Topic],
                         experts: Sequence[Expert]) -> dict[str, str]:
    """Messages for a reception day: an office, a title, weekdays and hours, and topics and experts of the
    office's department, the topics offered in person and each expert consulting on one of them."""
    weekday_list = sorted(set(weekdays))
    errors: dict[str, str] = {}
    if location is None:
        errors["location_id"] = _("Choose an office.")
    if not title:
        errors["title"] = _("Enter a title.")
    elif len(title) > MAX_TEXT:
        errors["title"] = _("At most %(count)d characters.", count=MAX_TEXT)
    if not weekday_list:
        errors["weekdays"] = _("Choose at least one day of the week.")
    elif any(not 0 <= d <= 6 for d in weekday_list):
        errors["weekdays"] = _("Choose a day of the week.")
    errors.update({k.removeprefix("hours-"): v for k, v in _pair_errors("hours", starts, ends).items()})
    if valid_from and valid_to and valid_to < valid_from:
        errors["valid_to"] = _("The last day must not be before the first day.")
    department_id = location.department_id if location is not None else None
    if not topics:
        errors["topics"] = _("Choose at least one topic.")
    else:
        foreign = [t.title for t in topics if department_id is not None and t.department_id != department_id]
        remote = [t.title for t in topics if not t.allows_in_person]
        if foreign:
            errors["topics"] = _("Not topics of the office's department: %(names)s.", names=", ".join(foreign))
        elif remote:
            errors["topics"] = _("Not offered in person: %(names)s.", names=", ".join(remote))
    if not experts:
        errors["experts"] = _("Choose at least one expert on duty.")
    else:
        topic_ids = {t.id for t in topics}
        foreign = [e.name for e in experts if department_id is not None and e.department_id != department_id]
        idle = [e.name for e in experts if topic_ids and not topic_ids & {t.id for t in e.topics}]
        if foreign:
            errors["experts"] = _("Not experts of the office's department: %(names)s.", names=", ".join(foreign))
        elif idle:
            errors["experts"] = _("Consult on none of the chosen topics: %(names)s.", names=", ".join(idle))
    return errors


def save_reception_day(session: Session, actor: Actor, day: ReceptionDay | None, *, location: Location | None,
                       title: str, weekdays: Iterable[int], starts: time | None, ends: time | None,
                       valid_from: date | None, valid_to: date | None, topics: Sequence[Topic],
                       experts: Sequence[Expert]) -> ReceptionDay:
    """Create (``day`` None) or update a recurring in-person reception at an office.

    Topics and experts must belong to the office's department, topics must be offered in person,
    and each expert must consult on one of the topics: otherwise the day would silently offer nothing.
    """
    title = (title or "").strip()
    weekday_list = sorted(set(weekdays))
    errors = reception_day_errors(location=location, title=title, weekdays=weekday_list, starts=starts, ends=ends,
                                  valid_from=valid_from, valid_to=valid_to, topics=topics, experts=experts)
    if errors:
        raise DomainError(errors)
    assert location is not None and starts is not None and ends is not None

    before = _reception_snapshot(day) if day is not None else None
    if day is None:
        day = ReceptionDay()
        session.add(day)
    day.location = location
    day.location_id = location.id
    day.title = title
    day.weekdays = weekday_list
    day.starts, day.ends = starts, ends
    day.valid_from, day.valid_to = valid_from, valid_to
    day.topics = list(topics)
    day.experts = list(experts)
    session.flush()
    after = _reception_snapshot(day)
    if before is None:
        record(session, actor, "schedule.reception_day_created", "reception_day", day.id,
               {name: [None, value] for name, value in after.items()}, department_id=day.location.department_id)
    else:
        changes = {name: [before[name], value] for name, value in after.items() if before[name] != value}
        if changes:
            record(session, actor, "schedule.reception_day_updated", "reception_day", day.id, changes,
                   department_id=day.location.department_id)
    return day


def delete_reception_day(session: Session, actor: Actor, day: ReceptionDay) -> None:
    record(session, actor, "schedule.reception_day_deleted", "reception_day", day.id,
           {name: [value, None] for name, value in _reception_snapshot(day).items()},
           department_id=day.location.department_id)
    session.delete(day)
    session.flush()


def _exception_snapshot(row: ReceptionException) -> dict[str, Any]:
    return {
        "reception_day_id": row.reception_day_id,
        "day": row.day.isoformat(),
        "is_cancelled": row.is_cancelled,
        "starts": hhmm(row.starts) if row.starts else None,
        "ends": hhmm(row.ends) if row.ends else None,
        "reason": row.reason,
    }


def reception_exception_errors(valid_from: date | None, valid_to: date | None, taken: Iterable[date], *,
                               day: date, is_cancelled: bool, starts: time | None, ends: time | None,
                               reason: str) -> dict[str, str]:
    """Messages for an exception to a reception day held ``valid_from..valid_to`` whose exceptions already
    take the dates ``taken``: a date in that period and free, both hours unless cancelled, a short reason."""
    errors: dict[str, str] = {}
    if (valid_from and day < valid_from) or (valid_to and day > valid_to):
        errors["day"] = _("The date is outside the period when this reception is held.")
    elif day in set(taken):
        errors["day"] = _("This date already has an exception; delete it first.")
    if not is_cancelled:
        errors.update({k.removeprefix("hours-"): v for k, v in _pair_errors("hours", starts, ends).items()})
    if len(reason) > MAX_TEXT:
        errors["reason"] = _("At most %(count)d characters.", count=MAX_TEXT)
    return errors


def add_reception_exception(session: Session, actor: Actor, reception_day: ReceptionDay, *, day: date,
                            is_cancelled: bool, starts: time | None = None, ends: time | None = None,
                            reason: str = "") -> ReceptionException:
    """Cancel a reception on one date, or hold it at other hours that date."""
    reason = (reason or "").strip()
    errors = reception_exception_errors(reception_day.valid_from, reception_day.valid_to,
                                        [e.day for e in reception_day.exceptions], day=day,
                                        is_cancelled=is_cancelled, starts=starts, ends=ends, reason=reason)
    if errors:
        raise DomainError(errors)

    row = ReceptionException(day=day, is_cancelled=is_cancelled, starts=None if is_cancelled else starts,
                             ends=None if is_cancelled else ends, reason=reason)
    reception_day.exceptions.append(row)
    session.flush()
    record(session, actor, "schedule.reception_exception_added", "reception_exception", row.id,
           {name: [None, value] for name, value in _exception_snapshot(row).items()},
           department_id=reception_day.location.department_id)
    return row


def delete_reception_exception(session: Session, actor: Actor, exception: ReceptionException) -> None:
    record(session, actor, "schedule.reception_exception_deleted", "reception_exception", exception.id,
           {name: [value, None] for name, value in _exception_snapshot(exception).items()},
           department_id=exception.reception_day.location.department_id)
    exception.reception_day.exceptions.remove(exception)
    session.flush()
