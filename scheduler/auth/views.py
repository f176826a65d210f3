"""Staff sign-in and sign-out."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_url, login_user, logout_user

from scheduler.audit import Actor, record
from scheduler.auth.forms import LoginForm
from scheduler.auth.models import User, normalise_email
from scheduler.auth.services import authenticate
from scheduler.db import utcnow
from scheduler.extensions import db, limiter, login_manager

bp = Blueprint("auth", __name__, url_prefix="/staff")

login_manager.login_view = "auth.login"
login_manager.login_message = _l("Please sign in to open this page.")
login_manager.login_message_category = "info"
login_manager.session_protection = "strong"


@login_manager.unauthorized_handler
def ask_to_sign_in() -> Any:
    """Send an anonymous visitor to sign in, saying why once.

    Flask-Login flashes on every refusal; a visitor who never opens the sign-in page (a bot, a
    prefetching browser) would pile the same message into the session until the cookie passes the
    browsers' 4 KB limit and is dropped. A message already waiting is not repeated.
    """
    message = str(login_manager.login_message)
    category = login_manager.login_message_category
    if [category, message] not in [list(pair) for pair in session.get("_flashes", [])]:
        flash(message, category)
    return redirect(login_url(login_manager.login_view, next_url=request.url))


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    if not user_id.isdigit():
        return None
    return db.session.get(User, int(user_id))


def _login_limit() -> str:
    return str(current_app.config["LOGIN_RATE_LIMIT"])


def _login_address_limit() -> str:
    """Generous: a whole office signs in from one address, and the per-account limit stops guessing."""
    return str(current_app.config["LOGIN_ADDRESS_RATE_LIMIT"])


def _email_key() -> str:
    """Limit guesses per account too, so spreading them over many addresses does not help."""
    return "login-email:" + normalise_email(request.form.get("email", ""))


def _safe_next(target: str | None) -> str:
    if target and not urlsplit(target).netloc and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("staff.home")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_address_limit, methods=["POST"])
@limiter.limit(_login_limit, methods=["POST"], key_func=_email_key)
def login() -> Any:
    if current_user.is_authenticated:
        return redirect(url_for("staff.home"))
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(db.session, form.email.data or "", form.password.data or "")
        if user is not None:
            login_user(user)
            user.last_login_at = utcnow()
            record(db.session, Actor.staff(user), "user.signed_in", "user", user.id)
            return redirect(_safe_next(request.args.get("next")))
        form.password.errors.append(_("Wrong email or password."))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    logout_user()
    flash(_("You have signed out."), "info")
    return redirect(url_for("web.index"))
