"""The citizen forms' rate limits: tight per email and per phone, generous per address."""

from __future__ import annotations

from flask import current_app, request

from booking.citizens import normalise_phone
from booking.codes import derived_token
from scheduler.errors import DomainError

# One address is often many citizens (a mobile carrier's NAT, an office, a kiosk), so the address
# limit only stops floods; the tight limits follow the person, by their email and their phone.


def per_person_limit() -> str:
    return str(current_app.config["BOOKING_HOLD_RATE_LIMIT"])


def per_address_limit() -> str:
    return str(current_app.config["BOOKING_HOLD_ADDRESS_RATE_LIMIT"])


def _pseudonym(kind: str, value: str) -> str:
    """The limit's key names the person by a keyed hash: a shared Redis holds no one's email or phone."""
    return f"citizen-{kind}:" + derived_token(current_app.config["SECRET_KEY"], f"rate-limit-{kind}", value)[:24]


def email_key() -> str:
    return _pseudonym("email", request.form.get("email", "").strip().lower())


def phone_key() -> str:
    raw = request.form.get("phone", "")
    try:
        phone = normalise_phone(raw)
    except DomainError:
        phone = "".join(ch for ch in raw if ch.isdigit())  # refused later anyway; the key just stays stable
    return _pseudonym("phone", phone)
