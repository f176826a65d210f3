"""Supervisor analytics: the dashboard's figures, aggregated by the database.

Every figure is for a period of *local* dates (``first`` to ``last`` inclusive), read in the time
zone of the booking's department (the topic's department), and narrowed by a :class:`StatsFilter`.

Definitions
-----------
* A *booking* is any booking except a pending hold (an unconfirmed hold is not a booking yet); it
  counts on the local date of its consultation (``starts_at``), whatever its status:
  ``made`` = all of them; ``held`` = completed; ``cancelled``; ``no_show``; ``walk_ins`` =
  ``is_walk_in``; ``online`` = video, ``in_person`` = in person.
* *Waiting time at reception* = ``called_at - checked_in_at`` for bookings that have both: the
  mean in minutes, and how many waits it is the mean of.
* *Utilisation* = booked consultation minutes ÷ available minutes. Booked minutes: the length
  (``ends_at - starts_at``) of bookings that took the expert's time: confirmed, checked in,
  completed, no-show. Available minutes: for each expert of the departments in scope (narrowed by
  topic to the experts who take it, by channel and location to those weekly rows; a location
  means the in-person channel), on each of the department's working days of the period, the
  expert's hours for each channel in scope on that date, exactly as the slot engine reads them
  (``scheduler.availability.hours.ExpertHours.channel_hours``: the weekly rows, or that day's
  "hours" override of the channel; nothing on an absence of the channel, so a video-only
  absence keeps the in-person hours), united over the channels (overlapping rows of different
  channels count once) and intersected with the office's hours on that date
  (``scheduler.calendar.office_hours_on``: the business hours of the effective weekday, an hour
  shorter on a pre-holiday day). Reception days are ignored. This is the schedule arithmetic of
  a few hundred rows, done in Python; the bookings are summed by the database.
* *Follow-ups*: ``opened`` = tickets opened on a local date of the period (the owing department's
  zone, narrowed by every filter through the consultation); the deadline figures (due, answered on
  time, overdue, confirmation and reopen rates) are :func:`booking.tickets.rating.period_rating`'s,
  counted on the due date; that function narrows by department, topic and channel only.

Local dates in SQL: on PostgreSQL in the department's IANA zone, exactly, daylight saving time
included: the zone's offsets over the period (:func:`zone_offsets`, usually one) are worked out once
and the query adds the one in force at each instant, the same local date as ``timezone(zone,
instant)`` at a fraction of its cost per row; on SQLite, which has no zones, with each department's
UTC offset at the start of the period (exact for zones without daylight saving time: every Russian
and Kazakh zone today), as the rating does.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Date,
    Float,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    literal_column,
    not_,
    null,
    or_,
    select,
    tuple_,
)
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.sql.elements import ColumnElement

from booking.availability import engine_overrides, engine_weekly
from booking.models import Booking, BookingStatus
from booking.tickets.models import Ticket
from booking.tickets.rating import RatingRow, department_rating, period_rating, period_totals
from scheduler.availability.hours import Channel as EngineChannel
from scheduler.availability.hours import ExpertHours, intersect_intervals, merge_intervals
from scheduler.departments.models import Department, Topic
from scheduler.experts.models import Expert, expert_topics
from scheduler.schedules.models import DateOverride, WeeklyAvailability

# Statuses whose consultation took (or was to take) the expert's time.
TIME_TAKING = (BookingStatus.CONFIRMED, BookingStatus.CHECKED_IN, BookingStatus.COMPLETED, BookingStatus.NO_SHOW)


@dataclass(frozen=True)
class StatsFilter:
    """The period (local dates, inclusive) and the filters; ``department_ids`` None means every department."""

    first: date
    last: date
    department_ids: tuple[int, ...] | None = None
    topic_id: int | None = None
    channel: str | None = None
    applicant_type: str | None = None
    location_id: int | None = None

    def year_earlier(self) -> StatsFilter:
        return replace(self, first=_year_back(self.first), last=_year_back(self.last))

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


def _year_back(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


# --- results ------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Counts:
    """Booking counts for one group (the whole period, a topic, a channel, a month or a day)."""

    key: str = ""
    label: str = ""
    made: int = 0
    held: int = 0
    cancelled: int = 0
    no_show: int = 0
    walk_ins: int = 0
    online: int = 0
    in_person: int = 0
    individuals: int = 0
    legal_entities: int = 0


@dataclass(frozen=True)
class Summary:
    """The dashboard's headline figures for a period."""

    counts: Counts
    booked_minutes: int
    available_minutes: int
    waits: int
    avg_wait_minutes: float | None
    followups_opened: int
    followups_due: int
    followups_answered: int
    followups_on_time: int
    followups_overdue: int
    followups_confirmed: int
    followups_reopened: int

    @property
    def utilisation(self) -> float | None:
        return self.booked_minutes / self.available_minutes if self.available_minutes else None

    @property
    def confirmation_rate(self) -> float | None:
        return self.followups_confirmed / self.followups_answered if self.followups_answered else None

    @property
    def reopen_rate(self) -> float | None:
        return self.followups_reopened / self.followups_answered if self.followups_answered else None

    @property
    def on_time_rate(self) -> float | None:
        return self.followups_on_time / self.followups_due if self.followups_due else None


@dataclass
class Dashboard:
    """Everything the dashboard, the exports and the API show."""

    filters: StatsFilter
    summary: Summary
    previous: Summary
    by_topic: list[Counts] = field(default_factory=list)
    by_channel: list[Counts] = field(default_factory=list)
    by_month: list[Counts] = field(default_factory=list)
    by_day: list[Counts] = field(default_factory=list)
    rating: list[RatingRow] = field(default_factory=list)
    rating_daily: list[RatingRow] = field(default_factory=list)


# --- SQL building blocks --------------------------------------------------------------------------

def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _departments_query(filters: StatsFilter) -> Any:
    query = select(Department).order_by(Department.title, Department.id)
    if filters.department_ids is not None:
        query = query.where(Department.id.in_(filters.department_ids))
    return query


def _departments(session: Session, filters: StatsFilter) -> list[Department]:
    return list(session.scalars(_departments_query(filters)))


def _shift(departments: list[Department], department_column: Any, at: datetime) -> Any:
    """SQLite: the per-department ``'+180 minutes'`` modifier that turns UTC into local wall time."""
    modifiers = {}
    for department in departments:
        offset = department.zone.utcoffset(at.replace(tzinfo=None)) or timedelta(0)
        modifiers[department.id] = f"{int(offset.total_seconds() // 60):+d} minutes"
    return case(modifiers, value=department_column, else_="+0 minutes") if modifiers else "+0 minutes"


# Since 1970 no zone of the time zone database has changed its UTC offset twice within a week (the
# closest two changes are 6.9 days apart), so a zone's offset sampled once a day misses no change.
_OFFSET_STEP = timedelta(days=1)


@lru_cache(maxsize=256)
def zone_offsets(zone_key: str, lower: datetime, upper: datetime) -> tuple[tuple[datetime, timedelta], ...]:
    """The UTC offsets of an IANA zone over the instants ``lower`` to ``upper``: ``(from, offset)`` pairs, the first
    from ``lower``, each change at the exact instant (to the microsecond) where the zone's clocks change."""
    zone = ZoneInfo(zone_key)

    def offset(at: datetime) -> timedelta:
        return at.astimezone(zone).utcoffset() or timedelta(0)

    pieces = [(lower, offset(lower))]
    at = lower
    while at < upper:
        step = min(at + _OFFSET_STEP, upper)
        if offset(step) != pieces[-1][1]:
            before, after = at, step  # the change lies in (before, after]
            while after - before > timedelta(microseconds=1):
                middle = before + (after - before) // 2
                before, after = (middle, after) if offset(middle) == pieces[-1][1] else (before, middle)
            pieces.append((after, offset(after)))
        at = step
    return tuple(pieces)


def _pg_interval(offset: timedelta) -> Any:
    # Literal SQL of a number worked out here: the expression reads the same wherever it is used (PostgreSQL
    # matches a grouped expression to a selected one by its text).
    return literal_column(f"INTERVAL '{int(offset / timedelta(microseconds=1))} microseconds'")


def _pg_timestamp(at: datetime) -> Any:
    return literal_column(f"TIMESTAMPTZ '{at.isoformat()}'")


def _pg_offset(departments: list[Department], department_column: Any, column: Any, lower: datetime,
               upper: datetime) -> Any:
    """PostgreSQL: the UTC offset of each department's zone at the instant in ``column`` (within lower..upper)."""
    whens = {}
    for department in departments:
        pieces = zone_offsets(department.timezone, lower, upper)
        offset = _pg_interval(pieces[-1][1])
        if len(pieces) > 1:  # daylight saving time: the offset by instant
            offset = case(*((column < _pg_timestamp(start), _pg_interval(before))
                            for (_, before), (start, _) in pairwise(pieces)), else_=offset)
        whens[literal_column(str(int(department.id)))] = offset
    return case(whens, value=department_column) if whens else None


def _pg_local_days(departments: list[Department], department_column: Any, column: Any, lower: datetime,
                   upper: datetime, first: date, last: date) -> ColumnElement[bool]:
    """PostgreSQL: whether the instant in ``column`` falls on a local date from ``first`` to ``last`` in its
    department's zone, as ranges of instants (exact: while an offset holds, local dates follow the instants)."""
    since, until = (datetime.combine(day, time(), tzinfo=UTC) for day in (first, last + timedelta(days=1)))
    ranges = []
    for department in departments:
        pieces = zone_offsets(department.timezone, lower, upper)
        ends = [start for start, _ in pieces[1:]] + [upper]
        for (start, offset), end in zip(pieces, ends, strict=True):
            # Local dates first..last are the instants since - offset .. until - offset while the offset holds.
            begins, stops = max(start, since - offset), min(end, until - offset)
            if begins < stops:
                ranges.append(and_(department_column == literal_column(str(int(department.id))),
                                   column >= _pg_timestamp(begins), column < _pg_timestamp(stops)))
    return or_(*ranges) if ranges else false()


class _Local:
    """Local date of an instant column, in the zone of the department in ``department_column``."""

    def __init__(self, session: Session, departments: list[Department], department_column: Any,
                 filters: StatsFilter) -> None:
        self.postgres = _is_postgres(session)
        self.departments = departments
        self.department_column = department_column
        self.bounds = _utc_bounds(filters)
        self.shift = None if self.postgres else _shift(
            departments, department_column, datetime.combine(filters.first, time(), tzinfo=UTC))

    def day(self, column: Any) -> Any:
        if self.postgres:
            # The zone's offset worked out here for the period (exactly, daylight saving time included) instead of
            # timezone(zone, instant) for each row, which was most of the time a year's bookings took.
            offset = _pg_offset(self.departments, self.department_column, column, *self.bounds)
            if offset is None:
                return cast(null(), Date)
            return cast(func.timezone(literal_column("'UTC'"), column) + offset, Date)
        return func.date(column, self.shift)

    def day_between(self, column: Any, first: date, last: date) -> ColumnElement[bool]:
        if self.postgres:
            return _pg_local_days(self.departments, self.department_column, column, *self.bounds, first, last)
        return self.day(column).between(first.isoformat(), last.isoformat())


def _utc_bounds(filters: StatsFilter) -> tuple[datetime, datetime]:
    """Instants surely enclosing every zone's local days of the period (lets an index on the instant work)."""
    return (datetime.combine(filters.first - timedelta(days=1), time(), tzinfo=UTC),
            datetime.combine(filters.last + timedelta(days=2), time(), tzinfo=UTC))


def _minutes(session: Session, start: Any, end: Any) -> Any:
    if _is_postgres(session):
        return func.extract("epoch", end - start) / 60
    return (func.julianday(end) - func.julianday(start)) * 1440


def _count_if(condition: Any) -> Any:
    return func.count().filter(condition)


def _minutes_if(session: Session, start: Any, end: Any, condition: Any) -> Any:
    """The sum of ``end - start`` in minutes over the rows where ``condition`` holds, 0 when none (a float)."""
    if _is_postgres(session):
        # Summing intervals and converting once is exact and cheaper than an epoch per row.
        total = func.extract("epoch", func.sum(end - start).filter(condition)) / 60
    else:
        total = func.sum(_minutes(session, start, end)).filter(condition)
    return func.coalesce(total, 0).cast(Float)


def _is_a_booking() -> ColumnElement[bool]:
    """A pending hold is not a booking yet."""
    return Booking.status != BookingStatus.PENDING


def _booking_filters(filters: StatsFilter) -> list[Any]:
    conditions: list[Any] = [_is_a_booking()]
    if filters.department_ids is not None:
        conditions.append(Topic.department_id.in_(filters.department_ids))
    if filters.topic_id is not None:
        conditions.append(Booking.topic_id == filters.topic_id)
    if filters.channel is not None:
        conditions.append(Booking.channel == filters.channel)
    if filters.applicant_type is not None:
        conditions.append(Booking.applicant_type == filters.applicant_type)
    if filters.location_id is not None:
        conditions.append(Booking.location_id == filters.location_id)
    return conditions


def _count_columns(b: Any = Booking) -> list[Any]:
    """The counts of :class:`Counts`, in its order, over ``b``: the bookings, or a subquery of their columns."""
    return [
        func.count(),
        _count_if(b.status == BookingStatus.COMPLETED),
        _count_if(b.status == BookingStatus.CANCELLED),
        _count_if(b.status == BookingStatus.NO_SHOW),
        _count_if(b.is_walk_in.is_(True)),
        _count_if(b.channel == "video"),
        _count_if(b.channel == "in_person"),
        _count_if(b.applicant_type == "individual"),
        _count_if(b.applicant_type == "legal_entity"),
    ]


def _counts(key: Any, label: Any, values: Iterable[Any]) -> Counts:
    made, held, cancelled, no_show, walk_ins, online, in_person, individuals, legal = (int(v or 0) for v in values)
    return Counts(str(key), str(label), made, held, cancelled, no_show, walk_ins, online, in_person, individuals,
                  legal)


def _booking_local(session: Session, filters: StatsFilter) -> _Local:
    return _Local(session, _departments(session, filters), Topic.department_id, filters)


def _bookings_query(filters: StatsFilter, *columns: Any) -> Any:
    """SELECT ``columns`` over the filtered bookings starting within the period's UTC bounds (a day's margin
    either side: the caller keeps the local dates of the period)."""
    lower, upper = _utc_bounds(filters)
    return (select(*columns).select_from(Booking).join(Topic, Topic.id == Booking.topic_id)
            .where(*_booking_filters(filters), Booking.starts_at >= lower, Booking.starts_at < upper))


# --- the figures ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class BookingFigures:
    """The period's booking figures, whole and grouped, from one scan (:func:`booking_figures`)."""

    totals: Counts
    booked_minutes: int
    waits: int
    avg_wait_minutes: float | None
    by_topic: list[Counts]
    by_channel: list[Counts]
    by_month: list[Counts]
    by_day: list[Counts]


_COUNT_FIELDS = 9  # the values of _count_columns(), in Counts' order


def _add(into: dict[Any, list[float]], key: Any, values: list[float]) -> None:
    total = into.get(key)
    if total is None:
        into[key] = list(values)
    else:
        for n, value in enumerate(values):
            total[n] += value


def booking_figures(session: Session, filters: StatsFilter) -> BookingFigures:
    """Every booking figure of the period from one scan of its bookings.

    The totals, days and months are sums of the bookings grouped by local day; topics and channels
    sums of those grouped by topic and channel. On PostgreSQL one pass over the bookings builds both
    groupings at once (``GROUPING SETS``: a few hundred groups for a year); SQLite, which has no
    grouping sets, groups by local day, topic and channel together (a few thousand groups) and each
    group is added to both here. Either way the local date of a booking is worked out by the
    database, and bookings outside the period's local dates are left out by the query.
    """
    local = _booking_local(session, filters)
    # The period's bookings with their local date, then grouped; the offset keeps PostgreSQL from merging
    # the two (it would then guess tens of thousands of groups for the date and sort a year's bookings
    # to group them instead of hashing the few hundred there are).
    b = _bookings_query(filters, local.day(Booking.starts_at).label("day"), Booking.topic_id,
                        Booking.channel, Booking.status, Booking.is_walk_in, Booking.applicant_type,
                        Booking.starts_at, Booking.ends_at, Booking.checked_in_at, Booking.called_at)
    b = (b.offset(0) if local.postgres else b).subquery().c
    wait = and_(b.called_at.is_not(None), b.checked_in_at.is_not(None))
    keys = (b.day, b.topic_id, b.channel)
    values = (*_count_columns(b), _minutes_if(session, b.starts_at, b.ends_at, b.status.in_(TIME_TAKING)),
              _count_if(wait), _minutes_if(session, b.checked_in_at, b.called_at, wait))
    if local.postgres:
        # grouping(): a bit set for each key the row is *not* grouped by (4 day, 2 topic, 1 channel).
        query = select(*keys, func.grouping(*keys), *values).group_by(
            func.grouping_sets(tuple_(b.day), tuple_(b.topic_id, b.channel)))
    else:
        query = select(*keys, literal(0), *values).group_by(*keys)
    query = query.where(b.day.between(*((filters.first, filters.last) if local.postgres
                                        else (filters.first.isoformat(), filters.last.isoformat()))))
    whole: list[float] = [0] * (_COUNT_FIELDS + 3)
    topics: dict[Any, list[float]] = {}
    channels: dict[Any, list[float]] = {}
    months: dict[Any, list[float]] = {}
    days: dict[Any, list[float]] = {}
    for row in session.execute(query):
        rolled_up = row[3]
        numbers = [float(v or 0) for v in row[4:]]
        counts = numbers[:_COUNT_FIELDS]
        if not rolled_up & 4:
            key = str(row[0])  # a date (PostgreSQL) or its ISO text (SQLite)
            for n, value in enumerate(numbers):
                whole[n] += value
            _add(months, key[:7], counts)
            _add(days, key, counts)
        if not rolled_up & 2:
            _add(topics, row[1], counts)
        if not rolled_up & 1:
            _add(channels, str(getattr(row[2], "value", row[2])), counts)
    titles = {t.id: (t.slug, t.title) for t in session.scalars(select(Topic).where(Topic.id.in_(list(topics))))} \
        if topics else {}
    *counts, minutes, waits, waited_minutes = whole
    return BookingFigures(
        totals=_counts("total", "", counts), booked_minutes=round(minutes), waits=int(waits),
        avg_wait_minutes=round(waited_minutes / waits, 1) if waits else None,
        by_topic=sorted((_counts(*titles[t], v) for t, v in topics.items()), key=lambda c: c.key),
        by_channel=[_counts(k, k, v) for k, v in sorted(channels.items())],
        by_month=[_counts(k, k, v) for k, v in sorted(months.items())],
        by_day=[_counts(k, k, v) for k, v in sorted(days.items())],
    )


def booking_totals(session: Session, filters: StatsFilter) -> tuple[Counts, int, int, float | None]:
    """Counts for the whole period, booked minutes, and the number and mean (minutes) of reception waits."""
    figures = booking_figures(session, filters)
    return figures.totals, figures.booked_minutes, figures.waits, figures.avg_wait_minutes


def by_topic(session: Session, filters: StatsFilter) -> list[Counts]:
    return booking_figures(session, filters).by_topic


def by_channel(session: Session, filters: StatsFilter) -> list[Counts]:
    return booking_figures(session, filters).by_channel


def by_month(session: Session, filters: StatsFilter) -> list[Counts]:
    """Seasonality: one row per local month (``YYYY-MM``) of the period."""
    return booking_figures(session, filters).by_month


def by_day(session: Session, filters: StatsFilter) -> list[Counts]:
    return booking_figures(session, filters).by_day


def followups_opened(session: Session, filters: StatsFilter) -> int:
    """Tickets opened on a local date of the period (the owing department's zone), filtered through the consultation."""
    departments = _departments(session, filters)
    local = _Local(session, departments, Ticket.department_id, filters)
    lower, upper = _utc_bounds(filters)
    # The owing department is the ticket's (it may differ from the consultation's); the rest go through the booking.
    conditions = _booking_filters(replace(filters, department_ids=None))
    query = (select(func.count(Ticket.id)).select_from(Ticket)
             .where(Ticket.opened_at >= lower, Ticket.opened_at < upper,
                    local.day_between(Ticket.opened_at, filters.first, filters.last)))
    if len(conditions) == 1:  # no filter but the bookings' own rule: leave out the tickets of pending holds, found
        # by the index of active bookings, instead of joining every ticket to its booking
        query = query.where(~exists().where(Booking.id == Ticket.booking_id, not_(_is_a_booking())))
    else:
        query = query.join(Booking, Booking.id == Ticket.booking_id).where(*conditions)
    if filters.department_ids is not None:
        query = query.where(Ticket.department_id.in_(filters.department_ids))
    return int(session.scalar(query) or 0)


def _rating_args(filters: StatsFilter) -> dict[str, Any]:
    return {"topic_ids": [filters.topic_id] if filters.topic_id is not None else None, "channel": filters.channel}


def rating(session: Session, filters: StatsFilter, now: datetime) -> tuple[list[RatingRow], list[RatingRow]]:
    """The department rating for the period and by day (booking.tickets.rating, reused as is)."""
    daily = department_rating(session, filters.first, filters.last, now, filters.department_ids,
                              **_rating_args(filters))
    return period_totals(daily), daily


# --- available time -------------------------------------------------------------------------------

def _minutes_in(intervals: Iterable[tuple[datetime, datetime]]) -> int:
    return sum(int((end - start).total_seconds()) // 60 for start, end in intervals)


def available_minutes(session: Session, filters: StatsFilter) -> int:
    """Experts' available minutes in the period (see the module's definition of utilisation).

    Three queries for the whole period (experts, weekly rows, overrides); the day-by-day schedule
    arithmetic is the slot engine's own rule (``ExpertHours``), run in Python.
    """
    departments = {d.id: d for d in session.scalars(
        _departments_query(filters).options(selectinload(Department.hours)))}  # their calendars read the hours
    if not departments:
        return 0
    experts = select(Expert.id, Expert.department_id).where(Expert.department_id.in_(list(departments)))
    if filters.topic_id is not None:
        experts = experts.where(Expert.id.in_(
            select(expert_topics.c.expert_id).where(expert_topics.c.topic_id == filters.topic_id)))
    department_of: dict[int, int] = {e: d for e, d in session.execute(experts)}
    if not department_of:
        return 0
    # Columns, not objects: a large centre has a thousand weekly rows and only their values are read.
    weekly = select(WeeklyAvailability.expert_id, WeeklyAvailability.channel, WeeklyAvailability.weekday,
                    WeeklyAvailability.starts, WeeklyAvailability.ends, WeeklyAvailability.valid_from,
                    WeeklyAvailability.valid_to, WeeklyAvailability.location_id).where(
        WeeklyAvailability.expert_id.in_(list(department_of)))
    if filters.channel is not None:
        weekly = weekly.where(WeeklyAvailability.channel == filters.channel)
    if filters.location_id is not None:
        weekly = weekly.where(WeeklyAvailability.location_id == filters.location_id)
    rows = engine_weekly(session.execute(weekly))
    overrides = engine_overrides(session.scalars(select(DateOverride).where(
        DateOverride.expert_id.in_(list(department_of)), DateOverride.first_day <= filters.last,
        DateOverride.last_day >= filters.first)))
    # An office is visited in person; without a channel filter every channel counts, once.
    channels: tuple[EngineChannel, ...]
    if filters.channel is not None:
        channels = (filters.channel,)  # type: ignore[assignment]
    elif filters.location_id is not None:
        channels = ("in_person",)
    else:
        channels = ("video", "in_person")

    total = 0
    for department in departments.values():
        members = [e for e, d in department_of.items() if d == department.id]
        mine = set(members)
        calendar = department.working_calendar
        own_rows = [r for r in rows if r.expert_id in mine]
        own_overrides = [o for o in overrides if o.expert_id in mine]
        hours = ExpertHours(own_rows, own_overrides, calendar, department.hours_by_weekday())

        def minutes(expert_id: int, day: date, hours: ExpertHours = hours) -> int:
            own = merge_intervals(iv for channel in channels for iv in hours.channel_hours(expert_id, channel, day))
            return _minutes_in(intersect_intervals(own, hours.office(day)))

        # Without an override, an expert's minutes on a day follow from their weekly rows alone: experts
        # of the same pattern (most of a large centre) share the sum.
        patterns: dict[tuple[Any, date], int] = {}

        # An expert's minutes on a day depend on the date only through the effective weekday, whether it is
        # a pre-holiday day, which of their weekly rows are valid and any override: days alike in all of
        # these (most of a year) are counted once, on the first of them, and multiplied by how many there
        # are. Days with an override are counted each.
        alike: dict[tuple[int | None, bool], list[date]] = {}  # the period's working days by kind, in order
        day = filters.first
        while day <= filters.last:
            if hours.office(day):
                alike.setdefault((hours.effective_weekday(day), calendar.is_pre_holiday(day)), []).append(day)
            day += timedelta(days=1)
        for expert_id in members:
            # The dates on which a weekly row of theirs starts or stops being valid split each kind of day.
            bounds = sorted({d for r in own_rows if r.expert_id == expert_id
                             for d in (r.valid_from, r.valid_to + timedelta(days=1) if r.valid_to else None) if d})
            spans = [(o.first_day, o.last_day) for o in own_overrides if o.expert_id == expert_id]
            pattern = tuple(sorted((r.channel, r.weekday, r.start, r.end, r.valid_from or date.min,
                                    r.valid_to or date.max, r.location_id or 0)
                                   for r in own_rows if r.expert_id == expert_id))
            for days in alike.values():
                cuts = [0, *(bisect_left(days, bound) for bound in bounds), len(days)]
                for start, stop in pairwise(cuts):
                    same = days[start:stop]
                    if spans:
                        overridden = {d for d in same if any(first <= d <= last for first, last in spans)}
                        total += sum(minutes(expert_id, d) for d in sorted(overridden))
                        same = [d for d in same if d not in overridden]
                    if same:
                        key = (pattern, same[0])
                        if key not in patterns:
                            patterns[key] = minutes(expert_id, same[0])
                        total += len(same) * patterns[key]
    return total


# --- the dashboard --------------------------------------------------------------------------------

def summary(session: Session, filters: StatsFilter, now: datetime, totals: list[RatingRow] | None = None,
            figures: BookingFigures | None = None) -> Summary:
    """The headline figures; ``totals`` and ``figures``: the period's rating rows and booking figures when the
    caller has them already."""
    if figures is None:
        figures = booking_figures(session, filters)
    counts, booked, waits, avg_wait = (figures.totals, figures.booked_minutes, figures.waits,
                                       figures.avg_wait_minutes)
    if totals is None:
        totals = period_rating(session, filters.first, filters.last, now, filters.department_ids,
                               **_rating_args(filters))
    return Summary(
        counts=counts, booked_minutes=booked, available_minutes=available_minutes(session, filters), waits=waits,
        avg_wait_minutes=avg_wait, followups_opened=followups_opened(session, filters),
        followups_due=sum(r.due for r in totals), followups_answered=sum(r.answered for r in totals),
        followups_on_time=sum(r.answered_on_time for r in totals), followups_overdue=sum(r.overdue for r in totals),
        followups_confirmed=sum(r.confirmed for r in totals), followups_reopened=sum(r.reopened for r in totals),
    )


def dashboard(session: Session, filters: StatsFilter, now: datetime) -> Dashboard:
    """All the dashboard's figures for ``filters``, with the same period a year earlier."""
    period, daily = rating(session, filters, now)
    figures = booking_figures(session, filters)
    return Dashboard(
        filters=filters, summary=summary(session, filters, now, period, figures),
        previous=summary(session, filters.year_earlier(), now),
        by_topic=figures.by_topic, by_channel=figures.by_channel, by_month=figures.by_month, by_day=figures.by_day,
        rating=period, rating_daily=daily,
    )
