"""Least privilege on the audit log: a supervisor reads their own department's entries, an admin every one."""

from __future__ import annotations

from datetime import time
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from booking.tickets.services import open_followup
from scheduler.audit import Actor, AuditEntry, record
from scheduler.auth.models import Role
from tests.booking_fixtures import Setup, bookable_setup, next_working_day
from tests.factories import add_weekly, make_department, make_expert, make_topic
from tests.helpers import csrf_token, login, make_user
from tests.ticket_fixtures import CONFIG, completed_booking


@pytest.fixture
def two_departments(session: Any) -> tuple[Setup, Setup]:
    first = bookable_setup(session, experts=1)
    other = make_department(session, slug="water", title="Водоканал")
    topic = make_topic(session, other, slug="pipes", title="Трубы", duration_minutes=30)
    expert = make_expert(session, other, [topic], full_name="Эксперт Б")
    add_weekly(session, expert, starts=time(9), ends=time(13))
    return first, Setup(other, topic, [expert], next_working_day(other))


def audit_page(client: FlaskClient) -> str:
    response = client.get("/staff/audit")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_a_supervisor_reads_only_their_departments_entries_and_an_admin_reads_all(
        client: FlaskClient, session: Any, two_departments: tuple[Setup, Setup]) -> None:
    a, b = two_departments
    booking_a = completed_booking(session, a, 1)
    booking_b = completed_booking(session, b, 2)
    ticket_b = open_followup(session, booking_b, summary="Ответить", actor=Actor.system("t"), now=b.at(12),
                             config=CONFIG)
    record(session, Actor.system("cli"), "api_key.created", "api_key", "svc-key-1")  # of no department
    session.flush()

    # the services wrote each entry's department
    entries = session.scalars(select(AuditEntry).where(AuditEntry.entity_id.in_(
        [booking_a.code, booking_b.code, ticket_b.number]))).all()
    assert entries and {(e.entity_id, e.department_id) for e in entries} == {
        (booking_a.code, a.department.id), (booking_b.code, b.department.id), (ticket_b.number, b.department.id)}

    supervisor_a = make_user(session, role=Role.SUPERVISOR, department_id=a.department.id)
    login(client, supervisor_a)
    page = audit_page(client)
    assert booking_a.code in page
    assert booking_b.code not in page and ticket_b.number not in page and "svc-key-1" not in page

    client.post("/staff/logout", data={"csrf_token": csrf_token(client, "/staff/")})
    supervisor_b = make_user(session, role=Role.SUPERVISOR, department_id=b.department.id)
    login(client, supervisor_b)
    page = audit_page(client)
    assert booking_b.code in page and ticket_b.number in page
    assert booking_a.code not in page and "svc-key-1" not in page

    client.post("/staff/logout", data={"csrf_token": csrf_token(client, "/staff/")})
    login(client, make_user(session, role=Role.ADMIN))
    page = audit_page(client)
    assert all(text in page for text in (booking_a.code, booking_b.code, ticket_b.number, "svc-key-1"))


def test_a_supervisor_of_no_department_reads_nothing_and_an_expert_is_refused(
        client: FlaskClient, session: Any, two_departments: tuple[Setup, Setup]) -> None:
    a, _b = two_departments
    booking = completed_booking(session, a, 1)
    login(client, make_user(session, role=Role.SUPERVISOR))
    assert booking.code not in audit_page(client)
    client.post("/staff/logout", data={"csrf_token": csrf_token(client, "/staff/")})
    login(client, a.experts[0].user)
    assert client.get("/staff/audit").status_code == 403
