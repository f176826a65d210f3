"""The booking wizard: details → review → hold with an emailed code → confirmed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import abort, current_app, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import select

from booking.availability import FoundSlot, topic_experts
from booking.citizen.access import grant_manage
from booking.citizen.choice import SlotChoice, find_active_topic, parse_slot_choice
from booking.citizen.forms import CodeForm, DetailsForm
from booking.citizen.limits import email_key, per_address_limit, per_person_limit, phone_key
from booking.citizens import CitizenDetails, validate_citizen, validate_question
from booking.codes import display_code
from booking.links import manage_token_for
from booking.models import Booking, BookingStatus
from booking.notifications import send_confirmation_code, send_confirmed
from booking.services import BookingPolicy, SlotTaken, confirm_hold, first_free_slot, hold_slot, nearest_alternatives
from scheduler.audit import Actor
from scheduler.db import utcnow
from scheduler.departments.models import Topic
from scheduler.errors import DomainError
from scheduler.extensions import db, limiter
from scheduler.forms import apply_domain_error
from scheduler.ratelimits import keep_page_when_limited
from scheduler.transaction import discard_changes


def _code_limit() -> str:
    return str(current_app.config["BOOKING_CODE_RATE_LIMIT"])


def _pending_hold_key() -> str:
    """Code attempts count per hold, not per address: many citizens may share one address."""
    return "code-hold:" + str(session.get("pending_booking", ""))


def _is_booking_post() -> bool:
    return request.method != "POST" or request.form.get("step") != "book"


# The audit log names the actor's kind only: a citizen's name or email is personal data.
CITIZEN = Actor("citizen", None, "citizen")


def _details_again(retry_minutes: int) -> ResponseReturnValue:
    """The details form as the citizen typed it, saying when they may book again (a hold limit was hit)."""
    topic = find_active_topic(str((request.view_args or {}).get("slug", "")))
    form = DetailsForm()
    choice = _slot_choice(topic, form)
    if choice is None:
        return render_template("errors/429.html", retry_minutes=retry_minutes)
    form.step.data = "review"  # back to the editable form, with the review step still ahead
    free = first_free_slot(db.session, topic, choice.channel, choice.start, utcnow(), choice.expert_id,
                           choice.location_id)
    return render_template("citizen/details.html", retry_minutes=retry_minutes,
                           **_details_context(topic, form, choice, free))


HOLD_LIMIT = {"methods": ["POST"], "exempt_when": _is_booking_post, "on_breach": keep_page_when_limited(_details_again)}


@limiter.limit(per_address_limit, **HOLD_LIMIT)
@limiter.limit(per_person_limit, key_func=email_key, **HOLD_LIMIT)
@limiter.limit(per_person_limit, key_func=phone_key, **HOLD_LIMIT)
def book(slug: str) -> ResponseReturnValue:
    topic = find_active_topic(slug)
    form = DetailsForm()
    if request.method == "GET":
        form.channel.data = request.args.get("channel", "")
        form.start.data = request.args.get("start", "")
        form.expert.data = request.args.get("expert", "")
        form.location.data = request.args.get("location", "")
    choice = _slot_choice(topic, form)
    if choice is None:
        return redirect(url_for("citizen.topic", slug=topic.slug))
    now = utcnow()
    free = first_free_slot(db.session, topic, choice.channel, choice.start, now, choice.expert_id, choice.location_id)
    if request.method == "GET" and free is None:
        return _slot_taken_page(topic, choice, nearest_alternatives(
            db.session, topic, choice.channel, choice.start, now, choice.expert_id, location_id=choice.location_id))
    context = _details_context(topic, form, choice, free)
    if request.method != "POST":
        return render_template("citizen/details.html", **context)
    form_is_complete = form.validate_on_submit()
    try:
        # Checked even when the form is incomplete, so every mistake is shown at the first submit.
        citizen, question = _applicant(form, topic)
    except DomainError as exc:
        apply_domain_error(form, _unmarked(form, exc))
        return render_template("citizen/details.html", **context), 422
    if not form_is_complete:
        return render_template("citizen/details.html", **context), 422
    if form.step.data == "edit":  # "Change details" on the review: the form again, as typed, nothing held
        form.step.data = "review"
        return render_template("citizen/details.html", **context)
    if form.step.data != "book":
        return render_template("citizen/review.html", citizen=citizen, question=question, **context)
    return _hold(topic, choice, citizen, question, now, form, context)


def _slot_choice(topic: Topic, form: DetailsForm) -> SlotChoice | None:
    return parse_slot_choice(topic, form.channel.data, form.start.data, form.expert.data, form.location.data)


def _unmarked(form: DetailsForm, exc: DomainError) -> DomainError:
    """The refusal's messages for fields the form's own checks left unmarked (one message a field)."""
    fields = {key: message for key, message in exc.fields.items()
              if not getattr(getattr(form, key, None), "errors", None)}
    return DomainError(fields, code=exc.code)


def _details_context(topic: Topic, form: DetailsForm, choice: SlotChoice, free: FoundSlot | None) -> dict[str, Any]:
    experts = {e.id: e for e in topic_experts(db.session, topic)}
    # Shown in the office's zone: the location's for a visit, the department's for video.
    return {"topic": topic, "form": form, "channel": choice.channel,
            "start": free.start if free is not None else choice.start.astimezone(topic.department.zone),
            "expert": experts.get(choice.expert_id) if choice.expert_id is not None else None,
            "location": free.location if free is not None else None}


def _applicant(form: DetailsForm, topic: Topic) -> tuple[CitizenDetails, str]:
    """The citizen's details and question by the booking rules; every problem of both at once."""
    problems: dict[str, str] = {}
    try:
        citizen = validate_citizen(
            name=form.name.data or "", email=form.email.data or "", phone=form.phone.data or "",
            applicant_type=form.applicant_type.data or "", organisation=form.organisation.data or "",
            inn=form.inn.data or "", allowed_types=topic.applicant_types,
            check_deliverability=current_app.config["EMAIL_CHECK_DELIVERABILITY"],
        )
    except DomainError as exc:
        problems.update(exc.fields)
    try:
        question = validate_question(form.question.data or "")
    except DomainError as exc:
        problems.update(exc.fields)
    if problems:
        raise DomainError(problems)
    return citizen, question


def _hold(topic: Topic, choice: SlotChoice, citizen: CitizenDetails, question: str, now: datetime,
          form: DetailsForm, context: dict[str, Any]) -> ResponseReturnValue:
    """Hold the slot and email the code; a taken slot offers the nearest free ones."""
    try:
        held = hold_slot(db.session, topic=topic, channel=choice.channel, start=choice.start, citizen=citizen,
                         question=question, now=now, policy=BookingPolicy.from_config(current_app.config),
                         actor=CITIZEN, expert_id=choice.expert_id, locale=str(get_locale() or "ru"),
                         location_id=choice.location_id)
    except SlotTaken as exc:
        discard_changes()  # release the experts' locks before searching for alternatives
        return _slot_taken_page(topic, choice, exc.find_alternatives(db.session))
    except DomainError as exc:
        apply_domain_error(form, exc)
        return render_template("citizen/details.html", **context), 422
    send_confirmation_code(db.session, held.booking, held.confirmation_code, current_app.config)
    session["pending_booking"] = held.booking.code
    return redirect(url_for("citizen.verify"))


def _slot_taken_page(topic: Topic, choice: SlotChoice, alternatives: list[FoundSlot]) -> ResponseReturnValue:
    return render_template("citizen/slot_taken.html", topic=topic, channel=choice.channel,
                           alternatives=alternatives), 409


def _pending_booking() -> Booking | None:
    code = session.get("pending_booking")
    if not code:
        return None
    return db.session.scalar(select(Booking).where(Booking.code == code))


@limiter.limit(per_address_limit, methods=["POST"])
@limiter.limit(_code_limit, methods=["POST"], key_func=_pending_hold_key)
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
        try:
            confirm_hold(db.session, booking, form.code.data or "", now,
                         BookingPolicy.from_config(current_app.config), CITIZEN)
        except DomainError as exc:
            apply_domain_error(form, exc)  # a wrong code keeps its attempt counted (keeps_changes)
            return render_template("citizen/verify.html", booking=booking, form=form,
                                   code=display_code(booking.code), expired=False), 422
        send_confirmed(db.session, booking, current_app.config, now)
        session.pop("pending_booking", None)
        grant_manage(booking.code, manage_token_for(booking, current_app.config))
        return redirect(url_for("citizen.manage", code=booking.code, confirmed=1))
    status = 422 if request.method == "POST" else 200
    if expired:
        policy = BookingPolicy.from_config(current_app.config)
        if policy.codes_exhausted(booking):  # released for the wrong codes, not the clock
            form.code.errors = [_("Too many wrong codes. The time has been released; book again.")]
        else:
            form.code.errors = [_("The time was held for %(n)s minutes and has been released. Book again.",
                                  n=policy.hold_minutes)]
    return render_template("citizen/verify.html", booking=booking, form=form, code=display_code(booking.code),
                           expired=expired), status
