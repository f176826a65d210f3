"""Ticket endpoints of the JSON API: open a follow-up from a booking, read a ticket.

Opening needs a partner key (for bookings that partner created) or a signed-in staff member
who may open tickets for that consultation (its expert, a supervisor of its department, an
admin). Staff sessions ride on a cookie and the API blueprint has no CSRF token, so for them
the request must be ``application/json``, which a cross-site form cannot send without a CORS
preflight. A ticket is read with the key that created its booking, by staff who may see it,
or with the ticket's own token (``?token=``, the one in the citizen's link). Anything else is a
404, so numbers cannot be probed.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from booking.api import models as api
from booking.api.auth import Unauthorized, reject_bad_credentials
from booking.api.errors import APIError, not_found, validation_error
from booking.api.idempotency import IdempotencyHeader, idempotent
from booking.api.plumbing import CODE_RE, TOKEN_MAX, json_body, json_response, parse_or_422
from booking.codes import normalise_code
from booking.models import Booking
from booking.tickets.models import Ticket, TicketStatus
from booking.tickets.services import citizen_token_matches, open_followup
from scheduler.audit import Actor
from scheduler.auth.access import Action, may
from scheduler.auth.models import Role
from scheduler.db import utcnow
from scheduler.departments.models import Department
from scheduler.extensions import db
from scheduler.openapi import documented

NUMBER_MAX = 16



class TicketOut(BaseModel):
    model_config = ConfigDict(title="Ticket")  # the domain's Ticket keeps the plain name in this module
    number: str = Field(description="YYYY-NNNNNN, sequential per year")
    status: TicketStatus
    department: api.Department = Field(description="the competent department")
    opened_at: api.Instant
    due_at: api.Instant = Field(description="the close of business of the department on the N-th working day "
                                            "after the opening day, in the department's zone")
    answered_at: api.Instant | None
    booking: str = Field(description="the booking code")

    @classmethod
    def of(cls, ticket: Ticket) -> TicketOut:
        zone = ticket.department.zone
        return cls(number=ticket.number, status=ticket.status, department=api.Department.of(ticket.department),
                   opened_at=ticket.opened_at.astimezone(zone).isoformat(),
                   due_at=ticket.due_at.astimezone(zone).isoformat(),
                   answered_at=ticket.answered_at.astimezone(zone).isoformat() if ticket.answered_at else None,
                   booking=ticket.booking.code)


class FollowupRequest(BaseModel):
    summary: api.Text = Field(description="what the competent department must answer",
                              json_schema_extra={"minLength": 1, "maxLength": 2000})
    department: api.OptionalText = Field(
        default="", description="the competent department's slug; by default the topic's department")


def _ticket_response(ticket: Ticket, status: int = 200) -> ResponseReturnValue:
    location = f"/api/v1/tickets/{ticket.number}" if status == 201 else None
    return json_response(TicketOut.of(ticket), status, location)


def _staff_user() -> Any:
    user = current_user
    if getattr(user, "is_authenticated", False) and user.has_role(Role.EXPERT, Role.SUPERVISOR):
        return user
    return None


def _staff_may_open(user: Any, booking: Booking) -> bool:
    return may(user, Action.OPEN_FOLLOWUP, booking.scope)


TOO_MANY = (api.Error, "Too many requests (`rate_limited`, with a Retry-After header); per key for partners")


@documented({
    201: (TicketOut, "The new ticket (its address in the Location header)"),
    400: (api.Error, "`bad_request`: the body is not a JSON object (or, for staff, not application/json)"),
    401: (api.Error, "`unauthorized`: neither a partner key nor a staff sign-in, or a wrong key"),
    404: (api.Error, "No such booking for these credentials"),
    409: (api.Error, "`conflict`: the consultation has not been held, or was recorded as resolved; "
                     "`idempotency_in_progress`: a request with this Idempotency-Key is still running"),
    422: (api.Error, "`validation`: `fields.summary` or `fields.department`, or `fields.Idempotency-Key` (malformed "
                     "key); `idempotency_key_reused`: the key was used with another request"),
    429: TOO_MANY,
}, json=FollowupRequest, headers=IdempotencyHeader, security=[{"partnerKey": []}, {"staffSession": []}],
    path_parameter_descriptions={"code": "the booking code; case, spaces and dashes are ignored"})
@idempotent
def open_followup_ticket(code: str) -> ResponseReturnValue:
    """Open a follow-up ticket from a held consultation

    For a partner key, only bookings it created; for a signed-in staff member (session cookie,
    body sent as application/json), the consultation's expert, a supervisor of its department or
    an admin. The booking must be `completed` and not recorded as resolved. The citizen is emailed
    the ticket number, its due time and a link to follow it.
    """
    partner = reject_bad_credentials()
    staff = None if partner is not None else _staff_user()
    if partner is None and staff is None:
        raise Unauthorized(_("This request needs an API key or a staff sign-in."))
    if staff is not None and request.mimetype != "application/json":
        raise APIError(400, "bad_request", _("Send the body as application/json."))
    code = normalise_code(code)
    booking = db.session.scalar(select(Booking).where(Booking.code == code)) if CODE_RE.fullmatch(code) else None
    if booking is None:
        raise not_found(_("There is no such booking."))
    if partner is not None and booking.partner_key_id != partner.id:
        raise not_found(_("There is no such booking."))
    if staff is not None and not _staff_may_open(staff, booking):
        raise not_found(_("There is no such booking."))
    actor = partner.actor if partner is not None else Actor.staff(staff)

    order = parse_or_422(FollowupRequest, json_body())
    department = None
    if order.department:
        department = db.session.scalar(select(Department).where(Department.slug == order.department.strip()))
        if department is None:
            raise validation_error({"department": _("There is no such department.")})
    ticket = open_followup(db.session, booking, summary=order.summary, actor=actor, now=utcnow(),
                           config=current_app.config, department=department)
    return _ticket_response(ticket, 201)


@documented({200: (TicketOut, "The ticket"), 401: (api.Error, "No credentials at all, or a wrong partner key"),
             404: (api.Error, "No such ticket for these credentials"), 429: TOO_MANY},
            security=[{"partnerKey": []}, {"staffSession": []}, {"ticketToken": []}],
            path_parameter_descriptions={"number": "the ticket number, e.g. 2026-000123"})
def get_ticket(number: str) -> ResponseReturnValue:
    """A follow-up ticket

    With the partner key that created its booking, a staff sign-in that may see it, or the
    ticket's token from the citizen's link (`?token=`). Anything else is a 404.
    """
    partner = reject_bad_credentials()
    token = request.args.get("token", "")
    staff = None if partner is not None else _staff_user()
    if partner is None and staff is None and not token:
        raise Unauthorized(_("This request needs an API key or the ticket's token (?token=)."))
    ticket = db.session.scalar(select(Ticket).where(Ticket.number == number[:NUMBER_MAX]))
    if ticket is None:
        raise not_found(_("There is no such ticket."))
    if partner is not None and ticket.booking.partner_key_id == partner.id:
        return _ticket_response(ticket)
    if staff is not None and may(staff, Action.HANDLE_TICKET, ticket.scope):
        return _ticket_response(ticket)
    if token and len(token) <= TOKEN_MAX and citizen_token_matches(ticket, token):
        return _ticket_response(ticket)
    raise not_found(_("There is no such ticket."))


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/bookings/<code>/followup", view_func=open_followup_ticket, methods=["POST"])
    bp.add_url_rule("/tickets/<number>", view_func=get_ticket)
