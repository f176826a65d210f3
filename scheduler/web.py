"""The public home page and the language switch."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from scheduler.departments.models import Department
from scheduler.extensions import db
from scheduler.privacy.page import policy_rows

bp = Blueprint("web", __name__)


@bp.route("/")
def index() -> Any:
    """Topics grouped by department: where every citizen journey starts."""
    departments = db.session.scalars(
        select(Department)
        .where(Department.is_active.is_(True))
        .options(selectinload(Department.topics))
        .order_by(Department.title)
    ).all()
    groups = [(d, [t for t in d.topics if t.is_active]) for d in departments]
    return render_template("index.html", groups=[(d, topics) for d, topics in groups if topics])


@bp.route("/privacy")
def privacy() -> Any:
    """The personal-data policy: purpose, data, periods (from the configuration), the operator, requests."""
    return render_template("privacy.html", rows=policy_rows(current_app.config),
                           operator=current_app.config["PRIVACY_OPERATOR"],
                           contact=current_app.config["PRIVACY_CONTACT_EMAIL"])


@bp.route("/language", methods=["POST"])
def set_language() -> Any:
    """Remember the chosen language; a POST so that crawlers and prefetchers never flip it."""
    lang = request.form.get("lang", "ru")
    session["lang"] = lang if lang in ("ru", "en") else "ru"
    target = request.form.get("next") or url_for("web.index")
    if urlsplit(target).netloc or not target.startswith("/") or target.startswith("//"):
        target = url_for("web.index")
    return redirect(target)
