"""The manage page from the emailed link: details, history, calendar, cancel and reschedule."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from booking.availability import search_slots
from booking.citizen.access import grant_manage, managed_booking
from booking.citizen.choice import first_shown_day, group_by_day, parse_start
from booking.citizen.forms import ConfirmCancelForm, RescheduleForm
from booking.codes import display_code, normalise_code
from booking.links import ics_url
from booking.models import Booking
from booking.notifications import send_cancelled, send_rescheduled
from booking.services import cancel_booking, reschedule_booking
from scheduler.audit import Actor
from scheduler.db import utcnow
from scheduler.errors import DomainError
from scheduler.extensions import db
from scheduler.forms import apply_domain_error, flash_domain_error
from scheduler.inputs import parse_id

CITIZEN = Actor("citizen", None, "citizen")
RESCHEDULE_DAYS = 7


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


def cancel(code: str) -> ResponseReturnValue:
    booking = managed_booking(code)
    if not ConfirmCancelForm().validate_on_submit():
        abort(400)
    now = utcnow()
    try:
        cancel_booking(db.session, booking, now, CITIZEN)
    except DomainError as exc:
        flash_domain_error(exc)
    else:
        send_cancelled(db.session, booking, current_app.config, now)
        flash(_("The consultation has been cancelled. The time is free for others again."), "success")
    return redirect(url_for("citizen.manage", code=booking.code))


def reschedule(code: str) -> ResponseReturnValue:
    booking = managed_booking(code)
    now = utcnow()
    if not booking.can_reschedule(now):
        flash(_("This booking can no longer be rescheduled."), "error")
        return redirect(url_for("citizen.manage", code=booking.code))
    form = RescheduleForm()
    if not form.validate_on_submit():
        return _reschedule_page(booking, form, now)
    start = parse_start(form.start.data)
    if start is None:
        abort(400)
    try:
        reschedule_booking(db.session, booking, start, now, CITIZEN, expert_id=parse_id(form.expert.data),
                           location_id=parse_id(form.location.data))
    except DomainError as exc:  # a taken slot too: its message asks for another time
        apply_domain_error(form, exc)
        return _reschedule_page(booking, form, now, refused=True)
    send_rescheduled(db.session, booking, current_app.config, now)
    flash(_("The consultation has been moved. We sent the updated invitation to your email."), "success")
    return redirect(url_for("citizen.manage", code=booking.code))


def _reschedule_page(booking: Booking, form: RescheduleForm, now: datetime,
                     refused: bool = False) -> ResponseReturnValue:
    """A week of other free times for the booking (its own slot left out), from the day asked for."""
    topic = booking.topic
    today = now.astimezone(topic.department.zone).date()
    first_day = first_shown_day(request.args.get("from", ""), today)
    last_day = first_day + timedelta(days=RESCHEDULE_DAYS - 1)
    slots = search_slots(db.session, topic, booking.channel.value, first_day, last_day, now,
                         exclude_booking_id=booking.id)
    slots = [s for s in slots if not (s.start == booking.starts_at and s.expert.id == booking.expert_id)]
    previous_day: date | None = first_day - timedelta(days=RESCHEDULE_DAYS) if first_day > today else None
    return render_template(
        "citizen/reschedule.html", booking=booking, code=display_code(booking.code), days=group_by_day(slots),
        form=form, refused=refused, first_day=first_day, next_day=last_day + timedelta(days=1),
        previous_day=previous_day, zone=slots[0].start.tzinfo if slots else topic.department.zone, now=now,
    ), (409 if refused else 200)
