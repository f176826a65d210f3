"""The manage page from the emailed link: details, history, calendar, cancel and reschedule."""

from __future__ import annotations

from datetime import date, timedelta

from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import select

from booking.availability import search_slots
from booking.citizen.forms import ConfirmCancelForm, RescheduleForm
from booking.citizen.views import bp
from booking.codes import display_code, normalise_code, tokens_match
from booking.links import ics_url
from booking.models import Booking
from booking.notifications import send_cancelled, send_rescheduled
from booking.services import SlotTaken, cancel_booking, reschedule_booking
from scheduler.audit import Actor
from scheduler.db import utcnow
from scheduler.errors import DomainError
from scheduler.extensions import db

CITIZEN = Actor("citizen", None, "citizen")
RESCHEDULE_DAYS = 7


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


@bp.route("/manage/<code>")
def manage(code: str) -> ResponseReturnValue:
    token = request.args.get("token")
    if token:
        # Move the secret out of the address bar (and out of later Referer headers).
        grant_manage(normalise_code(code), token)
        return redirect(url_for("citizen.manage", code=normalise_code(code)))
    booking = managed_booking(code)
    now = utcnow()
    zone = booking.location.zone if booking.location is not None else booking.topic.department.zone
    return render_template(
        "citizen/manage.html", booking=booking, code=display_code(booking.code), zone=zone, now=now,
        cancel_form=ConfirmCancelForm(), ics_link=ics_url(booking, current_app.config),
        can_cancel=booking.can_cancel(now), can_reschedule=booking.can_reschedule(now),
        just_confirmed=request.args.get("confirmed") == "1",
    )


@bp.route("/manage/<code>/cancel", methods=["POST"])
def cancel(code: str) -> ResponseReturnValue:
    booking = managed_booking(code)
    form = ConfirmCancelForm()
    if not form.validate_on_submit():
        abort(400)
    now = utcnow()
    try:
        cancel_booking(db.session, booking, now, CITIZEN)
    except DomainError as exc:
        db.session.rollback()
        flash(next(iter(exc.fields.values())), "error")
        return redirect(url_for("citizen.manage", code=booking.code))
    send_cancelled(db.session, booking, current_app.config, now)
    db.session.commit()
    flash(_("The consultation has been cancelled. The time is free for others again."), "success")
    return redirect(url_for("citizen.manage", code=booking.code))


@bp.route("/manage/<code>/reschedule", methods=["GET", "POST"])
def reschedule(code: str) -> ResponseReturnValue:
    booking = managed_booking(code)
    now = utcnow()
    if not booking.can_reschedule(now):
        flash(_("This booking can no longer be rescheduled."), "error")
        return redirect(url_for("citizen.manage", code=booking.code))
    form = RescheduleForm()
    error = None
    if form.validate_on_submit():
        from booking.citizen.wizard import _parse_start

        start = _parse_start(form.start.data)
        expert_id = int(form.expert.data) if (form.expert.data or "").isdigit() else None
        location_id = int(form.location.data) if (form.location.data or "").isdigit() else None
        if start is None:
            abort(400)
        try:
            reschedule_booking(db.session, booking, start, now, CITIZEN, expert_id=expert_id,
                               location_id=location_id)
        except SlotTaken:
            db.session.rollback()
            error = _("This time has just been taken. Choose another one.")
        except DomainError as exc:
            db.session.rollback()
            error = next(iter(exc.fields.values()))
        else:
            send_rescheduled(db.session, booking, current_app.config, now)
            db.session.commit()
            flash(_("The consultation has been moved. We sent the updated invitation to your email."), "success")
            return redirect(url_for("citizen.manage", code=booking.code))
    topic = booking.topic
    today = now.astimezone(topic.department.zone).date()
    try:
        first_day = max(date.fromisoformat(request.args.get("from", "")), today)
    except ValueError:
        first_day = today
    last_day = first_day + timedelta(days=RESCHEDULE_DAYS - 1)
    slots = search_slots(db.session, topic, booking.channel.value, first_day, last_day, now,
                         exclude_booking_id=booking.id)
    slots = [s for s in slots if not (s.start == booking.starts_at and s.expert.id == booking.expert_id)]
    days: dict[date, list] = {}
    for found in slots:
        days.setdefault(found.start.date(), []).append(found)
    return render_template(
        "citizen/reschedule.html", booking=booking, code=display_code(booking.code), days=days, form=form,
        error=error, first_day=first_day, next_day=last_day + timedelta(days=1),
        previous_day=first_day - timedelta(days=RESCHEDULE_DAYS) if first_day > today else None,
        zone=slots[0].start.tzinfo if slots else topic.department.zone, now=now,
    ), (409 if error else 200)
