"""The staff form that names a citizen whose data is asked for: an email, a phone, or both."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, StringField, TelField
from wtforms.validators import DataRequired, Length

from booking.citizens import normalise_email_address, normalise_phone
from booking.privacy.records import Correction
from scheduler.errors import DomainError


def _normalised(raw_email: str, raw_phone: str) -> tuple[str, str]:
    """Each given detail normalised; DomainError naming every field that is wrong."""
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


class CitizenLookupForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[Length(max=254)])
    phone = TelField(_l("Phone"), validators=[Length(max=40)])

    def subject(self) -> tuple[str, str]:
        """The normalised email and phone, or DomainError on the fields (at least one is needed)."""
        raw_email, raw_phone = (self.email.data or "").strip(), (self.phone.data or "").strip()
        if not raw_email and not raw_phone:
            raise DomainError({"email": _l("Enter the citizen's email, phone, or both.")})
        return _normalised(raw_email, raw_phone)


class CorrectionForm(CitizenLookupForm):
    """The citizen named as in the lookup (hidden fields), and the corrected details."""

    new_name = StringField(_l("Corrected full name"), validators=[Length(max=200)])
    new_email = EmailField(_l("Corrected email"), validators=[Length(max=254)])
    new_phone = TelField(_l("Corrected phone"), validators=[Length(max=40)])

    def correction(self) -> Correction:
        name = " ".join((self.new_name.data or "").split())
        raw_email, raw_phone = (self.new_email.data or "").strip(), (self.new_phone.data or "").strip()
        if not (name or raw_email or raw_phone):
            raise DomainError({"new_name": _l("Enter at least one corrected detail.")})
        try:
            email, phone = _normalised(raw_email, raw_phone)
        except DomainError as exc:
            raise DomainError({f"new_{key}": message for key, message in exc.fields.items()}) from exc
        return Correction(name=name, email=email, phone=phone)


class ErasureForm(CitizenLookupForm):
    """The citizen named as in the lookup (hidden fields), and the staff member's confirmation."""

    confirmed = BooleanField(
        _l("I have checked the citizen's identity and their written request to erase their data."),
        validators=[DataRequired(_l("Confirm that you checked the citizen's identity and request."))],
    )
