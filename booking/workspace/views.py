"""Expert workspace pages: the day, the week and a phone list of consultations; the consultation card."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from booking import consultation
from booking.codes import display_code, normalise_code
from booking.models import Booking, BookingStatus, Outcome
from booking.workspace import feed, services
from booking.workspace.agenda import VIEWS, expert_agenda, period_for
from booking.workspace.forms import (
    FEED_DETAIL_LABELS,
    OUTCOME_LABELS,
    ActionForm,
    CompleteForm,
    FeedDetailForm,
    NoteForm,
)
from scheduler.audit import Actor
from scheduler.auth.access import Action, Scope, may
from scheduler.auth.models import Role
from scheduler.auth.roles import role_required
from scheduler.db import utcnow
from scheduler.errors import DomainError
from scheduler.experts.models import Expert
from scheduler.extensions import db
from scheduler.forms import apply_domain_error, flash_domain_error
from scheduler.inputs import parse_day, parse_id
from scheduler.schedules.forms import CHANNEL_LABELS
from scheduler.schedules.models import Channel

bp = Blueprint("workspace", __name__, url_prefix="/staff/workspace")

INVALID = 422


def _chosen_date(raw: str | None, today: date) -> date:
    if not raw:
        return today
    try:
        return parse_day(raw)
    except ValueError:
        abort(400)


def _chosen_expert(experts: list[Expert]) -> Expert | None:
    raw = request.args.get("expert", "")
    if not raw:
        own = next((e for e in experts if e.user_id == current_user.id), None)
        return own or (experts[0] if experts else None)
    expert_id = parse_id(raw)
    if expert_id is None:
        abort(400)
    expert = db.session.get(Expert, expert_id)
    if expert is None:
        abort(404)
    if not may(current_user, Action.VIEW_CALENDAR, Scope.of_expert(expert)):
        abort(403)
    return expert


@bp.route("/")
@role_required(Role.EXPERT, Role.SUPERVISOR)
def index() -> ResponseReturnValue:
    experts = services.visible_experts(db.session, current_user)
    expert = _chosen_expert(experts)
    view = request.args.get("view", "day")
    if view not in VIEWS:
        abort(400)
    now = utcnow()
    zone = expert.department.zone if expert is not None else current_app.config["BABEL_DEFAULT_TIMEZONE"]
    today = now.astimezone(expert.department.zone).date() if expert is not None else now.date()
    chosen = _chosen_date(request.args.get("date"), today)
    agenda = expert_agenda(db.session, expert, period_for(view, chosen))

    def link(**changes: Any) -> str:
        args = {"view": view, "date": chosen.isoformat(), **changes}
        if expert is not None and len(experts) > 1:
            args["expert"] = expert.id
        return url_for("workspace.index", **args)

    step = timedelta(days=agenda.period.step)
    return render_template(
        "workspace/index.html",
        experts=experts, expert=expert, view=view, chosen=chosen, today=today, first=agenda.period.first,
        days=agenda.period.days, by_day=agenda.by_day, bookings=agenda.bookings, zone=zone, now=now,
        prev_url=link(date=(chosen - step).isoformat()), next_url=link(date=(chosen + step).isoformat()),
        today_url=link(date=today.isoformat()), view_urls={v: link(view=v) for v in VIEWS},
        channel_labels=CHANNEL_LABELS,
        feed_url=feed.feed_url(expert, current_app.config) if expert is not None else None,
        feed_detail_form=FeedDetailForm(detail=expert.feed_detail if expert is not None else None),
        feed_detail_labels=FEED_DETAIL_LABELS,
        action_form=ActionForm(),
    )


# --------------------------------------------------------------------------- the consultation card


def _visible_booking(code: str, action: Action = Action.VIEW_BOOKING_PERSONAL_DATA) -> Booking:
    booking = db.session.scalar(select(Booking).where(Booking.code == normalise_code(code)[:16]))
    if booking is None or booking.status == BookingStatus.PENDING:
        abort(404)
    if not may(current_user, action, booking.scope):
        abort(403)
    return booking


def _card(booking: Booking, *, complete_form: CompleteForm | None = None, note_form: NoteForm | None = None,
          status: int = 200) -> ResponseReturnValue:
    now = utcnow()
    records = may(current_user, Action.RECORD_OUTCOME, booking.scope)
    views = current_app.view_functions
    return render_template(
        "workspace/booking.html",
        booking=booking, code=display_code(booking.code), now=now,
        zone=booking.location.zone if booking.location is not None else booking.topic.department.zone,
        channel_labels=CHANNEL_LABELS, outcome_labels=OUTCOME_LABELS,
        may_no_show=records and consultation.may_mark_no_show(booking, now),
        may_complete=records and consultation.may_complete(booking, now),
        complete_form=complete_form or CompleteForm(formdata=None),
        note_form=note_form or NoteForm(formdata=None),
        action_form=ActionForm(),
        notes=services.booking_notes(db.session, booking),
        # Only the assigned expert runs the room (the join page refuses anybody else).
        join_url=(url_for("video.expert_join", code=booking.code)
                  if booking.channel == Channel.VIDEO and "video.expert_join" in views
                  and may(current_user, Action.JOIN_VIDEO_AS_EXPERT, booking.scope)
                  and booking.status in (BookingStatus.CONFIRMED, BookingStatus.CHECKED_IN) else None),
        followup_url=(url_for("tickets.open_from_booking", code=booking.code)
                      if booking.outcome == Outcome.NEEDS_FOLLOWUP and "tickets.open_from_booking" in views
                      else None),
        calendar_url=url_for("workspace.index", date=booking.starts_at.astimezone(
            booking.expert.department.zone).date().isoformat(), expert=booking.expert_id),
    ), status


@bp.route("/bookings/<code>")
@role_required(Role.EXPERT, Role.SUPERVISOR)
def booking(code: str) -> ResponseReturnValue:
    return _card(_visible_booking(code))


def _after_action(booking: Booking, message: str) -> ResponseReturnValue:
    flash(message, "success")
    return redirect(url_for("workspace.booking", code=booking.code))


def _refused(booking: Booking, exc: DomainError) -> ResponseReturnValue:
    flash_domain_error(exc)
    return redirect(url_for("workspace.booking", code=booking.code))


@bp.route("/bookings/<code>/no-show", methods=["POST"])
@role_required(Role.EXPERT, Role.SUPERVISOR)
def no_show(code: str) -> ResponseReturnValue:
    booking = _visible_booking(code, Action.RECORD_OUTCOME)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        consultation.mark_no_show(db.session, booking, utcnow(), Actor.staff(current_user))
    except DomainError as exc:
        return _refused(booking, exc)
    return _after_action(booking, _("Marked as a no-show."))


@bp.route("/bookings/<code>/complete", methods=["POST"])
@role_required(Role.EXPERT, Role.SUPERVISOR)
def complete(code: str) -> ResponseReturnValue:
    booking = _visible_booking(code, Action.RECORD_OUTCOME)
    form = CompleteForm()
    if not form.validate_on_submit():
        return _card(booking, complete_form=form, status=INVALID)
    try:
        consultation.complete(db.session, booking, form.outcome.data or "", utcnow(), Actor.staff(current_user),
                              form.note.data or "")
    except DomainError as exc:
        return _refused(booking, exc)
    return _after_action(booking, _("The consultation is recorded as held."))


@bp.route("/bookings/<code>/notes", methods=["POST"])
@role_required(Role.EXPERT, Role.SUPERVISOR)
def add_note(code: str) -> ResponseReturnValue:
    booking = _visible_booking(code, Action.RECORD_OUTCOME)
    form = NoteForm()
    if not form.validate_on_submit():
        return _card(booking, note_form=form, status=INVALID)
    try:
        services.add_note(db.session, booking, current_user, form.text.data or "", utcnow())
    except DomainError as exc:
        apply_domain_error(form, exc)
        return _card(booking, note_form=form, status=INVALID)
    return _after_action(booking, _("Note saved."))


# --------------------------------------------------------------------------- the calendar feed's address


def _feed_expert(expert_id: int) -> Expert:
    expert = db.session.get(Expert, expert_id)
    if expert is None:
        abort(404)
    if not may(current_user, Action.VIEW_CALENDAR, Scope.of_expert(expert)):
        abort(403)
    if not ActionForm().validate_on_submit():
        abort(400)
    return expert


def _back_to_feed(expert: Expert, message: str) -> ResponseReturnValue:
    flash(message, "success")
    return redirect(url_for("workspace.index", expert=expert.id) + "#feed")


@bp.route("/feed/<int:expert_id>/enable", methods=["POST"])
@role_required(Role.EXPERT, Role.SUPERVISOR)
def feed_enable(expert_id: int) -> ResponseReturnValue:
    expert = _feed_expert(expert_id)
    if expert.feed_token_salt is None:
        feed.issue_feed_token(db.session, expert, current_app.config, Actor.staff(current_user))
    return _back_to_feed(expert, _("The calendar feed is on."))


@bp.route("/feed/<int:expert_id>/regenerate", methods=["POST"])
@role_required(Role.EXPERT, Role.SUPERVISOR)
def feed_regenerate(expert_id: int) -> ResponseReturnValue:
    expert = _feed_expert(expert_id)
    feed.issue_feed_token(db.session, expert, current_app.config, Actor.staff(current_user))
    return _back_to_feed(expert, _("The calendar feed has a new address; the old one no longer works."))


@bp.route("/feed/<int:expert_id>/revoke", methods=["POST"])
@role_required(Role.EXPERT, Role.SUPERVISOR)
def feed_revoke(expert_id: int) -> ResponseReturnValue:
    expert = _feed_expert(expert_id)
    feed.revoke_feed(db.session, expert, Actor.staff(current_user))
    return _back_to_feed(expert, _("The calendar feed is off."))


@bp.route("/feed/<int:expert_id>/detail", methods=["POST"])
@role_required(Role.EXPERT, Role.SUPERVISOR)
def feed_detail(expert_id: int) -> ResponseReturnValue:
    expert = _feed_expert(expert_id)
    form = FeedDetailForm()
    try:
        feed.set_feed_detail(db.session, expert, form.detail.data or "", Actor.staff(current_user))
    except DomainError as exc:
        flash_domain_error(exc)
        return redirect(url_for("workspace.index", expert=expert.id) + "#feed")
    return _back_to_feed(expert, _("Saved."))
