"""Validating and normalising a citizen's details: one rule for the wizard, the desk and the API."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.ru import inn as ru_inn

from booking.models import ApplicantType
from scheduler.errors import DomainError

NAME_MAX = 200
QUESTION_MIN = 10
QUESTION_MAX = 2000
ORGANISATION_MAX = 300


@dataclass(frozen=True)
class CitizenDetails:
    name: str
    email: str
    phone: str  # E.164
    applicant_type: ApplicantType
    organisation: str = ""
    inn: str = ""


def normalise_phone(raw: str, default_region: str = "RU") -> str:
    """E.164, or DomainError: a wrong number means a consultation nobody can call back."""
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as exc:
        raise DomainError({"phone": _l("Enter a phone number, for example +7 912 345-67-89.")}) from exc
    if not phonenumbers.is_valid_number(number):
        raise DomainError({"phone": _l("This phone number does not exist. Check the digits.")})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email_address(raw: str, check_deliverability: bool = False) -> str:
    try:
        result = validate_email(raw.strip(), check_deliverability=check_deliverability)
    except EmailNotValidError as exc:
        # email-validator explains in English only; the citizen gets our own words.
        raise DomainError({"email": _l("Check the email address: it looks incomplete or has a typo.")}) from exc
    return result.normalized.lower()


def normalise_inn(raw: str, applicant_type: ApplicantType) -> str:
    """A legal entity has a 10-digit INN; an individual entrepreneur's is 12 digits."""
    digits = raw.strip().replace(" ", "")
    try:
        return str(ru_inn.validate(digits))
    except StdnumError as exc:
        message = _l("This INN is not valid: check the digits (10 for an organisation, 12 for an entrepreneur).")
        raise DomainError({"inn": message}) from exc


def validate_citizen(
    *,
    name: str,
    email: str,
    phone: str,
    applicant_type: str,
    organisation: str = "",
    inn: str = "",
    allowed_types: list[str] | None = None,
    check_deliverability: bool = False,
) -> CitizenDetails:
    """Every problem at once, by field, so a form shows them all beside their fields."""
    errors: dict[str, object] = {}
    clean_name = " ".join(name.split())
    if not clean_name:
        errors["name"] = _l("Enter your full name.")
    elif len(clean_name) > NAME_MAX:
        errors["name"] = _l("The name is too long.")

    clean_email = ""
    if not email.strip():
        errors["email"] = _l("Enter your email: the confirmation and the manage link are sent there.")
    else:
        try:
            clean_email = normalise_email_address(email, check_deliverability)
        except DomainError as exc:
            errors.update(exc.fields)

    clean_phone = ""
    if not phone.strip():
        errors["phone"] = _l("Enter your phone number: the expert may need to call you back.")
    else:
        try:
            clean_phone = normalise_phone(phone)
        except DomainError as exc:
            errors.update(exc.fields)

    kind: ApplicantType | None = None
    try:
        kind = ApplicantType(applicant_type)
    except ValueError:
        errors["applicant_type"] = _l("Choose who is applying.")
    if kind is not None and allowed_types is not None and kind.value not in allowed_types:
        errors["applicant_type"] = (
            _l("This topic is for organisations only.") if kind == ApplicantType.INDIVIDUAL
            else _l("This topic is for individuals only.")
        )

    clean_org, clean_inn = "", ""
    if kind == ApplicantType.LEGAL_ENTITY:
        clean_org = " ".join(organisation.split())
        if not clean_org:
            errors["organisation"] = _l("Enter the organisation's name.")
        elif len(clean_org) > ORGANISATION_MAX:
            errors["organisation"] = _l("The organisation's name is too long.")
        if not inn.strip():
            errors["inn"] = _l("Enter the organisation's INN.")
        else:
            try:
                clean_inn = normalise_inn(inn, kind)
            except DomainError as exc:
                errors.update(exc.fields)

    if errors:
        raise DomainError(errors)
    assert kind is not None
    return CitizenDetails(clean_name, clean_email, clean_phone, kind, clean_org, clean_inn)


def validate_question(question: str) -> str:
    text = question.strip()
    if len(text) < QUESTION_MIN:
        raise DomainError({"question": _l("Describe your question in a few words (at least %(n)s characters).",
                                          n=QUESTION_MIN)})
    if len(text) > QUESTION_MAX:
        raise DomainError({"question": _l("The question is too long: at most %(n)s characters.", n=QUESTION_MAX)})
    return text
