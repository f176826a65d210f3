"""Schedule management pages: weekly hours, overrides and reception days, with a slot preview."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from scheduler.audit import Actor
from scheduler.auth.access import Action, Scope, department_ids, may, may_anywhere
from scheduler.auth.models import Role
from scheduler.auth.roles import role_required
from scheduler.db import utcnow
from scheduler.departments.models import Location, Topic
from scheduler.errors import DomainError
from scheduler.experts.models import Expert
from scheduler.extensions import db
from scheduler.forms import apply_domain_error
from scheduler.schedules import services
from scheduler.schedules.forms import (
    CHANNEL_LABELS,
    EXCEPTION_KINDS,
    OVERRIDE_KIND_LABELS,
    OverrideForm,
    ReceptionDayForm,
    ReceptionExceptionForm,
    WeeklyForm,
    weekday_names,
)
from scheduler.schedules.models import Channel, DateOverride, ReceptionDay, ReceptionException
from scheduler.timefmt import zone_label

bp = Blueprint("schedules", __name__, url_prefix="/staff/schedules")

INVALID = 422  # every refused form post re-renders its page with this status


def _actor() -> Actor:
    return Actor.staff(current_user)


def managed_expert(expert_id: int) -> Expert:
    expert = db.session.get(Expert, expert_id)
    if expert is None:
        abort(404)
    if not may(current_user, Action.MANAGE_SCHEDULE, Scope.of_expert(expert)):
        abort(403)
    return expert


def _managed_reception_day(day_id: int) -> ReceptionDay:
    day = db.session.get(ReceptionDay, day_id, options=[selectinload(ReceptionDay.exceptions)])
    if day is None:
        abort(404)
    if not may(current_user, Action.MANAGE_RECEPTION_DAYS, Scope.of_location(day.location)):
        abort(403)
    return day


def _channel(value: str) -> Channel:
    try:
        return Channel(value)
    except ValueError:
        abort(404)


@bp.route("/")
@role_required(Role.EXPERT, Role.SUPERVISOR)
def index() -> Any:
    locations = services.manageable_locations(db.session, current_user)
    return render_template(
        "schedules/index.html",
        experts=services.manageable_experts(db.session, current_user),
        reception_days=services.reception_days_at(db.session, locations),
        may_manage_reception=may_anywhere(current_user, Action.MANAGE_RECEPTION_DAYS),
        weekdays=weekday_names("abbreviated"),
    )


# --------------------------------------------------------------------------- an expert's schedule


def expert_page(expert: Expert, *, weekly: WeeklyForm | None = None, weekly_channel: Channel | None = None,
                override_form: OverrideForm | None = None, preview: Any = None, preview_days: int = 0,
                status: int = 200) -> Any:
    """The expert page; a refused form is passed in so that it keeps the submitted values and messages.

    The page itself is served by booking (``booking.schedule_preview``), which adds the free-slot
    ``preview``; a refused form re-renders here without it.
    """
    locations = services.expert_locations(db.session, expert)
    forms = {
        channel: weekly if weekly is not None and channel == weekly_channel
        else WeeklyForm.for_rows(services.weekly_rows(db.session, expert, channel), channel, locations)
        for channel in Channel
    }
    now = utcnow()
    zone = expert.department.zone
    return render_template(
        "schedules/expert.html",
        expert=expert,
        weekly_forms=forms,
        override_form=override_form or OverrideForm(formdata=None),
        overrides=services.current_overrides(db.session, expert, now.astimezone(zone).date()),
        preview=preview,
        preview_days=preview_days,
        zone_name=zone_label(zone, now),
        channel_labels=CHANNEL_LABELS,
        kind_labels=OVERRIDE_KIND_LABELS,
        weekdays=weekday_names(),
        business_hours=expert.department.hours_by_weekday(),
    ), status


@bp.route("/experts/<int:expert_id>/weekly/<channel>", methods=["POST"])
@role_required(Role.EXPERT, Role.SUPERVISOR)
def weekly(expert_id: int, channel: str) -> Any:
    expert = managed_expert(expert_id)
    chosen = _channel(channel)
    form = WeeklyForm(prefix=chosen.value, locations=services.expert_locations(db.session, expert))
    if form.validate_on_submit():
        try:
            services.set_weekly_availability(db.session, _actor(), expert, chosen, form.weekly_rows())
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            flash(_("Weekly hours saved."), "success")
            return redirect(url_for("schedule_preview.expert", expert_id=expert.id, _anchor=f"weekly-{chosen.value}"))
    return expert_page(expert, weekly=form, weekly_channel=chosen, status=INVALID)


@bp.route("/experts/<int:expert_id>/overrides", methods=["POST"])
@role_required(Role.EXPERT, Role.SUPERVISOR)
def add_override(expert_id: int) -> Any:
    expert = managed_expert(expert_id)
    form = OverrideForm()
    if form.validate_on_submit():
        try:
            services.add_override(
                db.session, _actor(), expert, kind=form.kind.data or "", first_day=form.first_day.data,
                last_day=form.last_day.data, channel=form.channel.data or None, intervals=form.interval_pairs(),
                reason=form.reason.data or "",
            )
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            flash(_("The date override was added."), "success")
            return redirect(url_for("schedule_preview.expert", expert_id=expert.id, _anchor="overrides"))
    return expert_page(expert, override_form=form, status=INVALID)


@bp.route("/experts/<int:expert_id>/overrides/<int:override_id>/delete", methods=["POST"])
@role_required(Role.EXPERT, Role.SUPERVISOR)
def delete_override(expert_id: int, override_id: int) -> Any:
    expert = managed_expert(expert_id)
    override = db.session.get(DateOverride, override_id)
    if override is None or override.expert_id != expert.id:
        abort(404)
    services.delete_override(db.session, _actor(), override)
    flash(_("The date override was deleted."), "success")
    return redirect(url_for("schedule_preview.expert", expert_id=expert.id, _anchor="overrides"))


# --------------------------------------------------------------------------- reception days


@bp.route("/reception")
@role_required(Role.SUPERVISOR)
def reception() -> Any:
    locations = services.manageable_locations(db.session, current_user)
    return render_template(
        "schedules/reception_list.html",
        locations=locations,
        reception_days=services.reception_days_at(db.session, locations),
        weekdays=weekday_names("abbreviated"),
    )


def _reception_data(day: ReceptionDay | None) -> dict[str, Any] | None:
    if day is None:
        return None
    return {
        "title": day.title, "location_id": day.location_id, "weekdays": list(day.weekdays or []),
        "starts": day.starts, "ends": day.ends, "valid_from": day.valid_from, "valid_to": day.valid_to,
        "topics": [t.id for t in day.topics], "experts": [e.id for e in day.experts],
    }


def _reception_form(day: ReceptionDay | None, **kwargs: Any) -> ReceptionDayForm:
    """The form filled from ``day``, its choices limited to what the user may manage."""
    form = ReceptionDayForm(data=_reception_data(day), **kwargs)
    topics, experts = services.department_scope(db.session, department_ids(current_user,
                                                                           Action.MANAGE_RECEPTION_DAYS))
    form.set_choices(services.manageable_locations(db.session, current_user), topics, experts)
    return form


def _save_reception(day: ReceptionDay | None, form: ReceptionDayForm) -> ReceptionDay | None:
    """Validate and save; None (with messages on the form) when refused."""
    if not form.validate_on_submit():
        return None
    location = db.session.get(Location, form.location_id.data) if form.location_id.data else None
    if location is not None and not may(current_user, Action.MANAGE_RECEPTION_DAYS, Scope.of_location(location)):
        abort(403)
    topic_ids, expert_ids = form.topics.data or [], form.experts.data or []
    topics = db.session.scalars(select(Topic).where(Topic.id.in_(topic_ids)).order_by(Topic.id)).all()
    experts = db.session.scalars(select(Expert).where(Expert.id.in_(expert_ids)).order_by(Expert.id)).unique().all()
    try:
        return services.save_reception_day(
            db.session, _actor(), day, location=location, title=form.title.data or "",
            weekdays=form.weekdays.data or [], starts=form.starts.data, ends=form.ends.data,
            valid_from=form.valid_from.data, valid_to=form.valid_to.data, topics=topics, experts=experts,
        )
    except DomainError as exc:
        apply_domain_error(form, exc)
        return None


def _reception_page(day: ReceptionDay | None, form: ReceptionDayForm, *,
                    exception_form: ReceptionExceptionForm | None = None, status: int = 200) -> Any:
    return render_template(
        "schedules/reception_form.html",
        day=day,
        form=form,
        exception_form=exception_form or ReceptionExceptionForm(formdata=None),
        exception_kinds=EXCEPTION_KINDS,
    ), status


@bp.route("/reception/new", methods=["GET", "POST"])
@role_required(Role.SUPERVISOR)
def new_reception() -> Any:
    form = _reception_form(None)
    saved = _save_reception(None, form)
    if saved is not None:
        flash(_("The reception day was created."), "success")
        return redirect(url_for("schedules.edit_reception", day_id=saved.id))
    return _reception_page(None, form, status=INVALID if form.is_submitted() else 200)


@bp.route("/reception/<int:day_id>", methods=["GET", "POST"])
@role_required(Role.SUPERVISOR)
def edit_reception(day_id: int) -> Any:
    day = _managed_reception_day(day_id)
    form = _reception_form(day)
    saved = _save_reception(day, form)
    if saved is not None:
        flash(_("The reception day was saved."), "success")
        return redirect(url_for("schedules.edit_reception", day_id=day.id))
    return _reception_page(day, form, status=INVALID if form.is_submitted() else 200)


@bp.route("/reception/<int:day_id>/delete", methods=["POST"])
@role_required(Role.SUPERVISOR)
def delete_reception(day_id: int) -> Any:
    day = _managed_reception_day(day_id)
    services.delete_reception_day(db.session, _actor(), day)
    flash(_("The reception day was deleted."), "success")
    return redirect(url_for("schedules.reception"))


@bp.route("/reception/<int:day_id>/exceptions", methods=["POST"])
@role_required(Role.SUPERVISOR)
def add_exception(day_id: int) -> Any:
    day = _managed_reception_day(day_id)
    form = ReceptionExceptionForm()
    if form.validate_on_submit():
        try:
            services.add_reception_exception(
                db.session, _actor(), day, day=form.day.data, is_cancelled=form.kind.data == "cancelled",
                starts=form.starts.data, ends=form.ends.data, reason=form.reason.data or "",
            )
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            flash(_("The exception was added."), "success")
            return redirect(url_for("schedules.edit_reception", day_id=day.id, _anchor="exceptions"))
    edit_form = _reception_form(day, formdata=None)
    return _reception_page(day, edit_form, exception_form=form, status=INVALID)


@bp.route("/reception/<int:day_id>/exceptions/<int:exception_id>/delete", methods=["POST"])
@role_required(Role.SUPERVISOR)
def delete_exception(day_id: int, exception_id: int) -> Any:
    day = _managed_reception_day(day_id)
    exception = db.session.get(ReceptionException, exception_id)
    if exception is None or exception.reception_day_id != day.id:
        abort(404)
    services.delete_reception_exception(db.session, _actor(), exception)
    flash(_("The exception was deleted."), "success")
    return redirect(url_for("schedules.edit_reception", day_id=day.id, _anchor="exceptions"))
