"""The booking wizard: details → review → hold with an emailed code → confirmed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import abort, current_app, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import select

from booking.availability import topic_experts
from booking.citizen.forms import CodeForm, DetailsForm
from booking.citizen.manage import grant_manage
from booking.citizen.views import bp, find_active_topic
from booking.citizens import validate_citizen, validate_question
from booking.codes import display_code
from booking.links import manage_token_for
from booking.models import Booking, BookingStatus
from booking.notifications import send_confirmation_code, send_confirmed
from booking.services import BookingPolicy, SlotTaken, confirm_hold, first_free_slot, hold_slot
from scheduler.audit import Actor
from scheduler.db import utcnow
from scheduler.errors import DomainError
from scheduler.extensions import db, limiter


def _parse_start(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def _hold_limit() -> str:
    return str(current_app.config["BOOKING_HOLD_RATE_LIMIT"])


def _code_limit() -> str:
    return str(current_app.config["BOOKING_CODE_RATE_LIMIT"])


def _email_key() -> str:
    return "hold-email:" + request.form.get("email", "").strip().lower()


def _is_booking_post() -> bool:
    return request.method != "POST" or request.form.get("step") != "book"


# The audit log names the actor's kind only: a citizen's name or email is personal data.
CITIZEN = Actor("citizen", None, "citizen")


def _apply_errors(form: DetailsForm, error: DomainError) -> None:
    for name, message in error.fields.items():
        target = getattr(form, name, None) or form.start
        target.errors = [*list(target.errors or []), message]


@bp.route("/book/<slug>", methods=["GET", "POST"])
@limiter.limit(_hold_limit, methods=["POST"], exempt_when=_is_booking_post)
@limiter.limit(_hold_limit, methods=["POST"], key_func=_email_key, exempt_when=_is_booking_post)
def book(slug: str) -> ResponseReturnValue:
    topic = find_active_topic(slug)
    form = DetailsForm()
    if request.method == "GET":
        form.channel.data = request.args.get("channel", "")
        form.start.data = request.args.get("start", "")
        form.expert.data = request.args.get("expert", "")
        form.location.data = request.args.get("location", "")
    channel = form.channel.data if form.channel.data in topic.channels else None
    start = _parse_start(form.start.data)
    expert_id = int(form.expert.data) if (form.expert.data or "").isdigit() else None
    location_id = int(form.location.data) if (form.location.data or "").isdigit() else None
    if channel is None or start is None:
        return redirect(url_for("citizen.topic", slug=topic.slug))
    experts = {e.id: e for e in topic_experts(db.session, topic)}
    expert = experts.get(expert_id) if expert_id is not None else None
    now = utcnow()
    free = first_free_slot(db.session, topic, channel, start, now, expert_id, location_id)
    if request.method == "GET" and free is None:
        return _slot_gone(topic, channel, start, expert_id, now, location_id)
    # Shown in the office's zone: the location's for a visit, the department's for video.
    shown = free.start if free is not None else start.astimezone(topic.department.zone)
    context: dict[str, Any] = {"topic": topic, "form": form, "channel": channel, "start": shown, "expert": expert,
                               "location": free.location if free is not None else None}
    if request.method == "POST" and form.validate_on_submit():
        try:
            citizen = validate_citizen(
                name=form.name.data or "", email=form.email.data or "", phone=form.phone.data or "",
                applicant_type=form.applicant_type.data or "", organisation=form.organisation.data or "",
                inn=form.inn.data or "", allowed_types=topic.applicant_types,
                check_deliverability=current_app.config["EMAIL_CHECK_DELIVERABILITY"],
            )
            question = validate_question(form.question.data or "")
        except DomainError as exc:
            _apply_errors(form, exc)
            return render_template("citizen/details.html", **context), 422
        if form.step.data != "book":
            form.step.data = "book"
            return render_template("citizen/review.html", citizen=citizen, question=question, **context)
        policy = BookingPolicy.from_config(current_app.config)
        try:
            held = hold_slot(db.session, topic=topic, channel=channel, start=start, citizen=citizen,
                             question=question, now=now, policy=policy, actor=CITIZEN,
                             expert_id=expert_id, locale=str(get_locale() or "ru"), location_id=location_id)
        except SlotTaken as exc:
            db.session.rollback()
            return render_template("citizen/slot_taken.html", topic=topic, channel=channel,
                                   alternatives=exc.find_alternatives(db.session)), 409
        except DomainError as exc:
            db.session.rollback()
            _apply_errors(form, exc)
            return render_template("citizen/details.html", **context), 422
        send_confirmation_code(db.session, held.booking, held.confirmation_code, current_app.config)
        db.session.commit()
        session["pending_booking"] = held.booking.code
        return redirect(url_for("citizen.verify"))
    status = 422 if request.method == "POST" else 200
    return render_template("citizen/details.html", **context), status


def _slot_gone(topic: Any, channel: str, start: datetime, expert_id: int | None, now: datetime,
               location_id: int | None = None) -> ResponseReturnValue:
    from booking.services import nearest_alternatives

    alternatives = nearest_alternatives(db.session, topic, channel, start, now, expert_id, location_id=location_id)
    return render_template("citizen/slot_taken.html", topic=topic, channel=channel, alternatives=alternatives), 409


def _pending_booking() -> Booking | None:
    code = session.get("pending_booking")
    if not code:
        return None
    return db.session.scalar(select(Booking).where(Booking.code == code))


@bp.route("/book/verify", methods=["GET", "POST"])
@limiter.limit(_code_limit, methods=["POST"])
def verify() -> ResponseReturnValue:
    booking = _pending_booking()
    if booking is None:
        abort(404)
    if booking.status == BookingStatus.CONFIRMED:
        return redirect(url_for("citizen.manage", code=booking.code))
    form = CodeForm()
    now = utcnow()
    expired = booking.status != BookingStatus.PENDING or (booking.hold_expires_at or now) <= now
    if form.validate_on_submit() and not expired:
        policy = BookingPolicy.from_config(current_app.config)
        try:
            confirm_hold(db.session, booking, form.code.data or "", now, policy, CITIZEN)
        except DomainError as exc:
            db.session.commit()  # the attempt counter (and a release after too many) must stick
            form.code.errors = [*list(form.code.errors or []), *exc.fields.values()]
            return render_template("citizen/verify.html", booking=booking, form=form,
                                   code=display_code(booking.code), expired=False), 422
        send_confirmed(db.session, booking, current_app.config, now)
        db.session.commit()
        session.pop("pending_booking", None)
        grant_manage(booking.code, manage_token_for(booking, current_app.config))
        return redirect(url_for("citizen.manage", code=booking.code, confirmed=1))
    status = 422 if request.method == "POST" else 200
    if expired:
        form.code.errors = [_("The time was held for %(n)s minutes and has been released. Book again.",
                              n=current_app.config["BOOKING_HOLD_MINUTES"])]
    return render_template("citizen/verify.html", booking=booking, form=form, code=display_code(booking.code),
                           expired=expired), status
