"""Ticket pages for staff (open, work, queue, rating) and for citizens (status, confirm or reject)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length

from booking.codes import display_code, normalise_code
from booking.models import Booking
from booking.tickets import services
from booking.tickets.models import AWAITING_ANSWER, Ticket, TicketStatus, in_queue_of
from booking.tickets.rating import department_rating, period_rating
from scheduler.audit import Actor
from scheduler.auth.access import Action, condition, may
from scheduler.auth.models import Role, User
from scheduler.auth.roles import role_required
from scheduler.db import utcnow
from scheduler.departments.models import Department
from scheduler.errors import DomainError, ErrorCode
from scheduler.extensions import db
from scheduler.forms import apply_domain_error, flash_domain_error
from scheduler.inputs import parse_day, parse_id

bp = Blueprint("tickets", __name__)

CITIZEN = Actor("citizen", None, "citizen")
NUMBER_MAX = 16
RATING_DEFAULT_DAYS = 7
RATING_MAX_DAYS = 366

STATUS_LABELS = {
    "open": _l("Open"),
    "in_progress": _l("In progress"),
    "answered": _l("Answered, awaiting the citizen's confirmation"),
    "reopened": _l("Reopened"),
    "closed": _l("Closed: answer confirmed"),
    "closed_unconfirmed": _l("Closed: answered, not confirmed"),
}
EVENT_LABELS = {
    "opened": _l("Ticket opened"),
    "started": _l("Work started"),
    "answered": _l("Answer sent"),
    "confirmed": _l("Answer confirmed by the citizen"),
    "rejected": _l("Answer rejected by the citizen"),
    "closed_unconfirmed": _l("Closed without confirmation"),
    "reassigned": _l("Reassigned"),
    "extended": _l("Due time extended"),
    "comment": _l("Internal comment"),
    "due_soon": _l("Reminder: due soon"),
    "overdue": _l("Reminder: overdue"),
}


def ticket_status_label(status: str) -> str:
    return str(STATUS_LABELS.get(status, status))


def ticket_event_label(kind: str) -> str:
    return str(EVENT_LABELS.get(kind, kind))


@bp.app_context_processor
def _labels() -> dict[str, Any]:
    return {"ticket_status_label": ticket_status_label, "ticket_event_label": ticket_event_label}


# --- forms ---------------------------------------------------------------------------------------

def _department_choices() -> list[SelectChoice]:
    rows = db.session.scalars(select(Department).where(Department.is_active.is_(True)).order_by(Department.title))
    return [SelectChoice(d.slug, d.title) for d in rows]


def _assignee_choices() -> list[SelectChoice]:
    rows = db.session.scalars(
        select(User).where(User.role.in_((Role.EXPERT, Role.SUPERVISOR)), User.is_active_account.is_(True))
        .order_by(User.full_name, User.id)
    )
    return [SelectChoice("", _("Nobody yet")), *(SelectChoice(str(u.id), u.full_name) for u in rows)]


class OpenTicketForm(FlaskForm):
    summary = TextAreaField(_l("What must be answered"), validators=[InputRequired(), Length(max=services.SUMMARY_MAX)])
    department = SelectField(_l("Competent department"), validators=[InputRequired()])
    assignee = SelectField(_l("Assignee"), default="")


class AnswerForm(FlaskForm):
    answer = TextAreaField(_l("Answer to the citizen"), validators=[InputRequired(), Length(max=services.TEXT_MAX)])


class CommentForm(FlaskForm):
    comment = TextAreaField(_l("Internal comment"), validators=[InputRequired(), Length(max=services.TEXT_MAX)])


class ReassignForm(FlaskForm):
    department = SelectField(_l("Department"), validators=[InputRequired()])
    assignee = SelectField(_l("Assignee"), default="")
    note = StringField(_l("Note"), validators=[Length(max=services.TEXT_MAX)])


class ExtendForm(FlaskForm):
    due_date = DateField(_l("New due date"), validators=[InputRequired()])
    reason = TextAreaField(_l("Reason"), validators=[InputRequired(), Length(max=services.TEXT_MAX)])


class EmptyForm(FlaskForm):
    """Just the CSRF token, for one-button actions."""


class RejectForm(FlaskForm):
    comment = TextAreaField(_l("What is still wrong"), validators=[InputRequired(), Length(max=services.TEXT_MAX)])


def _with_choices(form: Any) -> Any:
    if hasattr(form, "department"):
        form.department.choices = _department_choices()
    if hasattr(form, "assignee"):
        form.assignee.choices = _assignee_choices()
    return form


def _chosen_department(slug: str | None) -> Department:
    department = db.session.scalar(select(Department).where(Department.slug == (slug or "")))
    if department is None:
        raise DomainError({"department": _l("There is no such department.")})
    return department


def _chosen_user(raw: str | None) -> User | None:
    if not raw:
        return None
    user_id = parse_id(raw)
    user = db.session.get(User, user_id) if user_id is not None else None
    if user is None:
        raise DomainError({"assignee": _l("There is no such staff member.")})
    return user


# --- staff -----------------------------------------------------------------------------------------

def _staff_ticket(number: str) -> Ticket:
    ticket = db.session.scalar(select(Ticket).where(Ticket.number == number[:NUMBER_MAX]))
    if ticket is None:
        abort(404)
    if not may(current_user, Action.HANDLE_TICKET, ticket.scope):
        abort(403)
    return ticket


def _visible_tickets_query() -> Any:
    return select(Ticket).where(condition(current_user, Action.HANDLE_TICKET, department=Ticket.department_id,
                                          people=[Ticket.assignee_id, Ticket.opened_by_id], queue=in_queue_of))


@bp.route("/staff/tickets/new/<code>", methods=["GET", "POST"])
@role_required(Role.EXPERT, Role.SUPERVISOR)
def open_from_booking(code: str) -> ResponseReturnValue:
    booking = db.session.scalar(select(Booking).where(Booking.code == normalise_code(code)[:16]))
    if booking is None:
        abort(404)
    user = current_user
    if not may(user, Action.OPEN_FOLLOWUP, booking.scope):
        abort(403)
    form = _with_choices(OpenTicketForm())
    status = 200
    if request.method == "GET":
        form.department.data = booking.topic.department.slug
    if form.validate_on_submit():
        try:
            ticket = services.open_followup(
                db.session, booking, summary=form.summary.data or "", actor=Actor.staff(user), now=utcnow(),
                config=current_app.config, department=_chosen_department(form.department.data),
                assignee=_chosen_user(form.assignee.data),
            )
        except DomainError as exc:
            form = _with_choices(OpenTicketForm())
            apply_domain_error(form, exc)
            status = 409 if exc.code == ErrorCode.CONFLICT else 422
        else:
            flash(_("Ticket %(number)s opened.", number=ticket.number), "success")
            return redirect(url_for("tickets.staff_ticket", number=ticket.number))
    if form.errors and status == 200:
        status = 422
    return render_template("tickets/open.html", form=form, booking=booking, code=display_code(booking.code)), status


@bp.route("/staff/tickets/")
@role_required(Role.EXPERT, Role.SUPERVISOR)
def queue() -> ResponseReturnValue:
    """Tickets still awaiting an answer (or awaiting the citizen), earliest due first."""
    show = request.args.get("show", "active")
    query = _visible_tickets_query()
    if show != "all":
        query = query.where(Ticket.status.not_in((TicketStatus.CLOSED, TicketStatus.CLOSED_UNCONFIRMED)))
    tickets = db.session.scalars(query.order_by(Ticket.due_at, Ticket.id).limit(500)).all()
    now = utcnow()
    soon = now + timedelta(hours=int(current_app.config["TICKET_DUE_SOON_HOURS"]))
    return render_template("tickets/queue.html", tickets=tickets, now=now, soon=soon, show=show,
                           awaiting=AWAITING_ANSWER)


@bp.route("/staff/tickets/<number>")
@role_required(Role.EXPERT, Role.SUPERVISOR)
def staff_ticket(number: str) -> ResponseReturnValue:
    ticket = _staff_ticket(number)
    return _render_staff_ticket(ticket)


def _render_staff_ticket(ticket: Ticket, status: int = 200, **forms: Any) -> ResponseReturnValue:
    reassign_form = forms.get("reassign_form") or _with_choices(ReassignForm())
    if not forms.get("reassign_form"):
        reassign_form.department.data = ticket.department.slug
    can_extend = ticket.status in AWAITING_ANSWER and may(current_user, Action.EXTEND_DEADLINE, ticket.scope)
    # the citizen's email and phone only for whoever must act on the ticket (and the department's supervisors)
    show_contacts = may(current_user, Action.VIEW_TICKET_CONTACTS, ticket.contact_scope)
    return render_template(
        "tickets/ticket.html", ticket=ticket, booking=ticket.booking, zone=ticket.department.zone, now=utcnow(),
        code=display_code(ticket.booking.code), awaiting=AWAITING_ANSWER, can_extend=can_extend,
        show_contacts=show_contacts,
        start_form=EmptyForm(), answer_form=forms.get("answer_form") or AnswerForm(),
        comment_form=forms.get("comment_form") or CommentForm(), reassign_form=reassign_form,
        extend_form=forms.get("extend_form") or ExtendForm(),
    ), status


def _done(ticket: Ticket, message: str) -> ResponseReturnValue:
    flash(message, "success")
    return redirect(url_for("tickets.staff_ticket", number=ticket.number))


def _conflict(ticket: Ticket, exc: DomainError) -> ResponseReturnValue:
    flash_domain_error(exc)
    return redirect(url_for("tickets.staff_ticket", number=ticket.number)), 303


@bp.route("/staff/tickets/<number>/start", methods=["POST"])
@role_required(Role.EXPERT, Role.SUPERVISOR)
def start(number: str) -> ResponseReturnValue:
    ticket = _staff_ticket(number)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        services.start_work(db.session, ticket, Actor.staff(current_user), utcnow(), assignee=current_user)
    except DomainError as exc:
        return _conflict(ticket, exc)
    return _done(ticket, _("Work on the ticket has started."))


@bp.route("/staff/tickets/<number>/answer", methods=["POST"])
@role_required(Role.EXPERT, Role.SUPERVISOR)
def answer(number: str) -> ResponseReturnValue:
    ticket = _staff_ticket(number)
    form = AnswerForm()
    if form.validate_on_submit():
        try:
            services.answer(db.session, ticket, form.answer.data or "", Actor.staff(current_user), utcnow(),
                            current_app.config)
        except DomainError as exc:
            if exc.code == ErrorCode.CONFLICT:
                return _conflict(ticket, exc)
            apply_domain_error(form, exc)
        else:
            return _done(ticket, _("The answer has been sent to the citizen."))
    return _render_staff_ticket(ticket, 422, answer_form=form)


@bp.route("/staff/tickets/<number>/comment", methods=["POST"])
@role_required(Role.EXPERT, Role.SUPERVISOR)
def add_comment(number: str) -> ResponseReturnValue:
    ticket = _staff_ticket(number)
    form = CommentForm()
    if form.validate_on_submit():
        try:
            services.comment(db.session, ticket, form.comment.data or "", Actor.staff(current_user), utcnow())
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            return _done(ticket, _("Comment added."))
    return _render_staff_ticket(ticket, 422, comment_form=form)


@bp.route("/staff/tickets/<number>/reassign", methods=["POST"])
@role_required(Role.EXPERT, Role.SUPERVISOR)
def reassign(number: str) -> ResponseReturnValue:
    ticket = _staff_ticket(number)
    form = _with_choices(ReassignForm())
    if form.validate_on_submit():
        try:
            services.reassign(db.session, ticket, _chosen_department(form.department.data),
                              Actor.staff(current_user), utcnow(), assignee=_chosen_user(form.assignee.data),
                              note=form.note.data or "")
        except DomainError as exc:
            if exc.code == ErrorCode.CONFLICT:
                return _conflict(ticket, exc)
            apply_domain_error(form, exc)
        else:
            flash(_("Ticket reassigned."), "success")
            if not may(current_user, Action.HANDLE_TICKET, ticket.scope):
                return redirect(url_for("tickets.queue"))
            return redirect(url_for("tickets.staff_ticket", number=ticket.number))
    return _render_staff_ticket(ticket, 422, reassign_form=form)


@bp.route("/staff/tickets/<number>/extend", methods=["POST"])
@role_required(Role.SUPERVISOR)
def extend(number: str) -> ResponseReturnValue:
    ticket = _staff_ticket(number)
    form = ExtendForm()
    if form.validate_on_submit():
        assert form.due_date.data is not None
        try:
            services.extend_due_to_day(db.session, ticket, form.due_date.data, form.reason.data or "", current_user,
                                       utcnow())
        except DomainError as exc:
            if exc.code == ErrorCode.FORBIDDEN:
                abort(403)
            if exc.code == ErrorCode.CONFLICT:
                return _conflict(ticket, exc)
            apply_domain_error(form, exc, aliases={"due_at": "due_date"})
        else:
            return _done(ticket, _("The due time has been extended."))
    return _render_staff_ticket(ticket, 422, extend_form=form)


def _rating_period() -> tuple[date, date]:
    today = utcnow().date()
    try:
        last = parse_day(request.args.get("to", "")) if request.args.get("to") else today
        first = (parse_day(request.args.get("from", "")) if request.args.get("from")
                 else last - timedelta(days=RATING_DEFAULT_DAYS - 1))
    except ValueError:
        abort(400)
    if first > last or (last - first).days >= RATING_MAX_DAYS:
        abort(400)
    return first, last


@bp.route("/staff/tickets/rating")
@role_required(Role.SUPERVISOR)
def rating() -> ResponseReturnValue:
    """Each department's answers: due, on time, overdue, working hours to answer, confirmations, reopenings."""
    first, last = _rating_period()
    now = utcnow()
    return render_template("tickets/rating.html", first=first, last=last,
                           totals=period_rating(db.session, first, last, now),
                           daily=department_rating(db.session, first, last, now))


# --- citizens ----------------------------------------------------------------------------------------

def _grant(number: str, token: str) -> None:
    grants = dict(session.get("tickets", {}))
    grants[number] = token
    session["tickets"] = grants


def citizen_ticket(number: str) -> Ticket:
    """The ticket, if this browser holds its link token or signed in to the citizen's personal page; else 404."""
    ticket = db.session.scalar(select(Ticket).where(Ticket.number == number[:NUMBER_MAX]))
    if ticket is None:
        abort(404)
    token = session.get("tickets", {}).get(ticket.number) or ""
    if services.citizen_token_matches(ticket, token):
        return ticket
    email = session.get("citizen_email")
    if email and email == ticket.booking.citizen_email:
        return ticket
    abort(404)


@bp.route("/tickets/<number>")
def citizen_view(number: str) -> ResponseReturnValue:
    token = request.args.get("token")
    if token:
        # Move the secret out of the address bar (and out of later Referer headers).
        _grant(number[:NUMBER_MAX], token[:200])
        return redirect(url_for("tickets.citizen_view", number=number[:NUMBER_MAX]))
    ticket = citizen_ticket(number)
    public_events = [e for e in ticket.events if not e.is_internal]
    return render_template("tickets/citizen.html", ticket=ticket, zone=ticket.department.zone, events=public_events,
                           confirm_form=EmptyForm(), reject_form=RejectForm(), code=display_code(ticket.booking.code))


@bp.route("/tickets/<number>/confirm", methods=["POST"])
def citizen_confirm(number: str) -> ResponseReturnValue:
    ticket = citizen_ticket(number)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        services.confirm_answer(db.session, ticket, CITIZEN, utcnow())
    except DomainError as exc:
        flash_domain_error(exc)
    else:
        flash(_("Thank you! The ticket is closed."), "success")
    return redirect(url_for("tickets.citizen_view", number=ticket.number))


@bp.route("/tickets/<number>/reject", methods=["POST"])
def citizen_reject(number: str) -> ResponseReturnValue:
    ticket = citizen_ticket(number)
    form = RejectForm()
    if form.validate_on_submit():
        try:
            services.reject_answer(db.session, ticket, form.comment.data or "", CITIZEN, utcnow())
        except DomainError as exc:
            if exc.code == ErrorCode.CONFLICT:
                flash_domain_error(exc)
                return redirect(url_for("tickets.citizen_view", number=ticket.number))
            apply_domain_error(form, exc)
        else:
            flash(_("We have reopened the ticket and will answer again."), "success")
            return redirect(url_for("tickets.citizen_view", number=ticket.number))
    public_events = [e for e in ticket.events if not e.is_internal]
    return render_template("tickets/citizen.html", ticket=ticket, zone=ticket.department.zone, events=public_events,
                           confirm_form=EmptyForm(), reject_form=form, code=display_code(ticket.booking.code)), 422
