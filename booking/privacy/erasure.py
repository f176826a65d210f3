"""Erase a citizen on request (152-FZ art. 21): anonymise everything held about them now, or say why not yet.

Erasure uses the retention job's primitives, so an erased citizen looks exactly like one whose
period ran out: counts and times stay for the figures, nothing identifies them. It is refused,
with the reason, while okno still owes the citizen something: a consultation ahead (cancel it
first), a follow-up still being answered, or an email on its way to them.
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from booking.models import ACTIVE_STATUSES
from booking.privacy.anonymise import anonymise_bookings, anonymise_tickets, anonymise_walk_ins, delete_links
from booking.privacy.records import CitizenRecords, subject_reference
from booking.tickets.models import CLOSED_STATUSES
from scheduler.audit import Actor, record
from scheduler.errors import DomainError, ErrorCode
from scheduler.mail.backlog import UNSENT
from scheduler.privacy.purge import purge_outbox


def erasure_refusals(records: CitizenRecords, now: datetime) -> list[str]:
    """Why the citizen cannot be erased yet (empty when they can), in words for the staff member."""
    reasons: list[str] = []
    for booking in records.bookings:
        if booking.status in ACTIVE_STATUSES and booking.ends_at > now:
            reasons.append(str(_l("The consultation %(code)s on %(day)s is still ahead: cancel it first.",
                                  code=booking.code, day=booking.starts_at.date().isoformat())))
    for ticket in records.tickets:
        if ticket.status not in CLOSED_STATUSES:
            reasons.append(str(_l("Follow-up ticket %(number)s is still being answered: erase the data once "
                                  "it is closed.", number=ticket.number)))
    if any(message.status in UNSENT for message in records.emails):
        reasons.append(str(_l("An email to this address is still being sent: try again in a few minutes.")))
    return reasons


def erase_citizen(session: Session, records: CitizenRecords, *, by: Actor, now: datetime,
                  secret_key: str) -> dict[str, int]:
    """Anonymise every record held about the citizen in the caller's transaction; counts per kind."""
    reasons = erasure_refusals(records, now)
    if reasons:
        raise DomainError({"erase": " ".join(reasons)}, ErrorCode.CONFLICT)
    counts = {
        "bookings": anonymise_bookings(session, [b.id for b in records.bookings], now),
        "tickets": anonymise_tickets(session, [t.id for t in records.tickets], now),
        "walk_ins": anonymise_walk_ins(session, [w.id for w in records.walk_ins], now),
        "links": delete_links(session, [link.id for link in records.personal_page_links]),
        "emails": purge_outbox(session, [m.id for m in records.emails], now),
    }
    record(session, by, "privacy.erased", "citizen", subject_reference(secret_key, records.email, records.phone),
           counts)
    return counts
