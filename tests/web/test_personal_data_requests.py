"""A citizen asks what okno holds about them: an admin finds it by email or phone and exports it, audited."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update

from booking.citizens import validate_citizen
from booking.models import BookingNote, CitizenLink
from booking.privacy.records import find_citizen_records, subject_reference
from booking.reception.services import register_walk_in
from booking.services import hold_slot
from booking.tickets.models import TicketStatus
from booking.tickets.services import open_followup
from scheduler.audit import Actor, AuditEntry
from scheduler.auth.models import Role
from scheduler.db import utcnow
from scheduler.mail.models import OutboxMessage, OutboxStatus
from tests.booking_fixtures import bookable_setup
from tests.helpers import csrf_token, login, make_user
from tests.reception_fixtures import a_day_ahead, reception_setup
from tests.ticket_fixtures import CONFIG, POLICY, completed_booking

EMAIL = "anna.petrova@example.org"
PHONE = "+79120000101"  # as citizen 1 of completed_booking, normalised


def citizen_with_everything(session: Any) -> dict[str, Any]:
    """Two consultations with a staff note and a follow-up ticket, a walk-in, a personal-page link."""
    setup = bookable_setup(session)
    first = completed_booking(session, setup, 1, hour=10, email=EMAIL)
    second = completed_booking(session, setup, 1, hour=11, email=EMAIL)
    other = completed_booking(session, setup, 2, hour=12)  # another citizen: never shown
    staff = make_user(session, role=Role.SUPERVISOR, department_id=setup.department.id)
    session.add(BookingNote(booking_id=first.id, author_id=staff.id, text="Просила перезвонить после обеда"))
    ticket = open_followup(session, second, summary="Выяснить, нужен ли проект газификации", actor=Actor.staff(staff),
                           now=utcnow(), config=CONFIG)
    reception = reception_setup(session, a_day_ahead())
    walk_in = register_walk_in(session, location=reception.location, topic=reception.topic, name="Анна Петрова",
                               phone="+7 912 000-01-01", now=utcnow(), policy=POLICY, actor=Actor.system("desk"))
    session.add(CitizenLink(token_hash="f" * 64, email=EMAIL, expires_at=utcnow()))
    session.commit()
    return {"bookings": [first, second], "other": other, "ticket": ticket, "walk_in": walk_in}


def as_admin(client: FlaskClient, session: Any) -> str:
    login(client, make_user(session, role=Role.ADMIN))
    session.commit()
    return csrf_token(client, "/staff/privacy/")


def test_everything_about_the_citizen_is_found_by_email_or_phone(session: Any) -> None:
    held = citizen_with_everything(session)
    by_email = find_citizen_records(session, email=EMAIL)
    assert [b.id for b in by_email.bookings] == [b.id for b in held["bookings"]]
    assert [t.id for t in by_email.tickets] == [held["ticket"].id]
    assert len(by_email.personal_page_links) == 1
    assert by_email.emails and all(m.to_address == EMAIL for m in by_email.emails)
    assert by_email.walk_ins == []  # a walk-in gave only a phone
    by_phone = find_citizen_records(session, phone=PHONE)
    assert {b.id for b in by_phone.bookings} == {b.id for b in held["bookings"]}
    walk_in = held["walk_in"]
    found_walk_in = by_phone.walk_ins or [b for b in by_phone.bookings if b.is_walk_in]
    assert found_walk_in, walk_in  # the desk booked them a time, or put them on the waiting list
    assert held["other"].id not in {b.id for b in by_phone.bookings + by_email.bookings}


def test_an_admin_finds_the_citizens_data_and_the_lookup_is_audited_without_it(client: FlaskClient,
                                                                               session: Any) -> None:
    held = citizen_with_everything(session)
    token = as_admin(client, session)
    response = client.post("/staff/privacy/", data={"email": "  Anna.Petrova@Example.org ", "phone": "",
                                                    "csrf_token": token})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for booking in held["bookings"]:
        assert booking.code in page
    assert held["ticket"].number in page and "Выяснить, нужен ли проект газификации" in page
    assert held["other"].code not in page and "citizen2@example.org" not in page
    assert response.headers["Cache-Control"] == "no-store"
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.lookup")).one()
    assert entry.entity_type == "citizen"
    assert entry.entity_id == subject_reference(client.application.config["SECRET_KEY"], EMAIL, "")
    logged = json.dumps([entry.entity_id, entry.changes, entry.actor_label], ensure_ascii=False)
    assert EMAIL not in logged and "Anna" not in logged and entry.changes["records"] >= 4


def test_the_export_holds_every_record_and_no_secret(client: FlaskClient, session: Any) -> None:
    held = citizen_with_everything(session)
    token = as_admin(client, session)
    response = client.post("/staff/privacy/export", data={"email": EMAIL, "phone": "8 912 000-01-01",
                                                          "csrf_token": token})
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith('attachment; filename="okno-personal-data-')
    document = response.get_json()
    assert document["subject"] == {"email": EMAIL, "phone": PHONE}
    assert [b["code"] for b in document["bookings"]] == [b.code for b in held["bookings"]]
    first = document["bookings"][0]
    assert first["citizen"]["email"] == EMAIL and first["question"]
    assert first["staff_notes"][0]["text"] == "Просила перезвонить после обеда"
    assert document["tickets"][0]["summary"] == "Выяснить, нужен ли проект газификации"
    assert len(document["personal_page_links"]) == 1 and document["emails"]
    raw = response.get_data(as_text=True)
    assert "f" * 64 not in raw and "manage_salt" not in raw and "token" not in raw  # no credentials exported
    assert session.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.export")).one()


@pytest.mark.parametrize(("data", "field_message"), [
    ({"email": "", "phone": ""}, "Укажите электронную почту гражданина, телефон или и то и другое."),
    ({"email": "anna@", "phone": ""}, "Проверьте адрес электронной почты"),
    ({"email": "", "phone": "12"}, "Такого номера не существует"),
    ({"email": "", "phone": "звоните"}, "Укажите номер телефона"),
])
def test_bad_input_is_a_message_beside_the_field(client: FlaskClient, session: Any, data: dict[str, str],
                                                 field_message: str) -> None:
    token = as_admin(client, session)
    response = client.post("/staff/privacy/", data={**data, "csrf_token": token})
    assert response.status_code == 422
    assert field_message in response.get_data(as_text=True)
    assert not session.scalars(select(AuditEntry).where(AuditEntry.action.like("privacy.%"))).all()


def test_nothing_held_is_said_plainly(client: FlaskClient, session: Any) -> None:
    token = as_admin(client, session)
    response = client.post("/staff/privacy/", data={"email": "nobody@example.org", "csrf_token": token})
    assert response.status_code == 200 and "Найдено 0 записей" in response.get_data(as_text=True)


@pytest.mark.parametrize("role", [Role.EXPERT, Role.RECEPTION, Role.SUPERVISOR])
def test_only_admins_handle_personal_data_requests(client: FlaskClient, session: Any, role: Role) -> None:
    citizen_with_everything(session)
    login(client, make_user(session, role=role))
    token = csrf_token(client, "/staff/")
    assert client.get("/staff/privacy/").status_code == 403
    for path in ("/staff/privacy/", "/staff/privacy/export"):
        response = client.post(path, data={"email": EMAIL, "csrf_token": token})
        assert response.status_code == 403 and EMAIL not in response.get_data(as_text=True)


def test_the_admins_home_links_to_the_requests_page(client: FlaskClient, session: Any) -> None:
    as_admin(client, session)
    assert 'href="/staff/privacy/"' in client.get("/staff/").get_data(as_text=True)


def test_a_correction_reaches_every_record_and_is_audited_without_values(client: FlaskClient, session: Any) -> None:
    held = citizen_with_everything(session)
    token = as_admin(client, session)
    response = client.post("/staff/privacy/correct", data={
        "email": EMAIL, "phone": PHONE, "new_name": "  Анна   Сергеевна Петрова ", "new_phone": "+7 912 555-44-33",
        "new_email": "", "csrf_token": token})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Исправлены 3 записи." in page
    for booking in held["bookings"]:
        session.refresh(booking)
        assert (booking.citizen_name, booking.citizen_phone, booking.citizen_email) == (
            "Анна Сергеевна Петрова", "+79125554433", EMAIL)
    session.refresh(held["other"])
    assert held["other"].citizen_phone != "+79125554433"  # another citizen's records stay as they were
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.correct")).one()
    assert entry.changes == {"fields": ["name", "phone"], "records": 3}
    assert "555" not in json.dumps(entry.changes) and "Петрова" not in entry.entity_id


@pytest.mark.parametrize(("data", "message"), [
    ({}, "Укажите хотя бы одно исправленное значение."),
    ({"new_email": "anna@"}, "Проверьте адрес электронной почты"),
    ({"new_phone": "звоните"}, "Укажите номер телефона"),
])
def test_a_bad_correction_is_refused_beside_its_field_and_changes_nothing(client: FlaskClient, session: Any,
                                                                         data: dict[str, str], message: str) -> None:
    held = citizen_with_everything(session)
    token = as_admin(client, session)
    response = client.post("/staff/privacy/correct", data={"email": EMAIL, "csrf_token": token, **data})
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    session.refresh(held["bookings"][0])
    assert held["bookings"][0].citizen_email == EMAIL
    assert not session.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.correct")).all()


def settle(session: Any, held: dict[str, Any]) -> None:
    """Nothing owed any more: the follow-up closed, every email delivered."""
    held["ticket"].status = TicketStatus.CLOSED
    held["ticket"].closed_at = utcnow()
    session.execute(update(OutboxMessage).values(status=OutboxStatus.SENT, sent_at=utcnow()))
    session.commit()


def test_erasure_waits_while_a_follow_up_is_answered_and_mail_is_on_its_way(client: FlaskClient,
                                                                            session: Any) -> None:
    held = citizen_with_everything(session)
    token = as_admin(client, session)
    response = client.post("/staff/privacy/erase", data={"email": EMAIL, "confirmed": "y", "csrf_token": token})
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert f"Заявка {held['ticket'].number} ещё в работе" in page
    assert "Письмо на этот адрес ещё отправляется" in page
    session.refresh(held["bookings"][0])
    assert held["bookings"][0].citizen_email == EMAIL and held["bookings"][0].anonymised_at is None
    assert not session.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.erased")).all()


def test_erasure_waits_for_a_consultation_ahead_to_be_cancelled(client: FlaskClient, session: Any) -> None:
    setup = bookable_setup(session)
    citizen = validate_citizen(name="Анна Петрова", email=EMAIL, phone="+7 912 000-01-01",
                               applicant_type="individual")
    ahead = hold_slot(session, topic=setup.topic, channel="video", start=setup.at(10), citizen=citizen,
                      question="Когда придёт мастер?", now=utcnow(), policy=POLICY,
                      actor=Actor("citizen", None, "citizen"), expert_id=setup.experts[0].id, source="web").booking
    session.execute(update(OutboxMessage).values(status=OutboxStatus.SENT, sent_at=utcnow()))
    session.commit()
    token = as_admin(client, session)
    response = client.post("/staff/privacy/erase", data={"email": EMAIL, "confirmed": "y", "csrf_token": token})
    assert response.status_code == 409
    assert f"Консультация {ahead.code}" in response.get_data(as_text=True)


def test_the_confirmation_is_required_beside_its_box(client: FlaskClient, session: Any) -> None:
    held = citizen_with_everything(session)
    settle(session, held)
    token = as_admin(client, session)
    response = client.post("/staff/privacy/erase", data={"email": EMAIL, "csrf_token": token})
    assert response.status_code == 422
    assert "Подтвердите, что вы проверили личность гражданина и его запрос." in response.get_data(as_text=True)
    session.refresh(held["bookings"][0])
    assert held["bookings"][0].anonymised_at is None


def test_erasure_anonymises_everything_held_and_nothing_else(client: FlaskClient, session: Any) -> None:
    held = citizen_with_everything(session)
    settle(session, held)
    token = as_admin(client, session)
    response = client.post("/staff/privacy/erase", data={"email": EMAIL, "phone": PHONE, "confirmed": "y",
                                                         "csrf_token": token})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Обезличено" in page or "Обезличены" in page
    assert "Найдено 0 записей" in page
    session.expire_all()
    for booking in held["bookings"]:
        assert booking.anonymised_at is not None
        assert EMAIL not in (booking.citizen_email, booking.citizen_name) and booking.citizen_phone != PHONE
        assert booking.question == ""
    assert held["ticket"].anonymised_at is not None
    assert held["ticket"].summary != "Выяснить, нужен ли проект газификации"
    assert not session.scalars(select(CitizenLink).where(CitizenLink.email == EMAIL)).all()
    assert not session.scalars(select(OutboxMessage).where(OutboxMessage.to_address == EMAIL)).all()
    assert held["other"].citizen_email == "citizen2@example.org" and held["other"].anonymised_at is None
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.erased")).one()
    assert entry.changes["bookings"] >= 2 and entry.changes["tickets"] == 1 and entry.changes["links"] == 1
    assert EMAIL not in json.dumps(entry.changes)
