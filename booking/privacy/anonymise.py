"""Anonymise bookings, tickets and walk-ins by id: one service for the retention job and for erasure.

Anonymised means: names become a fixed placeholder; emails, phones, INN, organisation, questions,
answers, notes and outcome texts become empty; tokens and their hashes and salts are removed. The
rows stay with their status, topic, channel, expert, department and times, so the dashboard, the
rating and the history keep their counts and times but identify nobody. Each function updates only
rows not anonymised yet (so running it twice changes nothing) and never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from booking.models import Booking, BookingEvent, BookingNote, CitizenLink
from booking.reception.models import WaitingEntry
from booking.tickets.models import Ticket, TicketEvent
from scheduler.privacy.policy import PLACEHOLDER
from scheduler.privacy.purge import scrub_audit_of

_SYNC = {"synchronize_session": False}


def anonymise_bookings(session: Session, ids: Sequence[int], now: datetime) -> int:
    """The citizen's details, question, outcome note, tokens, staff notes and history details go."""
    rows = session.execute(select(Booking.id, Booking.code)
                           .where(Booking.id.in_(ids), Booking.anonymised_at.is_(None))).all()
    if not rows:
        return 0
    ids, codes = [row.id for row in rows], [row.code for row in rows]
    session.execute(update(BookingNote).where(BookingNote.booking_id.in_(ids)).values(text=PLACEHOLDER)
                    .execution_options(**_SYNC))
    session.execute(update(BookingEvent).where(BookingEvent.booking_id.in_(ids))
                    .values(details={}, actor_label="").execution_options(**_SYNC))
    scrub_audit_of(session, "booking", codes, now)
    result = session.execute(
        update(Booking).where(Booking.id.in_(ids))
        .values(citizen_name=PLACEHOLDER, citizen_email="", citizen_phone="", organisation="", inn="",
                question="", outcome_note="", manage_token_salt="", manage_token_hash="",
                confirmation_code_hash="", video_room=None, anonymised_at=now)
        .execution_options(**_SYNC)
    )
    return int(result.rowcount or 0)


def anonymise_tickets(session: Session, ids: Sequence[int], now: datetime) -> int:
    """The summary, the answer, reasons, comments and the citizen's link go; numbers and times stay."""
    rows = session.execute(select(Ticket.id, Ticket.number)
                           .where(Ticket.id.in_(ids), Ticket.anonymised_at.is_(None))).all()
    if not rows:
        return 0
    ids, numbers = [row.id for row in rows], [row.number for row in rows]
    session.execute(update(TicketEvent).where(TicketEvent.ticket_id.in_(ids))
                    .values(text="", details={}, actor_label="").execution_options(**_SYNC))
    scrub_audit_of(session, "ticket", numbers, now)
    result = session.execute(
        update(Ticket).where(Ticket.id.in_(ids))
        .values(summary=PLACEHOLDER, answer_text="", extended_reason="", citizen_token_salt="",
                citizen_token_hash="", anonymised_at=now)
        .execution_options(**_SYNC)
    )
    return int(result.rowcount or 0)


def anonymise_walk_ins(session: Session, ids: Sequence[int], now: datetime) -> int:
    """A waiting-list visitor's name and phone go; the queue number, topic and times stay."""
    ids = list(session.scalars(select(WaitingEntry.id)
                               .where(WaitingEntry.id.in_(ids), WaitingEntry.anonymised_at.is_(None))))
    if not ids:
        return 0
    scrub_audit_of(session, "waiting", ids, now)
    result = session.execute(
        update(WaitingEntry).where(WaitingEntry.id.in_(ids))
        .values(visitor_name=PLACEHOLDER, visitor_phone="", anonymised_at=now)
        .execution_options(**_SYNC)
    )
    return int(result.rowcount or 0)


def delete_links(session: Session, ids: Sequence[int]) -> int:
    """Personal-page links (an email and a token's hash) are deleted: they are worth nothing counted."""
    if not ids:
        return 0
    result = session.execute(delete(CitizenLink).where(CitizenLink.id.in_(ids)).execution_options(**_SYNC))
    return int(result.rowcount or 0)
