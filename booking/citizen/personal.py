"""The citizen's personal page: all their bookings, reached by a magic link sent to their email."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import select

from booking.citizen.access import forget_citizen
from booking.citizen.forms import PersonalLinkForm
from booking.citizen.limits import email_key, per_address_limit, per_person_limit
from booking.citizens import normalise_email_address
from booking.codes import display_code, new_token, token_hash
from booking.links import personal_url
from booking.magic_links import use_citizen_link
from booking.models import Booking, CitizenLink
from booking.tickets.services import citizen_tickets
from scheduler.db import utcnow
from scheduler.errors import DomainError
from scheduler.extensions import db, limiter
from scheduler.forms import apply_domain_error
from scheduler.mail.compose import queue_email
from scheduler.ratelimits import keep_page_when_limited
from scheduler.transaction import writes


def _request_form_again(retry_minutes: int) -> ResponseReturnValue:
    """The link request as typed, saying when the citizen may ask again (a limit was hit)."""
    return render_template("citizen/personal_request.html", form=PersonalLinkForm(), retry_minutes=retry_minutes)


LINK_LIMIT = {"methods": ["POST"], "on_breach": keep_page_when_limited(_request_form_again)}


@limiter.limit(per_address_limit, **LINK_LIMIT)
@limiter.limit(per_person_limit, key_func=email_key, **LINK_LIMIT)
def personal() -> ResponseReturnValue:
    email = session.get("citizen_email")
    if email and request.method == "GET":
        return _personal_page(email)
    form = PersonalLinkForm()
    if form.validate_on_submit():
        try:
            address = normalise_email_address(form.email.data or "")
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            _send_link(address)
            # The same answer whether or not we know the address: nobody can probe who booked.
            flash(_("If there are bookings for this email, we have sent a link to it."), "info")
            return redirect(url_for("citizen.personal"))
    return render_template("citizen/personal_request.html", form=form), (422 if form.errors else 200)


def _send_link(email: str) -> None:
    known = db.session.scalar(select(Booking.id).where(Booking.citizen_email == email).limit(1))
    if known is None:
        return
    token = new_token()
    max_age = int(current_app.config["MAGIC_LINK_MAX_AGE_SECONDS"])
    db.session.add(CitizenLink(token_hash=token_hash(token), email=email,
                               expires_at=utcnow() + timedelta(seconds=max_age)))
    link = personal_url(token)
    queue_email(db.session, to=email, template="citizen_link", locale=str(get_locale() or "ru"),
                context={"link": link, "hours": max_age // 3600})


@writes  # a GET that uses the link up
def personal_link(token: str) -> ResponseReturnValue:
    """Open the personal page with an emailed link: once, before it expires; the session then carries the access.

    A link used already, expired or unknown shows the request form with a note, to send a new one;
    the same browser reopening the link it used goes straight to the page.
    """
    email = use_citizen_link(db.session, token, utcnow())
    if email is None:
        if session.get("citizen_email") and session.get("citizen_email") == _link_email(token):
            return redirect(url_for("citizen.personal"))
        return render_template("citizen/personal_request.html", form=PersonalLinkForm(), link_gone=True), 410
    forget_citizen()  # a new visitor on this browser: nothing of the previous one carries over
    session["citizen_email"] = email
    return redirect(url_for("citizen.personal"))


def _link_email(token: str) -> str | None:
    return db.session.scalar(select(CitizenLink.email).where(CitizenLink.token_hash == token_hash(token)))


def personal_leave() -> ResponseReturnValue:
    forget_citizen()
    return redirect(url_for("web.index"))


def _personal_page(email: str) -> ResponseReturnValue:
    bookings = db.session.scalars(
        select(Booking).where(Booking.citizen_email == email).order_by(Booking.starts_at.desc())
    ).all()
    # The session's proven email opens each booking's manage page (booking.citizen.access): no tokens copied.
    return render_template("citizen/personal.html", bookings=bookings, display_code=display_code, now=utcnow(),
                           tickets=citizen_tickets(db.session, email))
