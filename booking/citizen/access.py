"""What this browser may see: proofs of manage tokens and the personal page's email, kept in the sealed session."""

from __future__ import annotations

from flask import abort, session
from sqlalchemy import select

from booking.codes import normalise_code, tokens_match
from booking.models import Booking
from scheduler.extensions import db

# Everything the session holds for a citizen: the personal page's proven email, the bookings' manage
# tokens, the tickets' link tokens (booking.tickets) and the booking waiting for its confirmation code.
CITIZEN_SESSION_KEYS = ("citizen_email", "manage", "tickets", "pending_booking")


def forget_citizen() -> None:
    """End every grant this browser holds (the personal page's "Leave"); language and staff sign-in stay."""
    for key in CITIZEN_SESSION_KEYS:
        session.pop(key, None)


def grant_manage(code: str, token: str) -> None:
    """Remember in the (sealed) session that this browser holds the booking's manage token."""
    grants = dict(session.get("manage", {}))
    grants[code] = token
    session["manage"] = grants


def managed_booking(code: str) -> Booking:
    """The booking, if this browser has proved it holds the manage token or the booking's email; 404 otherwise.

    The personal page proves the email (its link was sent there), which is what a manage link proves
    too, so it opens every booking of that email without copying their tokens into the session: the
    cookie stays small however many bookings the citizen has. A wrong token and an unknown code look
    the same, so codes cannot be probed.
    """
    code = normalise_code(code)
    booking = db.session.scalar(select(Booking).where(Booking.code == code))
    if booking is None:
        abort(404)
    email = session.get("citizen_email")
    if email and email == booking.citizen_email:
        return booking
    token = session.get("manage", {}).get(code) or ""
    if not tokens_match(token, booking.manage_token_hash):
        abort(404)
    return booking
