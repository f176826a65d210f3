"""The staff form that names a citizen whose data is asked for: an email, a phone, or both."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, TelField
from wtforms.validators import Length

from booking.citizens import normalise_email_address, normalise_phone
from scheduler.errors import DomainError


class CitizenLookupForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[Length(max=254)])
    phone = TelField(_l("Phone"), validators=[Length(max=40)])

    def subject(self) -> tuple[str, str]:
        """The normalised email and phone, or DomainError on the fields (at least one is needed)."""
        raw_email, raw_phone = (self.email.data or "").strip(), (self.phone.data or "").strip()
        if not raw_email and not raw_phone:
            raise DomainError({"email": _l("Enter the citizen's email, phone, or both.")})
        problems: dict[str, object] = {}
        email = phone = ""
        try:
            email = normalise_email_address(raw_email) if raw_email else ""
        except DomainError as exc:
            problems.update(exc.fields)
        try:
            phone = normalise_phone(raw_phone) if raw_phone else ""
        except DomainError as exc:
            problems.update(exc.fields)
        if problems:
            raise DomainError(problems)
        return email, phone
