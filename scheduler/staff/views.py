"""Staff home and account administration (admins)."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import select

from scheduler.audit import Actor, AuditEntry
from scheduler.auth.access import Action, condition
from scheduler.auth.forms import ROLE_LABELS, UserForm
from scheduler.auth.models import Role, User
from scheduler.auth.roles import ALL_STAFF, role_required
from scheduler.auth.services import create_user
from scheduler.db import utcnow
from scheduler.errors import DomainError
from scheduler.extensions import db
from scheduler.forms import apply_domain_error, flash_domain_error
from scheduler.mail.backlog import outbox_backlog
from scheduler.mail.models import OutboxMessage, OutboxStatus
from scheduler.mail.operations import ALL_ABANDONED, Selection, requeue, troubled_messages

bp = Blueprint("staff", __name__, url_prefix="/staff")


@bp.route("/")
@role_required(*ALL_STAFF)
def home() -> Any:
    abandoned = outbox_backlog(db.session, utcnow()).abandoned if current_user.role == Role.ADMIN else 0
    return render_template("staff/home.html", role_labels=ROLE_LABELS, abandoned_mail=abandoned)


@bp.route("/users", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def users() -> Any:
    form = UserForm()
    if form.validate_on_submit():
        try:
            create_user(db.session, Actor.staff(current_user), email=form.email.data or "",
                        full_name=form.full_name.data or "", role=form.role.data or "",
                        password=form.password.data or "")
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            flash(_("The staff account was created."), "success")
            return redirect(url_for("staff.users"))
    people = db.session.scalars(select(User).order_by(User.role, User.full_name)).all()
    return render_template("staff/users.html", form=form, people=people, role_labels=ROLE_LABELS)


@bp.route("/audit")
@role_required(Role.SUPERVISOR)
def audit() -> Any:
    """The latest entries this user may read: a supervisor their department's, an admin every one."""
    visible = condition(current_user, Action.VIEW_AUDIT, department=AuditEntry.department_id)
    entries = db.session.scalars(
        select(AuditEntry).where(visible).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(200)).all()
    return render_template("staff/audit.html", entries=entries)


@bp.route("/outbox")
@role_required(Role.ADMIN)
def outbox() -> Any:
    messages = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(100)).all()
    troubled = troubled_messages(db.session, utcnow())
    return render_template("staff/outbox.html", messages=messages, statuses=OutboxStatus, troubled=troubled)


@bp.route("/outbox/requeue", methods=["POST"])
@role_required(Role.ADMIN)
def outbox_requeue() -> Any:
    """One abandoned message (``message_id``) or every one (``all``), from the outbox page's buttons."""
    if request.form.get("all") == "1":
        selection: list[int] | Selection = ALL_ABANDONED
    else:
        raw = request.form.get("message_id", "")
        if not re.fullmatch(r"[0-9]{1,10}", raw) or not 0 < int(raw) < 2**31:
            abort(400, _("Choose a message to send again."))
        selection = [int(raw)]
    try:
        requeued = requeue(db.session, selection, by=Actor.staff(current_user), now=utcnow())
    except DomainError as exc:
        flash_domain_error(exc)
    else:
        if requeued:
            flash(ngettext("%(num)d message will be sent again.", "%(num)d messages will be sent again.",
                           len(requeued)), "success")
        else:
            flash(_("Nothing to send again: those messages are already on their way."), "success")
    return redirect(url_for("staff.outbox"), 303)
