"""Reception desk pages: today at this desk, the expert's queue, and the lobby display."""

from __future__ import annotations

from datetime import date
from typing import Any

import segno
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from booking import consultation
from booking.codes import display_code, normalise_code
from booking.models import Booking
from booking.reception import services
from booking.reception.duty import expert_duty
from booking.reception.forms import CallForm, CheckInForm, WalkInForm
from booking.reception.models import WaitingEntry, WaitingStatus
from booking.services import BookingPolicy
from booking.workspace.forms import OUTCOME_LABELS, ActionForm, CompleteForm
from booking.workspace.services import own_expert
from scheduler.audit import Actor
from scheduler.auth.access import Action, Scope, condition, may
from scheduler.auth.models import Role
from scheduler.auth.roles import role_required
from scheduler.db import utcnow
from scheduler.departments.models import Location, Topic
from scheduler.errors import DomainError, ErrorCode
from scheduler.experts.models import Expert
from scheduler.extensions import db
from scheduler.forms import apply_domain_error, flash_domain_error
from scheduler.inputs import parse_day

bp = Blueprint("reception", __name__)

DESK_ROLES = (Role.RECEPTION, Role.SUPERVISOR)
REFRESH_SECONDS = 15
STATE_LABELS = {
    "expected": _l("Expected"), "checked_in": _l("Checked in"), "called": _l("Called"),
    "in_consultation": _l("In consultation"), "completed": _l("Completed"), "no_show": _l("No-show"),
    "cancelled": _l("Cancelled"),
}


@bp.context_processor
def _labels() -> dict[str, Any]:
    return {"state_labels": STATE_LABELS}


@bp.app_template_global()
def qr_svg(code: str, scale: int = 4) -> Markup:
    """The booking code as an inline SVG QR code: the code only, no personal data.

    Always a regular QR code (``make_qr``): ``segno.make`` picks a Micro QR when the data fits, which
    phone camera apps and most desk scanners do not read.
    """
    svg = segno.make_qr(display_code(code), error="m").svg_inline(scale=scale, title=display_code(code))
    return Markup(svg)  # noqa: S704 -- segno escapes the title; the rest is its own markup


def _windows() -> services.Windows:
    config = current_app.config
    return services.Windows(early_minutes=int(config.get("RECEPTION_EARLY_MINUTES", 60)),
                            late_minutes=int(config.get("RECEPTION_LATE_MINUTES", 15)))


def _desk_location(slug: str) -> Location:
    location = db.session.scalar(select(Location).where(Location.slug == slug))
    if location is None:
        abort(404)
    if not may(current_user, Action.WORK_DESK, Scope.of_location(location)):
        abort(403)
    return location


def _chosen_day(location: Location) -> date:
    today = services.local_today(location, utcnow())
    raw = request.args.get("date")
    if not raw:
        return today
    try:
        return parse_day(raw)
    except ValueError:
        abort(400)


# --------------------------------------------------------------------------- the desk


@bp.route("/staff/reception/")
@role_required(*DESK_ROLES)
def index() -> ResponseReturnValue:
    if current_user.role == Role.RECEPTION and current_user.location_id is not None:
        location = db.session.get(Location, current_user.location_id)
        if location is not None:
            return redirect(url_for("reception.desk", slug=location.slug))
    locations = db.session.scalars(select(Location).where(condition(
        current_user, Action.WORK_DESK, department=Location.department_id, location=Location.id,
    )).order_by(Location.name)).all()
    return render_template("reception/index.html", locations=locations)


def _desk_context(location: Location, day: date) -> dict[str, Any]:
    now = utcnow()
    bookings = services.day_bookings(db.session, location, day)
    waiting = services.day_waiting(db.session, location, day)
    rows: list[dict[str, Any]] = [{"kind": "booking", "at": b.starts_at, "item": b, "state": services.visit_state(b)}
                                  for b in bookings]
    rows += [{"kind": "waiting", "at": w.registered_at, "item": w, "state": services.waiting_state(w)}
             for w in waiting]
    rows.sort(key=lambda r: r["at"])
    return {"location": location, "day": day, "now": now, "zone": location.zone, "rows": rows,
            "figures": services.waiting_figures(bookings, waiting), "action_form": ActionForm(),
            "today": services.local_today(location, now), "display_code": display_code}


def _desk_page(location: Location, *, check_in_form: CheckInForm | None = None, walk_in_form: WalkInForm | None = None,
               call_form: CallForm | None = None, status: int = 200) -> ResponseReturnValue:
    day = _chosen_day(location)
    experts, topics = services.on_duty(db.session, location, services.local_today(location, utcnow()))
    walk_in_form = walk_in_form or WalkInForm(formdata=None)
    walk_in_form.topic.choices = [SelectChoice(str(t.id), t.title) for t in topics]
    call_form = call_form or CallForm(formdata=None)
    call_form.expert.choices = [SelectChoice("", _("Any expert"))] + [SelectChoice(str(e.id), e.name)
                                                                        for e in experts]
    return render_template(
        "reception/desk.html", check_in_form=check_in_form or CheckInForm(formdata=None),
        walk_in_form=walk_in_form, call_form=call_form, experts=experts, topics=topics,
        refresh_seconds=REFRESH_SECONDS, **_desk_context(location, day),
    ), status


@bp.route("/staff/reception/<slug>")
@role_required(*DESK_ROLES)
def desk(slug: str) -> ResponseReturnValue:
    return _desk_page(_desk_location(slug))


@bp.route("/staff/reception/<slug>/table")
@role_required(*DESK_ROLES)
def desk_table(slug: str) -> ResponseReturnValue:
    """The table region alone, fetched by the desk page every few seconds."""
    location = _desk_location(slug)
    return render_template("reception/_table.html", **_desk_context(location, _chosen_day(location)))


def _back(location: Location) -> ResponseReturnValue:
    return redirect(url_for("reception.desk", slug=location.slug))


@bp.route("/staff/reception/<slug>/check-in", methods=["POST"])
@role_required(*DESK_ROLES)
def check_in(slug: str) -> ResponseReturnValue:
    location = _desk_location(slug)
    form = CheckInForm()
    if not form.validate_on_submit():
        return _desk_page(location, check_in_form=form, status=422)
    try:
        booking = services.check_in(db.session, form.code.data or "", location, utcnow(), _windows(),
                                    Actor.staff(current_user))
    except DomainError as exc:
        apply_domain_error(form, exc, aliases={"booking": "code"})
        return _desk_page(location, check_in_form=form, status=409 if exc.code != ErrorCode.VALIDATION else 422)
    flash(_("Checked in: %(name)s, queue number %(n)s.", name=booking.citizen_name, n=booking.queue_number),
          "success")
    return _back(location)


@bp.route("/staff/reception/<slug>/walk-in", methods=["POST"])
@role_required(*DESK_ROLES)
def walk_in(slug: str) -> ResponseReturnValue:
    location = _desk_location(slug)
    form = WalkInForm()
    _experts, topics = services.on_duty(db.session, location, services.local_today(location, utcnow()))
    form.topic.choices = [SelectChoice(str(t.id), t.title) for t in topics]
    if not form.validate_on_submit():
        return _desk_page(location, walk_in_form=form, status=422)
    topic = db.session.get(Topic, int(form.topic.data))
    assert topic is not None  # the choices hold only existing topics
    try:
        result = services.register_walk_in(
            db.session, location=location, topic=topic, name=form.name.data or "", phone=form.phone.data or "",
            now=utcnow(), policy=BookingPolicy.from_config(current_app.config), actor=Actor.staff(current_user),
        )
    except DomainError as exc:
        apply_domain_error(form, exc)
        return _desk_page(location, walk_in_form=form, status=422)
    if result.booking is not None:
        zone = location.zone
        flash(_("Walk-in registered: queue number %(n)s, at %(time)s.", n=result.queue_number,
                time=result.booking.starts_at.astimezone(zone).strftime("%H:%M")), "success")
    else:
        flash(_("No free time left today: the visitor is on the waiting list, queue number %(n)s.",
                n=result.queue_number), "success")
    return _back(location)


@bp.route("/staff/reception/<slug>/call", methods=["POST"])
@role_required(*DESK_ROLES)
def desk_call(slug: str) -> ResponseReturnValue:
    location = _desk_location(slug)
    form = CallForm()
    experts, _topics = services.on_duty(db.session, location, services.local_today(location, utcnow()))
    form.expert.choices = [SelectChoice("", "")] + [SelectChoice(str(e.id), e.name) for e in experts]
    if not form.validate_on_submit():
        return _desk_page(location, call_form=form, status=422)
    expert = next((e for e in experts if str(e.id) == form.expert.data), None)
    return _call(location, form.window.data or "", expert, _back(location))


def _call(location: Location, window: str, expert: Expert | None, then: ResponseReturnValue) -> ResponseReturnValue:
    try:
        called = services.call_next(db.session, location, utcnow(), window, Actor.staff(current_user), expert)
    except DomainError as exc:
        flash_domain_error(exc)
        return then
    if called is None:
        flash(_("Nobody is waiting."), "success")
    else:
        flash(_("Called number %(n)s to %(window)s.", n=called.queue_number, window=called.call_window), "success")
    return then


def _location_booking(location: Location, code: str) -> Booking:
    booking = db.session.scalar(select(Booking).where(Booking.code == normalise_code(code)[:16]))
    if booking is None or booking.location_id != location.id:
        abort(404)
    return booking


@bp.route("/staff/reception/<slug>/bookings/<code>/no-show", methods=["POST"])
@role_required(*DESK_ROLES)
def desk_no_show(slug: str, code: str) -> ResponseReturnValue:
    location = _desk_location(slug)
    booking = _location_booking(location, code)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        consultation.mark_no_show(db.session, booking, utcnow(), Actor.staff(current_user))
    except DomainError as exc:
        flash_domain_error(exc)
        return _back(location)
    flash(_("Marked as a no-show."), "success")
    return _back(location)


@bp.route("/staff/reception/<slug>/waiting/<int:entry_id>/left", methods=["POST"])
@role_required(*DESK_ROLES)
def desk_left(slug: str, entry_id: int) -> ResponseReturnValue:
    location = _desk_location(slug)
    entry = db.session.get(WaitingEntry, entry_id)
    if entry is None or entry.location_id != location.id:
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        services.move_waiting(db.session, entry, WaitingStatus.LEFT, utcnow(), Actor.staff(current_user))
    except DomainError as exc:
        flash_domain_error(exc)
        return _back(location)
    return _back(location)


# --------------------------------------------------------------------------- the expert on duty


def _own_expert() -> Expert:
    expert = own_expert(db.session, current_user)
    if expert is None:
        abort(403)
    return expert


@bp.route("/staff/reception/expert")
@role_required(Role.EXPERT)
def expert_queue() -> ResponseReturnValue:
    expert = own_expert(db.session, current_user)
    now = utcnow()
    places = expert_duty(db.session, expert, now) if expert is not None else []
    return render_template("reception/expert.html", expert=expert, places=places, now=now,
                           call_forms={p.location.id: CallForm(formdata=None, window=p.last_window) for p in places},
                           action_form=ActionForm(), complete_form=CompleteForm(formdata=None),
                           outcome_labels=OUTCOME_LABELS, display_code=display_code,
                           refresh_seconds=REFRESH_SECONDS)


def _back_to_queue() -> ResponseReturnValue:
    return redirect(url_for("reception.expert_queue"))


@bp.route("/staff/reception/expert/<int:location_id>/call", methods=["POST"])
@role_required(Role.EXPERT)
def expert_call(location_id: int) -> ResponseReturnValue:
    expert = _own_expert()
    now = utcnow()
    location = db.session.get(Location, location_id)
    if location is None:
        abort(404)
    on_duty, _topics = services.on_duty(db.session, location, services.local_today(location, now))
    if not may(current_user, Action.CONDUCT_AT_DESK, Scope.of_location(location, (e.user_id for e in on_duty))):
        abort(403)
    form = CallForm()
    form.expert.choices = [SelectChoice("", "")]
    if not form.validate_on_submit():
        flash(_("Say which window or room the visitor goes to."), "error")
        return _back_to_queue()
    return _call(location, form.window.data or "", expert, _back_to_queue())


def _expert_booking(code: str) -> Booking:
    booking = db.session.scalar(select(Booking).where(Booking.code == normalise_code(code)[:16]))
    if booking is None:
        abort(404)
    if not may(current_user, Action.CONDUCT_AT_DESK, booking.scope):
        abort(403)
    return booking


@bp.route("/staff/reception/expert/bookings/<code>/<action>", methods=["POST"])
@role_required(Role.EXPERT)
def expert_booking_action(code: str, action: str) -> ResponseReturnValue:
    booking = _expert_booking(code)
    actor, now = Actor.staff(current_user), utcnow()
    try:
        if action == "start":
            if not ActionForm().validate_on_submit():
                abort(400)
            services.start_consultation(db.session, booking, now, actor)
        elif action == "complete":
            form = CompleteForm()
            if not form.validate_on_submit():
                flash(_("Choose the outcome."), "error")
                return _back_to_queue()
            consultation.complete(db.session, booking, form.outcome.data or "", now, actor, form.note.data or "")
        elif action == "no-show":
            if not ActionForm().validate_on_submit():
                abort(400)
            consultation.mark_no_show(db.session, booking, now, actor)
        else:
            abort(404)
    except DomainError as exc:
        flash_domain_error(exc)
        return _back_to_queue()
    return _back_to_queue()


WAITING_ACTIONS = {"start": WaitingStatus.STARTED, "complete": WaitingStatus.SERVED, "left": WaitingStatus.LEFT}


@bp.route("/staff/reception/expert/waiting/<int:entry_id>/<action>", methods=["POST"])
@role_required(Role.EXPERT)
def expert_waiting_action(entry_id: int, action: str) -> ResponseReturnValue:
    entry = db.session.get(WaitingEntry, entry_id)
    if entry is None or action not in WAITING_ACTIONS:
        abort(404)
    if not may(current_user, Action.CONDUCT_AT_DESK, entry.scope):
        abort(403)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        services.move_waiting(db.session, entry, WAITING_ACTIONS[action], utcnow(), Actor.staff(current_user))
    except DomainError as exc:
        flash_domain_error(exc)
        return _back_to_queue()
    return _back_to_queue()


# --------------------------------------------------------------------------- the lobby display


@bp.route("/lobby/<slug>")
def lobby(slug: str) -> ResponseReturnValue:
    """For a screen in the waiting room: queue numbers and windows only, never a name."""
    location = db.session.scalar(select(Location).where(Location.slug == slug))
    if location is None:
        abort(404)
    now = utcnow()
    today = services.local_today(location, now)
    bookings = services.day_bookings(db.session, location, today)
    waiting = services.day_waiting(db.session, location, today)
    return render_template("reception/lobby.html", location=location, now=now, zone=location.zone,
                           called=services.called_now(bookings, waiting)[:8],
                           figures=services.waiting_figures(bookings, waiting), refresh_seconds=REFRESH_SECONDS)
