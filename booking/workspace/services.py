"""The expert's workspace: whose calendars the user may open, the expert's day, private notes.

How a consultation ends is ``booking.consultation``'s. Plain functions over a session (views, jobs and
tests share them); they never commit.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from booking.consultation import MAX_NOTE
from booking.models import Booking, BookingNote, BookingStatus
from scheduler.audit import Actor, record
from scheduler.auth.access import Action, condition
from scheduler.auth.models import User
from scheduler.departments.models import Topic
from scheduler.errors import DomainError
from scheduler.experts.models import Expert

# What the workspace lists: unconfirmed holds are the citizen's business until confirmed.
LISTED_STATUSES = (BookingStatus.CONFIRMED, BookingStatus.CHECKED_IN, BookingStatus.COMPLETED,
                   BookingStatus.NO_SHOW, BookingStatus.CANCELLED)


# --------------------------------------------------------------------------- whose calendars


def visible_experts(session: Session, user: User) -> list[Expert]:
    """Whose calendars the user may open, by name."""
    query = select(Expert).where(condition(user, Action.VIEW_CALENDAR, department=Expert.department_id,
                                           people=[Expert.user_id]))
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
    record(session, Actor.staff(author), "booking.note_added", "booking", booking.code, {"note": [None, note.id]},
           department_id=booking.topic.department_id)
    return note


def booking_notes(session: Session, booking: Booking) -> list[tuple[BookingNote, User]]:
    query = (select(BookingNote, User).join(User, User.id == BookingNote.author_id)
             .where(BookingNote.booking_id == booking.id).order_by(BookingNote.at, BookingNote.id))
    return [(note, user) for note, user in session.execute(query)]
