"""Booking endpoints of the partner API (create, read, cancel, reschedule, invitation).

Creating a booking needs a partner key; the partner has verified the citizen, so the
booking is confirmed at once and the citizen gets the usual confirmation email with the
invitation. A booking is then reached with the key that created it, or with its manage
token (``?token=``, the one in the citizen's manage link); anything else is a 404, so
codes cannot be probed. Nothing here logs keys, tokens or personal data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, current_app, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import select

from booking.api import models as api
from booking.api.auth import Unauthorized, reject_bad_credentials, require_partner
from booking.api.catalogue import find_topic
from booking.api.errors import citizen_paths, not_found, validation_error
from booking.api.idempotency import IdempotencyHeader, idempotent
from booking.api.plumbing import CODE_RE, TOKEN_MAX, json_body, json_response, parse, parse_or_422
from booking.citizens import CitizenDetails, validate_citizen, validate_question
from booking.codes import normalise_code, tokens_match
from booking.ical import invitation
from booking.models import Booking
from booking.notifications import send_cancelled, send_confirmed, send_rescheduled
from booking.services import BookingPolicy, cancel_booking, hold_slot, reschedule_booking
from scheduler.audit import Actor
from scheduler.db import utcnow
from scheduler.departments.models import Topic
from scheduler.errors import DomainError
from scheduler.extensions import db
from scheduler.openapi import documented
from scheduler.schedules.models import Channel

# The audit log names the actor's kind only: a citizen's name or email is personal data.
CITIZEN = Actor("citizen", None, "citizen")

PARTNER_ONLY = [{"partnerKey": []}]
KEY_OR_TOKEN = [{"partnerKey": []}, {"manageToken": []}]
CODE = {"code": "the booking code; case, spaces and dashes are ignored"}
ACCESS = ("A partner key sees only the bookings it created; the manage token (`?token=`) opens its own booking. "
          "Anything else is a 404, whether or not the booking exists.")
BOOKING = (api.Booking, "The booking")
NO_CREDENTIALS = (api.Error, "Neither a partner key nor a token was given, or the key is wrong or revoked")
UNKNOWN = (api.Error, "No such booking for these credentials")
TOO_MANY = (api.Error, "Too many requests (`rate_limited`, with a Retry-After header); per key for partners")
BAD_BODY = (api.Error, "`bad_request`: the body is not a JSON object, or larger than 64 KiB")
IN_PROGRESS = "; `idempotency_in_progress`: a request with this Idempotency-Key is still running"
KEY_PROBLEM = ("`validation` on `fields.Idempotency-Key` (malformed key), or `idempotency_key_reused` "
               "(the key was used with another request)")


@dataclass(frozen=True)
class BookingOrder:
    """A booking request that passed every check: what ``hold_slot`` needs."""

    topic: Topic
    channel: str
    start: datetime
    expert_id: int | None
    location_id: int | None
    citizen: CitizenDetails
    question: str


def booking_order(data: dict[str, Any], now: datetime) -> BookingOrder:
    """The body checked against the declared model, then by the domain's rules, every problem at once."""
    parsed, errors = parse(api.BookingRequest, data, {"now": now}, api.BookingRequest.missing())
    slug = api.lenient_text(data.get("topic")).strip()
    topic = find_topic(slug) if slug else None
    if topic is None:
        errors.setdefault("topic", _("There is no such topic."))
    elif data.get("channel") in tuple(Channel) and data["channel"] not in topic.channels:
        errors.setdefault("channel", _("This topic is not offered on this channel."))

    citizen = None
    raw = data.get("citizen")
    if isinstance(raw, dict):
        try:
            citizen = validate_citizen(
                **{name: api.lenient_text(raw.get(name)) for name in api.CitizenRequest.model_fields},
                allowed_types=topic.applicant_types if topic is not None else None,
                check_deliverability=bool(current_app.config.get("EMAIL_CHECK_DELIVERABILITY")),
            )
        except DomainError as exc:
            for path, message in citizen_paths(exc.fields).items():
                errors.setdefault(path, message)  # a wrong type was reported already
    question = None
    if "question" not in errors:
        try:
            question = validate_question(api.lenient_text(data.get("question")))
        except DomainError as exc:
            errors.update(exc.fields)

    if errors or parsed is None:
        raise validation_error(errors)
    assert topic is not None and citizen is not None and question is not None
    return BookingOrder(topic, parsed.channel.value, parsed.start, parsed.expert, parsed.location, citizen, question)


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


def booking_response(booking: Booking, status: int = 200) -> ResponseReturnValue:
    location = f"/api/v1/bookings/{booking.code}" if status == 201 else None
    return json_response(api.Booking.of(booking, current_app.config), status, location)


# --- endpoints -----------------------------------------------------------------------------------

@documented({
    201: (api.Booking, "The confirmed booking (its address in the Location header)"),
    400: BAD_BODY,
    401: (api.Error, "`unauthorized`: no partner key, or a wrong or revoked one"),
    409: (api.Error, "`slot_taken` (with `alternatives`, the nearest free slots) or `limit_reached` "
                     "(the citizen has as many active bookings on this topic as allowed)" + IN_PROGRESS),
    422: (api.Error, "`validation`: `fields` by path in the body, e.g. `citizen.phone`, `start`, "
                     "`consent_personal_data`; an unknown topic is reported on `topic`; or " + KEY_PROBLEM),
    429: TOO_MANY,
}, json=api.BookingRequest, headers=IdempotencyHeader, security=PARTNER_ONLY)
@idempotent
def create_booking() -> ResponseReturnValue:
    """Book a consultation for a citizen (confirmed at once)

    The partner has verified the citizen, so the booking is confirmed immediately and the
    citizen is emailed the confirmation with the calendar invitation.
    """
    partner = require_partner()
    now = utcnow()
    order = booking_order(json_body(), now)
    held = hold_slot(db.session, topic=order.topic, channel=order.channel, start=order.start, citizen=order.citizen,
                     question=order.question, now=now, policy=BookingPolicy.from_config(current_app.config),
                     actor=partner.actor, expert_id=order.expert_id, source="api", partner_key_id=partner.id,
                     location_id=order.location_id, confirmed=True)
    send_confirmed(db.session, held.booking, current_app.config, now)
    return booking_response(held.booking, 201)


@documented({200: BOOKING, 401: NO_CREDENTIALS, 404: UNKNOWN, 429: TOO_MANY},
            security=KEY_OR_TOKEN, path_parameter_descriptions=CODE)
def get_booking(code: str) -> ResponseReturnValue:
    """A booking

    A partner key sees only the bookings it created; the manage token (`?token=`) opens its own
    booking. Anything else is a 404, whether or not the booking exists.
    """
    booking, _actor = authorised_booking(code)
    return booking_response(booking)


@documented({
    200: (api.Booking, "The booking, now with status `cancelled`"), 401: NO_CREDENTIALS, 404: UNKNOWN,
    409: (api.Error, "`conflict`: already cancelled, or no longer cancellable (started, completed...)" + IN_PROGRESS),
    422: (api.Error, KEY_PROBLEM), 429: TOO_MANY,
}, headers=IdempotencyHeader, security=KEY_OR_TOKEN, path_parameter_descriptions=CODE)
@idempotent
def cancel(code: str) -> ResponseReturnValue:
    """Cancel a booking

    The citizen is emailed the cancellation. No body is needed. A partner key reaches only the
    bookings it created; the manage token (`?token=`) its own booking; anything else is a 404.
    """
    booking, actor = authorised_booking(code)
    now = utcnow()
    cancel_booking(db.session, booking, now, actor)
    send_cancelled(db.session, booking, current_app.config, now)
    return booking_response(booking)


@documented({
    200: (api.Booking, "The booking at its new time"), 400: BAD_BODY, 401: NO_CREDENTIALS, 404: UNKNOWN,
    409: (api.Error, "`slot_taken` (with `alternatives`), or `conflict`: the booking is not confirmed or has "
                     "already started" + IN_PROGRESS),
    422: (api.Error, "`validation`: `fields.start` or `fields.expert`; or " + KEY_PROBLEM), 429: TOO_MANY,
}, json=api.RescheduleRequest, headers=IdempotencyHeader, security=KEY_OR_TOKEN, path_parameter_descriptions=CODE)
@idempotent
def reschedule(code: str) -> ResponseReturnValue:
    """Move a confirmed booking to another free time (same code, topic and channel)

    The citizen is emailed the updated invitation. A partner key reaches only the bookings it
    created; the manage token (`?token=`) its own booking; anything else is a 404.
    """
    booking, actor = authorised_booking(code)
    now = utcnow()
    moved = parse_or_422(api.RescheduleRequest, json_body(), {"now": now})
    reschedule_booking(db.session, booking, moved.start, now, actor, expert_id=moved.expert,
                       location_id=moved.location)
    send_rescheduled(db.session, booking, current_app.config, now)
    return booking_response(booking)


@documented({200: (None, "iCalendar (RFC 5545), text/calendar: METHOD:REQUEST, or METHOD:CANCEL once "
                         "cancelled; SEQUENCE grows with every change"),
             401: NO_CREDENTIALS, 404: UNKNOWN, 429: TOO_MANY},
            security=KEY_OR_TOKEN, path_parameter_descriptions=CODE)
def invite(code: str) -> ResponseReturnValue:
    """The booking's calendar invitation"""
    booking, _actor = authorised_booking(code)
    data = invitation(booking, current_app.config, utcnow())
    response = Response(data, content_type="text/calendar; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="okno-{booking.code}.ics"'
    response.headers["Cache-Control"] = "no-store"
    return response


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/bookings", view_func=create_booking, methods=["POST"])
    bp.add_url_rule("/bookings/<code>", view_func=get_booking)
    bp.add_url_rule("/bookings/<code>/cancel", view_func=cancel, methods=["POST"])
    bp.add_url_rule("/bookings/<code>/reschedule", view_func=reschedule, methods=["POST"])
    bp.add_url_rule("/bookings/<code>/invite.ics", view_func=invite)
