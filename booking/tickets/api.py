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

from flask import current_app, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from booking.api import bp
from booking.api.auth import Unauthorized, reject_bad_credentials
from booking.api.bookings import CODE_RE, TOKEN_MAX, domain_error, json_body, text_field
from booking.api.errors import APIError, not_found, validation_error
from booking.codes import normalise_code
from booking.models import Booking
from booking.tickets.models import Ticket
from booking.tickets.services import citizen_token_matches, open_followup, staff_can_see
from scheduler.audit import Actor
from scheduler.auth.access import Action, may
from scheduler.auth.models import Role
from scheduler.db import utcnow
from scheduler.departments.models import Department
from scheduler.errors import DomainError
from scheduler.extensions import db

NUMBER_MAX = 16


def department_json(department: Department) -> dict[str, Any]:
    return {"slug": department.slug, "title": department.title, "timezone": department.timezone}


def ticket_json(ticket: Ticket) -> dict[str, Any]:
    zone = ticket.department.zone
    return {
        "number": ticket.number,
        "status": ticket.status.value,
        "department": department_json(ticket.department),
        "opened_at": ticket.opened_at.astimezone(zone).isoformat(),
        "due_at": ticket.due_at.astimezone(zone).isoformat(),
        "answered_at": ticket.answered_at.astimezone(zone).isoformat() if ticket.answered_at else None,
        "booking": ticket.booking.code,
    }


def _ticket_response(ticket: Ticket, status: int = 200) -> ResponseReturnValue:
    response = jsonify(ticket_json(ticket))
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    if status == 201:
        response.headers["Location"] = f"/api/v1/tickets/{ticket.number}"
    return response


def _staff_user() -> Any:
    user = current_user
    if getattr(user, "is_authenticated", False) and user.has_role(Role.EXPERT, Role.SUPERVISOR):
        return user
    return None


def _staff_may_open(user: Any, booking: Booking) -> bool:
    return may(user, Action.OPEN_FOLLOWUP, booking.scope)


@bp.route("/bookings/<code>/followup", methods=["POST"])
def open_followup_ticket(code: str) -> ResponseReturnValue:
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

    data = json_body()
    errors: dict[str, str] = {}
    summary = text_field(data, "summary", "summary", errors)
    slug = text_field(data, "department", "department", errors, required=False)
    department = None
    if slug:
        department = db.session.scalar(select(Department).where(Department.slug == slug.strip()))
        if department is None:
            errors["department"] = _("There is no such department.")
    if errors:
        raise validation_error(errors)
    try:
        ticket = open_followup(db.session, booking, summary=summary or "", actor=actor, now=utcnow(),
                               config=current_app.config, department=department)
    except DomainError as exc:
        db.session.rollback()
        if exc.code == "conflict":
            raise domain_error(exc) from None
        raise validation_error(exc.fields) from None
    db.session.commit()
    return _ticket_response(ticket, 201)


@bp.route("/tickets/<number>")
def get_ticket(number: str) -> ResponseReturnValue:
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
    if staff is not None and staff_can_see(staff, ticket):
        return _ticket_response(ticket)
    if token and len(token) <= TOKEN_MAX and citizen_token_matches(ticket, token):
        return _ticket_response(ticket)
    raise not_found(_("There is no such ticket."))
