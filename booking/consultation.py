"""The end of a consultation, no-show or completion: one rule for the workspace, the reception desk and the sweep.

A consultation ends once. Who may end it is the access module's question; *whether* it may end
this way now is this module's:

* **No-show.** An expected citizen (confirmed, not checked in) only once the appointment has begun;
  a visitor checked in at the desk (waiting or called) at any time, because they came and left
  before being seen; never a visitor already in consultation.
* **Completion.** A called or started desk visit at any time (the desk saw the visitor); any other
  confirmed consultation without a desk (video) once it has begun. An in-person visitor who never
  reached the desk's call did not consult: they are a no-show, not a completion. The outcome must be
  one of ``Outcome``; the note is trimmed and at most ``MAX_NOTE`` characters. A desk visit called but
  never started is taken to have started when completed, so its duration is never negative.

Every end locks the booking's row first (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite
serialises writers) and judges the state it then reads, so a desk and the sweep never both win.
Services never commit.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from booking.models import Booking, BookingStatus, Outcome
from booking.services import transition
from scheduler.audit import Actor
from scheduler.errors import DomainError, ErrorCode
from scheduler.schedules.models import Channel

MAX_NOTE = 5000
NO_SHOW_SWEEP = Actor.system("no-show sweep")


def lock_row(session: Session, model: Any, row_id: int) -> Any:
    """The row, locked for this transaction and re-read from the database."""
    query = select(model).where(model.id == row_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return session.scalar(query.execution_options(populate_existing=True))


def lock_booking(session: Session, booking: Booking) -> Booking:
    return lock_row(session, Booking, booking.id)


def _is_desk_called(booking: Booking) -> bool:
    return booking.status == BookingStatus.CHECKED_IN and (booking.called_at is not None
                                                           or booking.started_at is not None)


def no_show_refusal(booking: Booking, now: datetime) -> DomainError | None:
    """Why the booking cannot be marked a no-show now (None: it can)."""
    if booking.status == BookingStatus.CONFIRMED:
        if now < booking.starts_at:
            return DomainError({"booking": _l("The appointment has not started yet.")}, code=ErrorCode.TOO_EARLY)
        return None
    if booking.status == BookingStatus.CHECKED_IN and booking.started_at is None:
        return None
    return DomainError({"booking": _l("This visitor cannot be marked as a no-show.")}, code=ErrorCode.CONFLICT)


def completion_refusal(booking: Booking, now: datetime) -> DomainError | None:
    """Why the consultation cannot be recorded as held now (None: it can)."""
    if _is_desk_called(booking):
        return None
    if booking.status == BookingStatus.CONFIRMED and booking.channel != Channel.IN_PERSON:
        if now < booking.starts_at:
            return DomainError({"booking": _l("This consultation has not started yet.")}, code=ErrorCode.TOO_EARLY)
        return None
    if booking.status in (BookingStatus.CONFIRMED, BookingStatus.CHECKED_IN):
        return DomainError({"booking": _l("Only a called visitor's consultation can be completed.")},
                           code=ErrorCode.CONFLICT)
    return DomainError({"booking": _l("This booking cannot change like that any more.")}, code=ErrorCode.CONFLICT)


def may_mark_no_show(booking: Booking, now: datetime) -> bool:
    return no_show_refusal(booking, now) is None


def may_complete(booking: Booking, now: datetime) -> bool:
    return completion_refusal(booking, now) is None


def mark_no_show(session: Session, booking: Booking, now: datetime, actor: Actor, **details: Any) -> Booking:
    """The citizen did not come, did not join, or left before being seen."""
    booking = lock_booking(session, booking)
    refusal = no_show_refusal(booking, now)
    if refusal is not None:
        raise refusal
    transition(session, booking, BookingStatus.NO_SHOW, "no_show", actor, now, **details)
    booking.no_show_at = now
    return booking


def complete(session: Session, booking: Booking, outcome: Outcome | str, now: datetime, actor: Actor,
             note: str = "") -> Booking:
    """The consultation took place: resolved at it, or an answer is owed (a follow-up ticket comes next)."""
    try:
        chosen = Outcome(outcome)
    except ValueError:
        raise DomainError({"outcome": _l("Choose the outcome.")}) from None
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise DomainError({"note": _l("At most %(n)s characters.", n=MAX_NOTE)})
    booking = lock_booking(session, booking)
    refusal = completion_refusal(booking, now)
    if refusal is not None:
        raise refusal
    if booking.status == BookingStatus.CHECKED_IN and booking.started_at is None:
        booking.started_at = now
    transition(session, booking, BookingStatus.COMPLETED, "completed", actor, now, outcome=chosen.value)
    booking.completed_at = now
    booking.outcome = chosen
    booking.outcome_note = note
    return booking


def sweep_no_shows(session: Session, now: datetime, grace_minutes: int) -> int:
    """Expected in-person visitors not checked in by the end of the grace period become no-shows."""
    due = session.scalars(
        select(Booking.id).where(Booking.channel == Channel.IN_PERSON, Booking.status == BookingStatus.CONFIRMED,
                                 Booking.checked_in_at.is_(None),
                                 Booking.starts_at <= now - timedelta(minutes=grace_minutes))
        .order_by(Booking.id)
    ).all()
    count = 0
    for booking_id in due:
        booking = lock_row(session, Booking, booking_id)
        if booking.status != BookingStatus.CONFIRMED or booking.checked_in_at is not None:
            continue  # checked in (or ended) while the sweep ran
        mark_no_show(session, booking, now, NO_SHOW_SWEEP, grace_minutes=grace_minutes)
        count += 1
    return count
