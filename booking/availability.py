"""Free-slot search: loads schedules and bookings for a whole range and runs the slot engine.

One query per kind of input (experts, weekly rows, overrides, reception days, bookings),
whatever the length of the range; the rules themselves live in ``scheduler.availability.engine``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, String, select, type_coerce
from sqlalchemy.orm import Session, selectinload

from booking.models import ACTIVE_STATUSES, Booking, keeps_its_time
from booking.slot_cache import cached_slots
from scheduler.availability.engine import (
    BusyIndex,
    ReceptionWindow,
    Slot,
    TopicRules,
    WeeklyInterval,
    find_slots,
)
from scheduler.availability.engine import (
    DateOverride as EngineOverride,
)
from scheduler.departments.models import Location, Topic
from scheduler.experts.models import Expert, expert_topics
from scheduler.schedules.models import DateOverride, ReceptionDay, WeeklyAvailability

# The longest search one request may ask for; longer ranges are refused, not truncated.
MAX_RANGE_DAYS = 62
# A booking is one engine slot, and slots never cross midnight (engine rule 4).
LONGEST_BOOKING = timedelta(days=1)


@dataclass(frozen=True)
class FoundSlot:
    """A free slot with what a page or the API shows about it."""

    slot: Slot
    expert: Expert
    location: Location | None

    @property
    def start(self) -> datetime:
        return self.slot.start

    @property
    def end(self) -> datetime:
        return self.slot.end


def topic_rules(topic: Topic) -> TopicRules:
    return TopicRules(
        topic_id=topic.id,
        duration=topic.duration,
        slot_interval=timedelta(minutes=topic.slot_interval_minutes) if topic.slot_interval_minutes else None,
        buffer=topic.buffer,
        min_notice=timedelta(minutes=topic.min_notice_minutes),
        horizon_days=topic.horizon_days,
        seats=topic.seats,
        channels=frozenset(topic.channels),
    )


def engine_weekly(rows: Iterable[Any]) -> list[WeeklyInterval]:
    """Weekly availability rows (``WeeklyAvailability`` objects, or rows of its columns of the same
    names) as the pure hours rule reads them."""
    return [
        WeeklyInterval(r.expert_id, r.channel.value, r.weekday, r.starts, r.ends, r.valid_from, r.valid_to,  # type: ignore[arg-type]
                       r.location_id)
        for r in rows
    ]


def engine_overrides(rows: Iterable[DateOverride]) -> list[EngineOverride]:
    """Date overrides as the pure hours rule reads them."""
    return [
        EngineOverride(o.expert_id, o.first_day, o.last_day, o.kind.value, o.channel.value if o.channel else None,  # type: ignore[arg-type]
                       o.parsed_intervals())
        for o in rows
    ]


def topic_experts(session: Session, topic: Topic, expert_id: int | None = None) -> list[Expert]:
    query = (
        select(Expert)
        .join(expert_topics, expert_topics.c.expert_id == Expert.id)
        .where(expert_topics.c.topic_id == topic.id, Expert.is_active.is_(True))
        .order_by(Expert.id)
    )
    if expert_id is not None:
        query = query.where(Expert.id == expert_id)
    return list(session.scalars(query).unique())


def expand_reception_days(
    days: Iterable[ReceptionDay], first_day: date, last_day: date, effective_weekday: object
) -> list[ReceptionWindow]:
    """Concrete reception windows per date from the recurring patterns and their exceptions.

    On a transferred working weekend day a pattern follows the weekday the decree names
    (the department calendar's ``effective_weekday``); the engine drops non-working days.
    """
    weekday_of = effective_weekday  # callable(date) -> int | None
    windows: list[ReceptionWindow] = []
    for pattern in days:
        exceptions = {e.day: e for e in pattern.exceptions}
        zone = ZoneInfo(pattern.location.timezone)
        topic_ids = frozenset(t.id for t in pattern.topics)
        expert_ids = frozenset(e.id for e in pattern.experts)
        day = first_day - timedelta(days=1)  # a location east of the department may start a day early
        while day <= last_day + timedelta(days=1):
            in_validity = (pattern.valid_from is None or day >= pattern.valid_from) and (
                pattern.valid_to is None or day <= pattern.valid_to
            )
            weekday = weekday_of(day)  # type: ignore[operator]
            if in_validity and (weekday if weekday is not None else day.weekday()) in (pattern.weekdays or []):
                starts, ends = pattern.starts, pattern.ends
                exception = exceptions.get(day)
                if exception is not None:
                    if exception.is_cancelled or exception.starts is None or exception.ends is None:
                        day += timedelta(days=1)
                        continue
                    starts, ends = exception.starts, exception.ends
                windows.append(ReceptionWindow(pattern.location_id, day, starts, ends, zone, topic_ids, expert_ids))
            day += timedelta(days=1)
    return windows


def search_slots(
    session: Session,
    topic: Topic,
    channel: str,
    first_day: date,
    last_day: date,
    now: datetime,
    expert_id: int | None = None,
    exclude_booking_id: int | None = None,
    *,
    cached: bool = False,
    recent: bool = False,
    experts: list[Expert] | None = None,
) -> list[FoundSlot]:
    """Free slots of ``topic`` on ``channel`` for the local dates ``first_day..last_day``.

    ``exclude_booking_id`` leaves one booking out of the busy times, so that a reschedule
    may move within (or next to) its own current time. ``cached`` lets the answer come from
    ``booking.slot_cache`` (at most ``SLOT_CACHE_SECONDS`` old, see there): for what is shown,
    never for the check a booking makes under its lock. ``recent`` (with ``cached``): entries a
    few seconds old serve whatever was booked since, for the offers made with a refusal.
    ``experts``: what ``topic_experts`` would read, when the caller has it already.
    """
    if channel not in topic.channels:
        return []
    if experts is None:
        experts = topic_experts(session, topic, expert_id)
    if not experts:
        return []
    ids = [e.id for e in experts]
    tz = topic.department.zone

    def compute(first: date, last: date) -> list[Slot]:
        return _engine_slots(session, topic, channel, ids, first, last, now, exclude_booking_id)

    if cached and exclude_booking_id is None:
        slots = cached_slots(
            session, (topic.id, channel, expert_id), first_day, last_day, now,
            today=now.astimezone(tz).date(), earliest=max(now, now + timedelta(minutes=topic.min_notice_minutes)),
            day_of_instant=lambda instant: instant.astimezone(tz).date(), compute=compute, recent=recent,
        )
    else:
        slots = compute(first_day, last_day)
    by_id = {e.id: e for e in experts}
    locations = _locations(session, {s.location_id for s in slots if s.location_id is not None})
    return [FoundSlot(s, by_id[s.expert_id], locations.get(s.location_id) if s.location_id else None)
            for s in slots if s.expert_id in by_id]


def _engine_slots(
    session: Session,
    topic: Topic,
    channel: str,
    ids: list[int],
    first_day: date,
    last_day: date,
    now: datetime,
    exclude_booking_id: int | None,
) -> list[Slot]:
    """The engine's slots for the experts ``ids``: one query per kind of input, rows read as tuples."""
    department = topic.department
    tz = department.zone
    calendar = department.working_calendar
    weekly = engine_weekly(session.execute(  # the columns alone: rows, not objects
        select(WeeklyAvailability.expert_id, WeeklyAvailability.channel, WeeklyAvailability.weekday,
               WeeklyAvailability.starts, WeeklyAvailability.ends, WeeklyAvailability.valid_from,
               WeeklyAvailability.valid_to, WeeklyAvailability.location_id)
        .where(WeeklyAvailability.expert_id.in_(ids))
    ))
    pad = timedelta(days=1)
    overrides = engine_overrides(
        session.scalars(
            select(DateOverride).where(
                DateOverride.expert_id.in_(ids),
                DateOverride.last_day >= first_day - pad,
                DateOverride.first_day <= last_day + pad,
            )
        )
    )
    reception: list[ReceptionWindow] = []
    if channel == "in_person":
        patterns = session.scalars(
            select(ReceptionDay)
            .where(ReceptionDay.topics.any(Topic.id == topic.id))
            .options(
                selectinload(ReceptionDay.topics),
                selectinload(ReceptionDay.experts),
                selectinload(ReceptionDay.exceptions),
                selectinload(ReceptionDay.location),
            )
        ).all()
        reception = expand_reception_days(patterns, first_day, last_day, calendar.effective_weekday)

    busy = busy_index(session, ids, first_day, last_day, tz, now, exclude_booking_id)
    return find_slots(
        topic=topic_rules(topic), channel=channel, first_day=first_day, last_day=last_day,  # type: ignore[arg-type]
        now=now, tz=tz, calendar=calendar, business_hours=department.hours_by_weekday(), expert_ids=ids,
        weekly=weekly, overrides=overrides, reception=reception, busy=busy,
    )


def _locations(session: Session, ids: set[int]) -> dict[int, Location]:
    if not ids:
        return {}
    return {loc.id: loc for loc in session.scalars(select(Location).where(Location.id.in_(ids)))}


def busy_index(
    session: Session,
    expert_ids: Sequence[int],
    first_day: date,
    last_day: date,
    tz: ZoneInfo,
    now: datetime,
    exclude_booking_id: int | None = None,
) -> BusyIndex:
    """Live bookings and unexpired holds of the experts around the range, straight into the engine's
    index: the instants are read as the driver gives them and put in UTC here, with no object per
    booking (thousands per search)."""
    # SQLite keeps instants as naive UTC text, which datetime.fromisoformat reads many times faster
    # than the generic DateTime type does; other drivers give datetimes.
    text = session.get_bind().dialect.name == "sqlite"
    plain = String() if text else Booking.starts_at.type.impl
    query = _busy_query(expert_ids, first_day, last_day, tz, now, exclude_booking_id,
                        type_coerce(Booking.starts_at, plain), type_coerce(Booking.ends_at, plain))
    as_utc = _text_as_utc if text else _as_utc
    return BusyIndex.from_utc(
        (expert_id, as_utc(starts_at), as_utc(ends_at) + timedelta(minutes=minutes), topic_id, location_id)
        for expert_id, topic_id, starts_at, ends_at, minutes, location_id in session.execute(query)
    )


def _as_utc(value: datetime) -> datetime:
    """A driver's timestamp as an aware UTC instant."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value if value.tzinfo is UTC else value.astimezone(UTC)


def _text_as_utc(value: str) -> datetime:
    """SQLite's stored text of an instant (naive UTC, as UTCDateTime writes it) as an aware UTC instant."""
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _busy_query(
    expert_ids: Sequence[int],
    first_day: date,
    last_day: date,
    tz: ZoneInfo,
    now: datetime,
    exclude_booking_id: int | None,
    starts: Any = Booking.starts_at,
    ends: Any = Booking.ends_at,
) -> Select[Any]:
    """Live bookings and unexpired holds of the experts around the range.

    Bounded by date on both sides (``ix_bookings_expert_start``), so the cost does not grow with
    the experts' past: a booking is made from an engine slot, which never crosses midnight, so one
    that ends inside the range started at most ``LONGEST_BOOKING`` before it.
    """
    range_start = datetime.combine(first_day - timedelta(days=2), time(0), tzinfo=tz)
    range_end = datetime.combine(last_day + timedelta(days=2), time(0), tzinfo=tz)
    query = (
        select(Booking.expert_id, Booking.topic_id, starts, ends, Topic.buffer_minutes, Booking.location_id)
        .join(Topic, Topic.id == Booking.topic_id)
        .where(
            Booking.expert_id.in_(expert_ids),
            Booking.status.in_(ACTIVE_STATUSES),
            Booking.starts_at < range_end,
            Booking.starts_at >= range_start - LONGEST_BOOKING,
            Booking.ends_at > range_start,
            keeps_its_time(now),
        )
    )
    if exclude_booking_id is not None:
        query = query.where(Booking.id != exclude_booking_id)
    return query


def expert_day_slots(
    session: Session,
    topic: Topic,
    channel: str,
    day: date,
    expert: Expert,
    now: datetime,
    exclude_booking_id: int | None = None,
) -> list[FoundSlot]:
    """Free slots of one expert (known to consult on ``topic``) on one local date of the department.

    What a booking re-checks under the expert's lock: the same loaders and engine as
    ``search_slots``, for one expert and one date only, always read from the database (never from
    ``booking.slot_cache``), so the check sees every booking committed before the lock was taken.
    """
    if channel not in topic.channels:
        return []
    slots = _engine_slots(session, topic, channel, [expert.id], day, day, now, exclude_booking_id)
    locations = _locations(session, {s.location_id for s in slots if s.location_id is not None})
    return [FoundSlot(s, expert, locations.get(s.location_id) if s.location_id else None) for s in slots]
