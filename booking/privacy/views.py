"""Staff pages for a citizen's request about their personal data: find what is held, export it, correct it,
erase it.

The citizen's email and phone travel only in POST bodies, never in an address; every lookup and
export is audited (see ``booking.privacy.records``).
"""

from __future__ import annotations

import json

from flask import Blueprint, current_app, flash, render_template
from flask.typing import ResponseReturnValue
from flask.wrappers import Response
from flask_babel import ngettext
from flask_login import current_user

from booking.privacy.erasure import erase_citizen
from booking.privacy.forms import CitizenLookupForm, CorrectionForm, ErasureForm
from booking.privacy.records import (
    CitizenRecords,
    correct_citizen,
    export_document,
    find_citizen_records,
    record_request,
)
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
        return _page(form, None), 422 if form.errors else 200
    records = find_citizen_records(db.session, email=subject[0], phone=subject[1])
    record_request(db.session, records, action="lookup", by=Actor.staff(current_user),
                   secret_key=current_app.config["SECRET_KEY"])
    return _page(form, records)


@bp.route("/export", methods=["POST"])
@role_required(Role.ADMIN)
def export() -> ResponseReturnValue:
    form = CitizenLookupForm()
    subject = _submitted_subject(form)
    if subject is None:
        return _page(form, None), 422
    now = utcnow()
    records = find_citizen_records(db.session, email=subject[0], phone=subject[1])
    record_request(db.session, records, action="export", by=Actor.staff(current_user),
                   secret_key=current_app.config["SECRET_KEY"])
    body = json.dumps(export_document(records, now), ensure_ascii=False, indent=2)
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": f'attachment; filename="okno-personal-data-{now:%Y-%m-%d}.json"'})


@bp.route("/correct", methods=["POST"])
@role_required(Role.ADMIN)
def correct() -> ResponseReturnValue:
    """Correct the citizen's name, email or phone on every record held; then show them as now held."""
    form = CorrectionForm()
    subject = _submitted_subject(form)
    correction = None
    if subject is not None:
        try:
            correction = form.correction()
        except DomainError as exc:
            apply_domain_error(form, exc)
    if subject is None or correction is None:
        records = find_citizen_records(db.session, email=subject[0], phone=subject[1]) if subject else None
        return _page(form, records, correction=form), 422
    records = find_citizen_records(db.session, email=subject[0], phone=subject[1])
    changed = correct_citizen(db.session, records, correction, by=Actor.staff(current_user),
                              secret_key=current_app.config["SECRET_KEY"])
    flash(ngettext("%(num)d record corrected.", "%(num)d records corrected.", changed), "success")
    found = CitizenLookupForm(formdata=None, email=correction.email or subject[0],
                              phone=correction.phone or subject[1])
    now_held = find_citizen_records(db.session, email=found.email.data, phone=found.phone.data)
    return _page(found, now_held)


@bp.route("/erase", methods=["POST"])
@role_required(Role.ADMIN)
def erase() -> ResponseReturnValue:
    """Anonymise everything held about the citizen now, or show why it cannot be done yet."""
    form = ErasureForm()
    subject = _submitted_subject(form)
    if subject is None:
        records = None
        if form.email.data or form.phone.data:
            try:
                email, phone = form.subject()
            except DomainError:
                pass
            else:
                records = find_citizen_records(db.session, email=email, phone=phone)
        return _page(form, records, erasure=form), 422
    records = find_citizen_records(db.session, email=subject[0], phone=subject[1])
    try:
        counts = erase_citizen(db.session, records, by=Actor.staff(current_user), now=utcnow(),
                               secret_key=current_app.config["SECRET_KEY"])
    except DomainError as exc:
        apply_domain_error(form, exc)
        return _page(form, records, erasure=form), 409
    flash(ngettext("%(num)d record anonymised.", "%(num)d records anonymised.", sum(counts.values())), "success")
    return _page(form, find_citizen_records(db.session, email=subject[0], phone=subject[1]))


def _page(form: CitizenLookupForm, records: CitizenRecords | None, **forms: CitizenLookupForm) -> str:
    """The requests page: the lookup, what is held, and the correction and erasure forms."""
    forms.setdefault("correction", CorrectionForm(formdata=None))
    forms.setdefault("erasure", ErasureForm(formdata=None))
    return render_template("privacy/lookup.html", form=form, records=records, **forms)


def _submitted_subject(form: CitizenLookupForm) -> tuple[str, str] | None:
    """The normalised email and phone of a valid submission; otherwise None, the problems on the form."""
    if not form.validate_on_submit():
        return None
    try:
        return form.subject()
    except DomainError as exc:
        apply_domain_error(form, exc)
        return None
