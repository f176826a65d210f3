"""Everything okno holds about one citizen, found by email or phone: the answer to a request to see it.

Russian law on personal data (152-FZ, art. 14) gives a citizen the right to learn what an operator
holds about them. Staff look it up here on the citizen's request; the same finding serves the page,
the JSON export and, later, erasure. A lookup never puts the email or phone in a URL, a log or the
audit log: the audit entry names the subject by a keyed hash, so two requests about one person can
be told apart from others without keeping who it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from booking.codes import derived_token
from booking.models import Booking, BookingNote, CitizenLink
from booking.reception.models import WaitingEntry
from booking.tickets.models import Ticket
from scheduler.audit import Actor, record
from scheduler.mail.models import OutboxMessage


@dataclass(frozen=True)
class CitizenRecords:
    """What is held about the citizen with ``email`` and/or ``phone`` (normalised; either may be empty)."""

    email: str
    phone: str
    bookings: list[Booking] = field(default_factory=list)
    notes: dict[int, list[BookingNote]] = field(default_factory=dict)  # by booking id
    tickets: list[Ticket] = field(default_factory=list)
    walk_ins: list[WaitingEntry] = field(default_factory=list)
    personal_page_links: list[CitizenLink] = field(default_factory=list)
    emails: list[OutboxMessage] = field(default_factory=list)

    @property
    def count(self) -> int:
        return (len(self.bookings) + len(self.tickets) + len(self.walk_ins) + len(self.personal_page_links)
                + len(self.emails))


def find_citizen_records(session: Session, *, email: str = "", phone: str = "") -> CitizenRecords:
    """Every booking, follow-up ticket, walk-in, personal-page link and email of that citizen."""
    if not email and not phone:
        raise ValueError("an email or a phone is needed")
    matches = []
    if email:
        matches.append(Booking.citizen_email == email)
    if phone:
        matches.append(Booking.citizen_phone == phone)
    bookings = list(session.scalars(
        select(Booking).where(or_(*matches))
        .options(selectinload(Booking.events), selectinload(Booking.topic))
        .order_by(Booking.starts_at, Booking.id)
    ))
    booking_ids = [booking.id for booking in bookings]
    notes: dict[int, list[BookingNote]] = {}
    tickets: list[Ticket] = []
    if booking_ids:
        for note in session.scalars(select(BookingNote).where(BookingNote.booking_id.in_(booking_ids))
                                    .order_by(BookingNote.at, BookingNote.id)):
            notes.setdefault(note.booking_id, []).append(note)
        tickets = list(session.scalars(select(Ticket).where(Ticket.booking_id.in_(booking_ids))
                                       .options(selectinload(Ticket.events)).order_by(Ticket.opened_at)))
    walk_ins = list(session.scalars(
        select(WaitingEntry).where(WaitingEntry.visitor_phone == phone).order_by(WaitingEntry.registered_at)
    )) if phone else []
    links = list(session.scalars(
        select(CitizenLink).where(CitizenLink.email == email).order_by(CitizenLink.created_at)
    )) if email else []
    emails = list(session.scalars(
        select(OutboxMessage).where(OutboxMessage.to_address == email).order_by(OutboxMessage.created_at)
    )) if email else []
    return CitizenRecords(email=email, phone=phone, bookings=bookings, notes=notes, tickets=tickets,
                          walk_ins=walk_ins, personal_page_links=links, emails=emails)


def subject_reference(secret_key: str, email: str, phone: str) -> str:
    """A keyed hash naming the subject of a request in the audit log without revealing them."""
    return derived_token(secret_key, "privacy-subject", email, phone)[:16]


def record_request(session: Session, records: CitizenRecords, *, action: str, by: Actor, secret_key: str) -> None:
    """Audit a lookup or an export: who, when, how much was found; never the citizen's details."""
    record(session, by, f"privacy.{action}", "citizen", subject_reference(secret_key, records.email, records.phone),
           {"by_email": bool(records.email), "by_phone": bool(records.phone), "records": records.count})


def _instant(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def export_document(records: CitizenRecords, now: datetime) -> dict[str, Any]:
    """The export as JSON-ready data: every field held about the citizen, without secrets or mail bodies.

    Link secrets (manage tokens, personal-page link hashes) are credentials, not data about the
    person, so they are left out; email bodies repeat the bookings' data and carry such links.
    """
    return {
        "generated_at": now.isoformat(),
        "subject": {"email": records.email or None, "phone": records.phone or None},
        "bookings": [_booking(booking, records.notes.get(booking.id, [])) for booking in records.bookings],
        "tickets": [_ticket(ticket) for ticket in records.tickets],
        "walk_ins": [{
            "day": entry.day.isoformat(), "queue_number": entry.queue_number, "status": str(entry.status),
            "name": entry.visitor_name, "phone": entry.visitor_phone,
            "registered_at": _instant(entry.registered_at), "completed_at": _instant(entry.completed_at),
        } for entry in records.walk_ins],
        "personal_page_links": [{"sent_at": _instant(link.created_at), "expires_at": _instant(link.expires_at)}
                                for link in records.personal_page_links],
        "emails": [{"to": message.to_address, "subject": message.subject, "status": str(message.status),
                    "written_at": _instant(message.created_at), "sent_at": _instant(message.sent_at)}
                   for message in records.emails],
    }


def _booking(booking: Booking, notes: list[BookingNote]) -> dict[str, Any]:
    return {
        "code": booking.code,
        "status": str(booking.status),
        "topic": booking.topic.title,
        "channel": str(booking.channel),
        "starts_at": _instant(booking.starts_at),
        "ends_at": _instant(booking.ends_at),
        "citizen": {"name": booking.citizen_name, "email": booking.citizen_email, "phone": booking.citizen_phone,
                    "applicant_type": str(booking.applicant_type), "organisation": booking.organisation or None,
                    "inn": booking.inn or None},
        "question": booking.question,
        "created_at": _instant(booking.created_at),
        "staff_notes": [{"at": _instant(note.at), "text": note.text} for note in notes],
        "history": [{"at": _instant(event.at), "event": event.kind} for event in booking.events],
    }


def _ticket(ticket: Ticket) -> dict[str, Any]:
    return {
        "number": ticket.number,
        "status": str(ticket.status),
        "summary": ticket.summary,
        "opened_at": _instant(ticket.opened_at),
        "due_at": _instant(ticket.due_at),
        "answered_at": _instant(ticket.answered_at),
        "closed_at": _instant(ticket.closed_at),
        "answer": ticket.answer_text or None,
        "history": [{"at": _instant(event.at), "event": event.kind, "text": event.text or None,
                     "internal": event.is_internal} for event in ticket.events],
    }


@dataclass(frozen=True)
class Correction:
    """New values for a citizen's details; an empty one leaves that detail as it is (all normalised)."""

    name: str = ""
    email: str = ""
    phone: str = ""

    @property
    def fields(self) -> list[str]:
        return [name for name in ("name", "email", "phone") if getattr(self, name)]


def correct_citizen(session: Session, records: CitizenRecords, correction: Correction, *, by: Actor,
                    secret_key: str) -> int:
    """Put the corrected details on every record held about the citizen (152-FZ art. 21: inaccurate data is
    corrected on request); returns how many records changed. The audit entry names the fields, not the values."""
    changed = 0
    for booking in records.bookings:
        before = (booking.citizen_name, booking.citizen_email, booking.citizen_phone)
        booking.citizen_name = correction.name or booking.citizen_name
        booking.citizen_email = correction.email or booking.citizen_email
        booking.citizen_phone = correction.phone or booking.citizen_phone
        changed += before != (booking.citizen_name, booking.citizen_email, booking.citizen_phone)
    for entry in records.walk_ins:
        before_walk_in = (entry.visitor_name, entry.visitor_phone)
        entry.visitor_name = correction.name or entry.visitor_name
        entry.visitor_phone = correction.phone or entry.visitor_phone
        changed += before_walk_in != (entry.visitor_name, entry.visitor_phone)
    record(session, by, "privacy.correct", "citizen", subject_reference(secret_key, records.email, records.phone),
           {"fields": correction.fields, "records": changed})
    return changed
