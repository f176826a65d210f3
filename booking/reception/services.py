"""Reception desk operations: check-in, walk-ins, calling visitors and starting consultations.

The desk's states of an in-person booking (``visit_state``) extend the booking's own status:
a checked-in booking is *waiting* until called (``called_at``), then *called*, then *in
consultation* (``started_at``); ``TRANSITIONS`` in ``booking.models`` still guards every status
change. Walk-ins with no free time left go to a waiting list (``WaitingEntry``). How a visit ends
(completion, no-show, the no-show sweep) is ``booking.consultation``'s, shared with the workspace.

Concurrency: every operation on a booking first locks its row (``SELECT ... FOR UPDATE`` on
PostgreSQL; on SQLite every write transaction is ``BEGIN IMMEDIATE``), then re-reads its state,
so two desks checking in the same visitor get one success and one "already checked in". Queue
numbers are taken under a lock on the location's row, so they never repeat within a day.

Services never commit and never read the request: the views and the periodic job commit once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from booking.availability import expand_reception_days, search_slots
from booking.citizens import NAME_MAX, CitizenDetails, normalise_phone
from booking.codes import normalise_code
from booking.consultation import lock_booking, lock_row
from booking.models import ApplicantType, Booking, BookingStatus
from booking.reception.models import WaitingEntry, WaitingStatus
from booking.services import BookingPolicy, SlotTaken, confirm_booking, hold_slot, transition
from scheduler.audit import Actor, record
from scheduler.departments.models import Location, Topic
from scheduler.errors import DomainError, ErrorCode
from scheduler.experts.models import Expert
from scheduler.schedules.models import Channel, ReceptionDay


@dataclass(frozen=True)
class Windows:
    """How early and how late (minutes around the start) a visitor may check in."""

    early_minutes: int = 60
    late_minutes: int = 15


# --------------------------------------------------------------------------- reading the day


def local_today(location: Location, now: datetime) -> date:
    return now.astimezone(location.zone).date()


def day_bounds(location: Location, day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=location.zone)
    return start, start + timedelta(days=1)


def visit_state(booking: Booking) -> str:
    """What the desk shows: expected, checked_in, called, in_consultation, completed, no_show, cancelled."""
    if booking.status == BookingStatus.CHECKED_IN:
        if booking.started_at is not None:
            return "in_consultation"
        return "called" if booking.called_at is not None else "checked_in"
    if booking.status in (BookingStatus.CONFIRMED, BookingStatus.PENDING):
        return "expected"
    return booking.status.value


def waiting_state(entry: WaitingEntry) -> str:
    return {WaitingStatus.WAITING: "checked_in", WaitingStatus.CALLED: "called",
            WaitingStatus.STARTED: "in_consultation", WaitingStatus.SERVED: "completed",
            WaitingStatus.LEFT: "no_show"}[entry.status]


def day_bookings(session: Session, location: Location, day: date) -> list[Booking]:
    """The location's in-person bookings of a local day, by time (pending holds left out)."""
    start, end = day_bounds(location, day)
    return list(session.scalars(
        select(Booking)
        .where(Booking.location_id == location.id, Booking.channel == Channel.IN_PERSON,
               Booking.starts_at >= start, Booking.starts_at < end, Booking.status != BookingStatus.PENDING)
        .options(selectinload(Booking.topic), selectinload(Booking.expert))
        .order_by(Booking.starts_at, Booking.id)
    ))


def day_waiting(session: Session, location: Location, day: date) -> list[WaitingEntry]:
    return list(session.scalars(
        select(WaitingEntry).where(WaitingEntry.location_id == location.id, WaitingEntry.day == day)
        .order_by(WaitingEntry.queue_number)
    ))


def on_duty(session: Session, location: Location, day: date) -> tuple[list[Expert], list[Topic]]:
    """The experts on duty and the topics received at the location on a local date."""
    patterns = session.scalars(
        select(ReceptionDay).where(ReceptionDay.location_id == location.id)
        .options(selectinload(ReceptionDay.topics), selectinload(ReceptionDay.experts),
                 selectinload(ReceptionDay.exceptions), selectinload(ReceptionDay.location))
    ).all()
    calendar = location.department.working_calendar if location.department is not None else None
    weekday_of = calendar.effective_weekday if calendar is not None else (lambda d: d.weekday())
    windows = [w for w in expand_reception_days(patterns, day, day, weekday_of) if w.day == day]
    expert_ids = set().union(*(w.expert_ids for w in windows)) if windows else set()
    topic_ids = set().union(*(w.topic_ids for w in windows)) if windows else set()
    experts = list(session.scalars(select(Expert).where(Expert.id.in_(expert_ids)).order_by(Expert.id)))
    topics = list(session.scalars(select(Topic).where(Topic.id.in_(topic_ids)).order_by(Topic.title)))
    return experts, topics


def duty_locations(session: Session, expert: Expert, day_of: Any) -> list[Location]:
    """Locations where the expert is on duty today (``day_of(location)`` gives its local date)."""
    found = []
    locations = session.scalars(
        select(Location).join(ReceptionDay, ReceptionDay.location_id == Location.id)
        .where(ReceptionDay.experts.any(Expert.id == expert.id)).distinct().order_by(Location.name)
    ).all()
    for location in locations:
        experts, _ = on_duty(session, location, day_of(location))
        if any(e.id == expert.id for e in experts):
            found.append(location)
    return found


def waiting_figures(bookings: list[Booking], waiting: list[WaitingEntry]) -> dict[str, int]:
    states = [visit_state(b) for b in bookings] + [waiting_state(w) for w in waiting]
    return {"waiting": states.count("checked_in"), "called": states.count("called"),
            "in_consultation": states.count("in_consultation"), "completed": states.count("completed"),
            "expected": states.count("expected")}


# --------------------------------------------------------------------------- locks and numbers


def _lock_booking(session: Session, code: str) -> Booking | None:
    booking_id = session.scalar(select(Booking.id).where(Booking.code == normalise_code(code)[:16]))
    return lock_row(session, Booking, booking_id) if booking_id is not None else None


def next_queue_number(session: Session, location: Location, day: date) -> int:
    """The day's next number at this location, over checked-in bookings and the waiting list."""
    lock_row(session, Location, location.id)
    start, end = day_bounds(location, day)
    booked = session.scalar(select(func.max(Booking.queue_number)).where(
        Booking.location_id == location.id, Booking.starts_at >= start, Booking.starts_at < end)) or 0
    waiting = session.scalar(select(func.max(WaitingEntry.queue_number)).where(
        WaitingEntry.location_id == location.id, WaitingEntry.day == day)) or 0
    return max(booked, waiting) + 1


# --------------------------------------------------------------------------- check-in


def check_in(session: Session, code: str, location: Location, now: datetime, windows: Windows,
             actor: Actor) -> Booking:
    """Check a visitor in by the booking code (typed, or read from the QR code by a scanner)."""
    booking = _lock_booking(session, code)
    if booking is None or booking.status == BookingStatus.PENDING:
        raise DomainError({"code": _l("No booking has this code. Check the code.")}, code=ErrorCode.NOT_FOUND)
    zone = location.zone
    if booking.channel != Channel.IN_PERSON or booking.location_id != location.id:
        where = booking.location.name if booking.location is not None else _l("by video")
        raise DomainError({"code": _l("This booking is for another place: %(where)s.", where=where)},
                          code=ErrorCode.WRONG_LOCATION)
    if booking.starts_at.astimezone(zone).date() != local_today(location, now):
        raise DomainError({"code": _l("This booking is for another day: %(day)s.",
                                      day=booking.starts_at.astimezone(zone).strftime("%d.%m.%Y"))},
                          code=ErrorCode.WRONG_DAY)
    if booking.status == BookingStatus.CHECKED_IN:
        raise DomainError({"code": _l("This visitor is already checked in (queue number %(n)s).",
                                      n=booking.queue_number)}, code=ErrorCode.ALREADY_CHECKED_IN)
    if booking.status != BookingStatus.CONFIRMED:
        raise DomainError({"code": _l("This booking cannot be checked in: it is no longer active.")},
                          code=ErrorCode.CONFLICT)
    if now < booking.starts_at - timedelta(minutes=windows.early_minutes):
        raise DomainError({"code": _l("Too early: check-in opens %(n)s minutes before the appointment.",
                                      n=windows.early_minutes)}, code=ErrorCode.TOO_EARLY)
    if now > booking.starts_at + timedelta(minutes=windows.late_minutes):
        raise DomainError({"code": _l("Too late: the appointment started more than %(n)s minutes ago. "
                                      "Register the visitor as a walk-in.", n=windows.late_minutes)},
                          code=ErrorCode.TOO_LATE)
    transition(session, booking, BookingStatus.CHECKED_IN, "checked_in", actor, now)
    booking.checked_in_at = now
    booking.queue_number = next_queue_number(session, location, local_today(location, now))
    return booking


# --------------------------------------------------------------------------- walk-ins


@dataclass
class WalkIn:
    queue_number: int
    booking: Booking | None = None
    entry: WaitingEntry | None = None


def register_walk_in(session: Session, *, location: Location, topic: Topic, name: str, phone: str, now: datetime,
                     policy: BookingPolicy, actor: Actor) -> WalkIn:
    """A visitor without a booking: the nearest free in-person time today, or the waiting list.

    A walk-in has no email: the booking is made by the desk, confirmed and checked in at once,
    and nothing is mailed.
    """
    errors: dict[str, object] = {}
    clean_name = " ".join(name.split())
    if not clean_name or len(clean_name) > NAME_MAX:
        errors["name"] = _l("Enter the visitor's name.")
    clean_phone = ""
    try:
        clean_phone = normalise_phone(phone)
    except DomainError as exc:
        errors.update(exc.fields)
    today = local_today(location, now)
    _experts, topics = on_duty(session, location, today)
    if topic.id not in {t.id for t in topics}:
        errors["topic"] = _l("This topic is not received here today.")
    if errors:
        raise DomainError(errors)
    citizen = CitizenDetails(clean_name, "", clean_phone, ApplicantType.INDIVIDUAL)
    number = next_queue_number(session, location, today)
    slots = [s for s in search_slots(session, topic, Channel.IN_PERSON.value, today, today, now)
             if s.location is not None and s.location.id == location.id]
    for found in slots:
        try:
            with session.begin_nested():
                held = hold_slot(session, topic=topic, channel=Channel.IN_PERSON.value, start=found.start,
                                 citizen=citizen, question="", now=now, policy=policy, actor=actor,
                                 expert_id=found.expert.id, source="desk")
        except SlotTaken:
            continue
        booking = held.booking
        booking.is_walk_in = True
        confirm_booking(session, booking, now, actor)
        transition(session, booking, BookingStatus.CHECKED_IN, "checked_in", actor, now, walk_in=True)
        booking.checked_in_at = now
        booking.queue_number = number
        return WalkIn(number, booking=booking)
    entry = WaitingEntry(location_id=location.id, topic_id=topic.id, day=today, queue_number=number,
                         visitor_name=clean_name, visitor_phone=clean_phone, registered_at=now)
    session.add(entry)
    session.flush()
    record(session, actor, "reception.waiting_added", "waiting", str(entry.id),
           {"queue_number": [None, number], "topic": [None, topic.id]}, department_id=location.department_id)
    return WalkIn(number, entry=entry)


# --------------------------------------------------------------------------- calling and consulting


def _call_refused() -> DomainError:
    return DomainError({"booking": _l("This visitor cannot be called now.")}, code=ErrorCode.CONFLICT)


def call_next(session: Session, location: Location, now: datetime, window: str, actor: Actor,
              expert: Expert | None = None) -> Booking | WaitingEntry | None:
    """Call the next checked-in visitor to a window: bookings by time, then the waiting list.

    With an expert, only that expert's visitors and waiting walk-ins on that expert's topics.
    ``None`` when nobody waits.
    """
    window = " ".join(window.split())[:40]
    if not window:
        raise DomainError({"window": _l("Say which window or room the visitor goes to.")})
    start, end = day_bounds(location, local_today(location, now))
    query = select(Booking.id).where(
        Booking.location_id == location.id, Booking.status == BookingStatus.CHECKED_IN,
        Booking.called_at.is_(None), Booking.starts_at >= start, Booking.starts_at < end,
    ).order_by(Booking.starts_at, Booking.checked_in_at, Booking.id)
    if expert is not None:
        query = query.where(Booking.expert_id == expert.id)
    for booking_id in session.scalars(query).all():
        booking = lock_row(session, Booking, booking_id)
        if booking.status != BookingStatus.CHECKED_IN or booking.called_at is not None:
            continue  # another window called them a moment ago
        _call(session, booking, now, window, actor)
        return booking
    waiting = select(WaitingEntry.id).where(
        WaitingEntry.location_id == location.id, WaitingEntry.day == local_today(location, now),
        WaitingEntry.status == WaitingStatus.WAITING,
    ).order_by(WaitingEntry.queue_number)
    if expert is not None:
        waiting = waiting.where(WaitingEntry.topic_id.in_([t.id for t in expert.topics]))
    for entry_id in session.scalars(waiting).all():
        entry = lock_row(session, WaitingEntry, entry_id)
        if entry.status != WaitingStatus.WAITING:
            continue
        entry.status = WaitingStatus.CALLED
        entry.called_at = now
        entry.call_window = window
        entry.expert_id = expert.id if expert is not None else None
        record(session, actor, "reception.waiting_called", "waiting", str(entry.id), {"window": [None, window]},
               department_id=entry.location.department_id)
        return entry
    return None


def _call(session: Session, booking: Booking, now: datetime, window: str, actor: Actor) -> None:
    booking.called_at = now
    booking.call_window = window
    _event(session, booking, "called", actor, now, window=window)


def _event(session: Session, booking: Booking, kind: str, actor: Actor, now: datetime, **details: Any) -> None:
    """A desk step that keeps the status (checked in) but is part of the history."""
    from booking.models import BookingEvent

    booking.events.append(BookingEvent(at=now, kind=kind, from_status=booking.status.value,
                                       to_status=booking.status.value, actor_type=actor.kind,
                                       actor_label=actor.label, details=details))
    record(session, actor, f"booking.{kind}", "booking", booking.code, details,
           department_id=booking.topic.department_id)


def start_consultation(session: Session, booking: Booking, now: datetime, actor: Actor) -> None:
    """The called visitor sits down: the consultation starts."""
    booking = lock_booking(session, booking)
    if visit_state(booking) != "called":
        raise DomainError({"booking": _l("Only a called visitor can start a consultation.")}, code=ErrorCode.CONFLICT)
    booking.started_at = now
    _event(session, booking, "started", actor, now)


def move_waiting(session: Session, entry: WaitingEntry, to: WaitingStatus, now: datetime, actor: Actor) -> None:
    """Start, finish or give up a waiting-list visit (the waiting list's own state machine)."""
    entry = lock_row(session, WaitingEntry, entry.id)
    if not entry.can_become(to):
        raise DomainError({"booking": _l("This visitor cannot change like that any more.")}, code=ErrorCode.CONFLICT)
    before = entry.status
    entry.status = to
    if to == WaitingStatus.STARTED:
        entry.started_at = now
    elif to == WaitingStatus.SERVED:
        entry.started_at = entry.started_at or now
        entry.completed_at = now
    elif to == WaitingStatus.LEFT:
        entry.left_at = now
    record(session, actor, f"reception.waiting_{to.value}", "waiting", str(entry.id),
           {"status": [before.value, to.value]}, department_id=entry.location.department_id)


def called_now(bookings: list[Booking], waiting: list[WaitingEntry]) -> list[dict[str, Any]]:
    """What the lobby shows: queue numbers called to windows, newest first (no personal data)."""
    rows = [{"number": b.queue_number, "window": b.call_window, "at": b.called_at,
             "state": visit_state(b)} for b in bookings if visit_state(b) in ("called", "in_consultation")]
    rows += [{"number": w.queue_number, "window": w.call_window, "at": w.called_at, "state": waiting_state(w)}
             for w in waiting if waiting_state(w) in ("called", "in_consultation")]
    return sorted(rows, key=lambda r: r["at"], reverse=True)
