"""Running a consultation: who may see it, the expert's day, no-show, completion with an outcome, notes.

Plain functions over a session (views, jobs and tests share them); they never commit.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from booking.models import Booking, BookingNote, BookingStatus, Outcome
from booking.services import transition
from scheduler.audit import Actor, record
from scheduler.auth.models import Role, User
from scheduler.departments.models import Topic
from scheduler.errors import DomainError
from scheduler.experts.models import Expert
from scheduler.schedules.services import can_manage

MAX_NOTE = 5000

# What the workspace lists: unconfirmed holds are the citizen's business until confirmed.
LISTED_STATUSES = (BookingStatus.CONFIRMED, BookingStatus.CHECKED_IN, BookingStatus.COMPLETED,
                   BookingStatus.NO_SHOW, BookingStatus.CANCELLED)


# --------------------------------------------------------------------------- permissions


def can_view(user: User, booking: Booking) -> bool:
    """The assigned expert, supervisors of the booking's department and admins: they alone see the citizen."""
    if user.role == Role.ADMIN:
        return True
    if user.role == Role.SUPERVISOR:
        return user.department_id is not None and user.department_id == booking.topic.department_id
    if user.role == Role.EXPERT:
        return booking.expert.user_id == user.id
    return False


def can_see_calendar(user: User, expert: Expert) -> bool:
    """Experts see their own calendar; supervisors any expert's of their department; admins all.

    The same people who may manage the expert's schedule.
    """
    return can_manage(user, expert)


def visible_experts(session: Session, user: User) -> list[Expert]:
    """Whose calendars the user may open, by name."""
    query = select(Expert)
    if user.role == Role.SUPERVISOR:
        if user.department_id is None:
            return []
        query = query.where(Expert.department_id == user.department_id)
    elif user.role == Role.EXPERT:
        query = query.where(Expert.user_id == user.id)
    elif user.role != Role.ADMIN:
        return []
    return sorted(session.scalars(query).unique(), key=lambda e: (e.name.casefold(), e.id))


def own_expert(session: Session, user: User) -> Expert | None:
    return session.scalars(select(Expert).where(Expert.user_id == user.id)).first()


# --------------------------------------------------------------------------- the calendar


def local_day_bounds(first: date, days: int, zone: tzinfo) -> tuple[datetime, datetime]:
    """The instants that open the first local day and close the last one (DST days are 23 or 25 hours)."""
    start = datetime.combine(first, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(first + timedelta(days=days), time(0), tzinfo=zone).astimezone(UTC)
    return start, end


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def expert_bookings(session: Session, expert: Expert, starts: datetime, ends: datetime) -> list[Booking]:
    """The expert's consultations that start in [starts, ends), by start."""
    query = (
        select(Booking)
        .where(Booking.expert_id == expert.id, Booking.starts_at >= starts, Booking.starts_at < ends,
               Booking.status.in_(LISTED_STATUSES))
        .options(selectinload(Booking.topic).selectinload(Topic.department), selectinload(Booking.location))
        .order_by(Booking.starts_at, Booking.seat, Booking.id)
    )
    return list(session.scalars(query))


# --------------------------------------------------------------------------- actions


def _started(booking: Booking, now: datetime) -> None:
    if now < booking.starts_at:
        raise DomainError({"booking": _l("This consultation has not started yet.")}, code="too_early")


def mark_no_show(session: Session, booking: Booking, now: datetime, actor: Actor) -> None:
    """The citizen did not come (or did not join): only once the consultation's time has begun."""
    _started(booking, now)
    transition(session, booking, BookingStatus.NO_SHOW, "no_show", actor, now)
    booking.no_show_at = now


def mark_completed(session: Session, booking: Booking, outcome: Outcome | str, note: str, now: datetime,
                   actor: Actor) -> None:
    """The consultation took place: resolved at it, or an answer is owed (a follow-up ticket comes next)."""
    try:
        outcome = Outcome(outcome)
    except ValueError:
        raise DomainError({"outcome": _l("Choose the outcome.")}) from None
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise DomainError({"note": _l("At most %(n)s characters.", n=MAX_NOTE)})
    _started(booking, now)
    transition(session, booking, BookingStatus.COMPLETED, "completed", actor, now, outcome=outcome.value)
    booking.completed_at = now
    booking.outcome = outcome
    booking.outcome_note = note


def add_note(session: Session, booking: Booking, author: User, text: str, now: datetime) -> BookingNote:
    """A private staff note; the audit keeps that a note was written, not what it says."""
    text = (text or "").strip()
    if not text:
        raise DomainError({"text": _l("Write the note.")})
    if len(text) > MAX_NOTE:
        raise DomainError({"text": _l("At most %(n)s characters.", n=MAX_NOTE)})
    note = BookingNote(booking_id=booking.id, author_id=author.id, at=now, text=text)
    session.add(note)
    session.flush()
    record(session, Actor.staff(author), "booking.note_added", "booking", booking.code, {"note": [None, note.id]})
    return note


def booking_notes(session: Session, booking: Booking) -> list[tuple[BookingNote, User]]:
    query = (select(BookingNote, User).join(User, User.id == BookingNote.author_id)
             .where(BookingNote.booking_id == booking.id).order_by(BookingNote.at, BookingNote.id))
    return [(note, user) for note, user in session.execute(query)]
