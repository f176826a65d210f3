"""Booking endpoints of the partner API (create, read, cancel, reschedule, invitation).

Creating a booking needs a partner key; the partner has verified the citizen, so the
booking is confirmed at once and the citizen gets the usual confirmation email with the
invitation. A booking is then reached with the key that created it, or with its manage
token (``?token=``, the one in the citizen's manage link); anything else is a 404, so
codes cannot be probed. Nothing here logs keys, tokens or personal data.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

from flask import Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.exceptions import RequestEntityTooLarge

from booking.api import bp
from booking.api.auth import Unauthorized, reject_bad_credentials, require_partner
from booking.api.catalogue import find_topic, slot_json
from booking.api.errors import APIError, not_found, validation_error
from booking.api.serializers import booking_json
from booking.citizens import validate_citizen, validate_question
from booking.codes import normalise_code, tokens_match
from booking.ical import invitation
from booking.models import Booking
from booking.notifications import send_cancelled, send_confirmed, send_rescheduled
from booking.services import (
    BookingPolicy,
    LimitReached,
    SlotTaken,
    cancel_booking,
    confirm_booking,
    hold_slot,
    reschedule_booking,
)
from scheduler.audit import Actor
from scheduler.db import utcnow
from scheduler.errors import DomainError
from scheduler.extensions import db

MAX_BODY_BYTES = 64 * 1024
MAX_STRING = 10_000  # any single value; the real limits per field are tighter and checked by the rules
MAX_AHEAD = timedelta(days=5 * 366)  # far beyond any topic's horizon, well inside datetime's range
MAX_ID = 2**31 - 1
TOKEN_MAX = 200
CODE_RE = re.compile(r"[A-Z0-9]{1,16}")
CITIZEN_FIELDS = ("name", "email", "phone", "applicant_type", "organisation", "inn")
CHANNELS = ("video", "in_person")

# The audit log names the actor's kind only: a citizen's name or email is personal data.
CITIZEN = Actor("citizen", None, "citizen")


# --- reading the body ------------------------------------------------------------------------

def json_body() -> dict[str, Any]:
    """The request's JSON object, or 400 for anything else (malformed, too large, not an object)."""
    request.max_content_length = MAX_BODY_BYTES
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise APIError(400, "bad_request", _("The request body is too large.")) from None
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise APIError(400, "bad_request", _("The request body is not valid JSON.")) from None
    if not isinstance(data, dict):
        raise APIError(400, "bad_request", _("The request body must be a JSON object.")) from None
    return data


def _acceptable(value: str) -> bool:
    """Text a database can store: no NUL characters, no lone surrogates."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def text_field(data: dict[str, Any], key: str, path: str, errors: dict[str, str], *,
               required: bool = True) -> str | None:
    """A string value; missing (or null) gives "" when optional. None when there is an error."""
    value = data.get(key)
    if value is None:
        if required:
            errors[path] = _("This field is required.")
            return None
        return ""
    if not isinstance(value, str):
        errors[path] = _("Must be a string.")
        return None
    if len(value) > MAX_STRING:
        errors[path] = _("The value is too long.")
        return None
    if not _acceptable(value):
        errors[path] = _("The value contains characters that are not allowed.")
        return None
    return value


def start_field(data: dict[str, Any], errors: dict[str, str], now: datetime) -> datetime | None:
    raw = text_field(data, "start", "start", errors)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        errors["start"] = _("Use an ISO 8601 instant with its offset, for example 2026-12-01T10:00:00+03:00.")
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        errors["start"] = _("Give the time with its UTC offset.")
        return None
    try:
        value.astimezone(now.tzinfo)
    except (OverflowError, ValueError):
        errors["start"] = _("This time is out of range.")
        return None
    if value <= now:
        errors["start"] = _("This time has already passed.")
        return None
    if value > now + MAX_AHEAD:
        errors["start"] = _("This time is too far ahead.")
        return None
    return value


def expert_field(data: dict[str, Any], errors: dict[str, str]) -> int | None:
    value = data.get("expert")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        errors["expert"] = _("Use the expert's id, a positive whole number.")
        return None
    return value


def _prefixed(fields: dict[str, str], prefix: str, names: tuple[str, ...]) -> dict[str, str]:
    return {f"{prefix}{name}" if name in names else name: message for name, message in fields.items()}


def domain_error(exc: DomainError) -> APIError:
    """A service's refusal in the contract's terms (fields named by their path in the body)."""
    if exc.code == "conflict":
        return APIError(409, "conflict", next(iter(exc.fields.values()), _("Conflict.")))
    return validation_error(_prefixed(exc.fields, "citizen.", CITIZEN_FIELDS))


def slot_taken(exc: SlotTaken) -> APIError:
    """409 with the nearest free slots; the caller has rolled back, so no lock is held meanwhile."""
    return APIError(409, "slot_taken", _("This time has just been taken. Choose another one."),
                    alternatives=[slot_json(s) for s in exc.find_alternatives(db.session)])


def booking_response(booking: Booking, status: int = 200) -> ResponseReturnValue:
    response = jsonify(booking_json(booking, current_app.config))
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"  # personal data and the manage link
    if status == 201:
        response.headers["Location"] = f"/api/v1/bookings/{booking.code}"
    return response


# --- finding a booking ---------------------------------------------------------------------------

def authorised_booking(code: str) -> tuple[Booking, Actor]:
    """The booking if the caller may see it: the partner that created it, or its manage token."""
    partner = reject_bad_credentials()
    token = request.args.get("token", "")
    if partner is None and not token:
        raise Unauthorized(_("This request needs an API key or the booking's manage token (?token=)."))
    code = normalise_code(code)
    if not CODE_RE.fullmatch(code):
        raise not_found(_("There is no such booking."))
    booking = db.session.scalar(select(Booking).where(Booking.code == code))
    if booking is None:
        raise not_found(_("There is no such booking."))
    if partner is not None and booking.partner_key_id == partner.id:
        return booking, partner.actor
    if token and len(token) <= TOKEN_MAX and tokens_match(token, booking.manage_token_hash):
        return booking, CITIZEN
    raise not_found(_("There is no such booking."))


# --- endpoints -----------------------------------------------------------------------------------

@bp.route("/bookings", methods=["POST"])
def create_booking() -> ResponseReturnValue:
    partner = require_partner()
    data = json_body()
    now = utcnow()
    errors: dict[str, str] = {}

    slug = text_field(data, "topic", "topic", errors)
    topic = None
    if slug is not None:
        topic = find_topic(slug.strip()) if slug.strip() else None
        if topic is None:
            errors["topic"] = _("There is no such topic.")
    channel = text_field(data, "channel", "channel", errors)
    if channel is not None and channel not in CHANNELS:
        errors["channel"] = _("Use video or in_person.")
    elif channel is not None and topic is not None and channel not in topic.channels:
        errors["channel"] = _("This topic is not offered on this channel.")
    start = start_field(data, errors, now)
    expert_id = expert_field(data, errors)
    if data.get("consent_personal_data") is not True:
        errors["consent_personal_data"] = _("The citizen's consent to the processing of personal data is required.")

    citizen = None
    raw_citizen = data.get("citizen")
    if not isinstance(raw_citizen, dict):
        errors["citizen"] = _("Give the citizen's details as an object.")
    else:
        values = {name: text_field(raw_citizen, name, f"citizen.{name}", errors, required=False)
                  for name in CITIZEN_FIELDS}
        try:
            citizen = validate_citizen(
                **{k: v or "" for k, v in values.items()},
                allowed_types=topic.applicant_types if topic is not None else None,
                check_deliverability=bool(current_app.config.get("EMAIL_CHECK_DELIVERABILITY")),
            )
        except DomainError as exc:
            for path, message in _prefixed(exc.fields, "citizen.", CITIZEN_FIELDS).items():
                errors.setdefault(path, message)  # a wrong type was reported already

    question = text_field(data, "question", "question", errors, required=False)
    if question is not None:
        try:
            question = validate_question(question)
        except DomainError as exc:
            errors.update(exc.fields)

    if errors:
        raise validation_error(errors)
    assert topic is not None and channel is not None and start is not None and citizen is not None
    assert question is not None

    policy = BookingPolicy.from_config(current_app.config)
    try:
        held = hold_slot(db.session, topic=topic, channel=channel, start=start, citizen=citizen, question=question,
                         now=now, policy=policy, actor=partner.actor, expert_id=expert_id, source="api",
                         partner_key_id=partner.id)
    except SlotTaken as exc:
        db.session.rollback()
        raise slot_taken(exc) from None
    except LimitReached as exc:
        db.session.rollback()
        raise APIError(409, "limit_reached", next(iter(exc.fields.values()))) from None
    except DomainError as exc:
        db.session.rollback()
        raise domain_error(exc) from None
    booking = held.booking
    confirm_booking(db.session, booking, now, partner.actor)
    send_confirmed(db.session, booking, current_app.config, now)
    db.session.commit()
    return booking_response(booking, 201)


@bp.route("/bookings/<code>")
def get_booking(code: str) -> ResponseReturnValue:
    booking, _actor = authorised_booking(code)
    return booking_response(booking)


@bp.route("/bookings/<code>/cancel", methods=["POST"])
def cancel(code: str) -> ResponseReturnValue:
    booking, actor = authorised_booking(code)
    now = utcnow()
    try:
        cancel_booking(db.session, booking, now, actor)
    except DomainError as exc:
        db.session.rollback()
        raise domain_error(exc) from None
    send_cancelled(db.session, booking, current_app.config, now)
    db.session.commit()
    return booking_response(booking)


@bp.route("/bookings/<code>/reschedule", methods=["POST"])
def reschedule(code: str) -> ResponseReturnValue:
    booking, actor = authorised_booking(code)
    data = json_body()
    now = utcnow()
    errors: dict[str, str] = {}
    start = start_field(data, errors, now)
    expert_id = expert_field(data, errors)
    if errors:
        raise validation_error(errors)
    assert start is not None
    try:
        reschedule_booking(db.session, booking, start, now, actor, expert_id=expert_id)
    except SlotTaken as exc:
        db.session.rollback()
        raise slot_taken(exc) from None
    except DomainError as exc:
        db.session.rollback()
        raise domain_error(exc) from None
    send_rescheduled(db.session, booking, current_app.config, now)
    db.session.commit()
    return booking_response(booking)


@bp.route("/bookings/<code>/invite.ics")
def invite(code: str) -> ResponseReturnValue:
    booking, _actor = authorised_booking(code)
    data = invitation(booking, current_app.config, utcnow())
    response = Response(data, content_type="text/calendar; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="okno-{booking.code}.ics"'
    response.headers["Cache-Control"] = "no-store"
    return response
