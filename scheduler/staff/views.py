"""Staff home and account administration (admins)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from scheduler.audit import Actor, AuditEntry
from scheduler.auth.forms import ROLE_LABELS, UserForm
from scheduler.auth.models import Role, User
from scheduler.auth.roles import ALL_STAFF, role_required
from scheduler.auth.services import create_user
from scheduler.errors import DomainError
from scheduler.extensions import db
from scheduler.forms import apply_domain_error
from scheduler.mail.models import OutboxMessage, OutboxStatus

bp = Blueprint("staff", __name__, url_prefix="/staff")


@bp.route("/")
@role_required(*ALL_STAFF)
def home() -> Any:
    return render_template("staff/home.html", role_labels=ROLE_LABELS)


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
    entries = db.session.scalars(select(AuditEntry).order_by(AuditEntry.at.desc()).limit(200)).all()
    return render_template("staff/audit.html", entries=entries)


@bp.route("/outbox")
@role_required(Role.ADMIN)
def outbox() -> Any:
    messages = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(100)).all()
    return render_template("staff/outbox.html", messages=messages, statuses=OutboxStatus)
