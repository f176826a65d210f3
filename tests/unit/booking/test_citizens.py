"""Every validation message for a citizen's details, and the normalised values that pass."""

from __future__ import annotations

from typing import Any

import pytest
from flask_babel import force_locale

from booking.citizens import validate_citizen, validate_question
from booking.models import ApplicantType
from scheduler.errors import DomainError

GOOD = {"name": " Анна   Смирнова ", "email": "Anna.Smirnova@Example.org", "phone": "8 (912) 345-67-89",
        "applicant_type": "individual"}


def test_good_details_are_normalised(app_ctx: Any) -> None:
    details = validate_citizen(**GOOD)
    assert details.name == "Анна Смирнова"
    assert details.email == "anna.smirnova@example.org"
    assert details.phone == "+79123456789"
    assert details.applicant_type == ApplicantType.INDIVIDUAL


def test_legal_entity_needs_organisation_and_a_valid_inn(app_ctx: Any) -> None:
    details = validate_citizen(**{**GOOD, "applicant_type": "legal_entity", "organisation": "ООО  Ромашка",
                                  "inn": "7707083893"})
    assert (details.organisation, details.inn) == ("ООО Ромашка", "7707083893")


@pytest.mark.parametrize(
    ("changes", "field", "russian", "english"),
    [
        ({"name": "  "}, "name", "Укажите фамилию, имя и отчество", "Enter your full name"),
        ({"name": "Я" * 201}, "name", "слишком длинное", "too long"),
        ({"email": ""}, "email", "Укажите адрес электронной почты", "Enter your email"),
        ({"email": "anna@"}, "email", "Проверьте адрес электронной почты", "Check the email address"),
        ({"email": "anna example.org"}, "email", "Проверьте адрес электронной почты", "Check the email address"),
        ({"phone": ""}, "phone", "Укажите номер телефона", "Enter your phone number"),
        ({"phone": "hello"}, "phone", "Укажите номер телефона, например", "Enter a phone number, for example"),
        ({"phone": "+7 000 000-00-00"}, "phone", "Такого номера не существует", "does not exist"),
        ({"phone": "123"}, "phone", "Такого номера не существует", "does not exist"),
        ({"applicant_type": "alien"}, "applicant_type", "Выберите, кто обращается", "Choose who is applying"),
        ({"applicant_type": "legal_entity"}, "organisation", "Укажите название организации",
         "Enter the organisation's name"),
        ({"applicant_type": "legal_entity", "organisation": "ООО"}, "inn", "Укажите ИНН организации",
         "Enter the organisation's INN"),
        ({"applicant_type": "legal_entity", "organisation": "ООО", "inn": "7707083894"}, "inn", "ИНН указан неверно",
         "This INN is not valid"),
        ({"applicant_type": "legal_entity", "organisation": "ООО", "inn": "77070838"}, "inn", "ИНН указан неверно",
         "This INN is not valid"),
    ],
)
def test_each_rule_has_a_clear_message_in_both_languages(app_ctx: Any, changes: dict[str, str], field: str,
                                                          russian: str, english: str) -> None:
    for locale, expected in (("ru", russian), ("en", english)):
        with force_locale(locale), pytest.raises(DomainError) as caught:
            validate_citizen(**{**GOOD, **changes})
        assert expected in caught.value.fields[field], (locale, caught.value.fields)


def test_all_problems_are_reported_at_once(app_ctx: Any) -> None:
    with pytest.raises(DomainError) as caught:
        validate_citizen(name="", email="x", phone="1", applicant_type="individual")
    assert set(caught.value.fields) == {"name", "email", "phone"}


@pytest.mark.parametrize(("kind", "allowed", "message"), [
    ("individual", ["legal_entity"], "только для организаций"),
    ("legal_entity", ["individual"], "только для частных лиц"),
])
def test_topic_restricts_applicant_type(app_ctx: Any, kind: str, allowed: list[str], message: str) -> None:
    with pytest.raises(DomainError) as caught:
        validate_citizen(**{**GOOD, "applicant_type": kind, "organisation": "ООО", "inn": "7707083893"},
                         allowed_types=allowed)
    assert message in caught.value.fields["applicant_type"]


@pytest.mark.parametrize(("text", "ok"), [("коротко", False), ("Нужна консультация", True), ("я" * 2001, False)])
def test_question_length_limits(app_ctx: Any, text: str, ok: bool) -> None:
    if ok:
        assert validate_question(f"  {text}  ") == text
    else:
        with pytest.raises(DomainError) as caught:
            validate_question(text)
        assert "question" in caught.value.fields
