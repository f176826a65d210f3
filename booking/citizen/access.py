"""Which bookings this browser may manage: proofs of the manage token kept in the signed session."""

from __future__ import annotations

from flask import abort, session
from sqlalchemy import select

from booking.codes import normalise_code, tokens_match
from booking.models import Booking
from scheduler.extensions import db


def grant_manage(code: str, token: str) -> None:
    """Remember in the (signed) session that this browser holds the booking's manage token."""
    grants = dict(session.get("manage", {}))
    grants[code] = token
    session["manage"] = grants


def managed_booking(code: str) -> Booking:
    """The booking, if this browser has proved it holds the manage token; 404 otherwise.

    A wrong token and an unknown code look the same, so codes cannot be probed.
    """
    code = normalise_code(code)
    booking = db.session.scalar(select(Booking).where(Booking.code == code))
    token = session.get("manage", {}).get(code) or ""
    if booking is None or not tokens_match(token, booking.manage_token_hash):
        abort(404)
    return booking
