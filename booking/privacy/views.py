"""Staff pages for a citizen's request about their personal data: find what is held, export it.

The citizen's email and phone travel only in POST bodies, never in an address; every lookup and
export is audited (see ``booking.privacy.records``).
"""

from __future__ import annotations

import json

from flask import Blueprint, current_app, render_template
from flask.typing import ResponseReturnValue
from flask.wrappers import Response
from flask_login import current_user

from booking.privacy.forms import CitizenLookupForm
from booking.privacy.records import export_document, find_citizen_records, record_request
from scheduler.audit import Actor
from scheduler.auth.models import Role
from scheduler.auth.roles import role_required
from scheduler.db import utcnow
from scheduler.errors import DomainError
from scheduler.extensions import db
from scheduler.forms import apply_domain_error

bp = Blueprint("privacy", __name__, url_prefix="/staff/privacy")


@bp.route("/", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def lookup() -> ResponseReturnValue:
    form = CitizenLookupForm()
    subject = _submitted_subject(form)
    if subject is None:
        return render_template("privacy/lookup.html", form=form, records=None), 422 if form.errors else 200
    records = find_citizen_records(db.session, email=subject[0], phone=subject[1])
    record_request(db.session, records, action="lookup", by=Actor.staff(current_user),
                   secret_key=current_app.config["SECRET_KEY"])
    return render_template("privacy/lookup.html", form=form, records=records)


@bp.route("/export", methods=["POST"])
@role_required(Role.ADMIN)
def export() -> ResponseReturnValue:
    form = CitizenLookupForm()
    subject = _submitted_subject(form)
    if subject is None:
        return render_template("privacy/lookup.html", form=form, records=None), 422
    now = utcnow()
    records = find_citizen_records(db.session, email=subject[0], phone=subject[1])
    record_request(db.session, records, action="export", by=Actor.staff(current_user),
                   secret_key=current_app.config["SECRET_KEY"])
    body = json.dumps(export_document(records, now), ensure_ascii=False, indent=2)
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": f'attachment; filename="okno-personal-data-{now:%Y-%m-%d}.json"'})


def _submitted_subject(form: CitizenLookupForm) -> tuple[str, str] | None:
    """The normalised email and phone of a valid submission; otherwise None, the problems on the form."""
    if not form.validate_on_submit():
        return None
    try:
        return form.subject()
    except DomainError as exc:
        apply_domain_error(form, exc)
        return None
