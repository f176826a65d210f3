"""Journeys 5 and 6 through the pages: the expert opens and answers a ticket, the citizen follows it on
the personal page and confirms or rejects the answer from the email link; supervisors get their
queue, extend due times and read the department rating."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import object_session

from booking.tickets.models import Ticket, TicketStatus
from scheduler.auth.models import Role
from scheduler.db import utcnow
from scheduler.mail.compose import read_content
from scheduler.mail.models import OutboxMessage
from tests.booking_fixtures import bookable_setup
from tests.factories import make_department
from tests.helpers import csrf_token, login, make_user
from tests.ticket_fixtures import completed_booking

LINK_RE = re.compile(r"http://okno\.example\.org(/tickets/[\w-]+\?token=[\w-]+)")


@pytest.fixture
def setup(session: Any) -> Any:
    return bookable_setup(session)


def last_mail(session: Any, template: str) -> OutboxMessage:
    message = session.scalars(select(OutboxMessage).where(OutboxMessage.template == template)
                              .order_by(OutboxMessage.id.desc())).first()
    assert message is not None, f"no {template} email"
    return message


def open_via_page(client: FlaskClient, session: Any, setup: Any, booking: Any, **form: str) -> Ticket:
    path = f"/staff/tickets/new/{booking.code}"
    token = csrf_token(client, path)
    response = client.post(path, data={"summary": "Сообщить срок замены плиты", "department": setup.department.slug,
                                       "assignee": "", "csrf_token": token, **form})
    assert response.status_code == 302, response.get_data(as_text=True)
    ticket = session.scalar(select(Ticket).where(Ticket.booking_id == booking.id))
    assert ticket is not None and response.headers["Location"].endswith(f"/staff/tickets/{ticket.number}")
    return ticket


def post_on_ticket(client: FlaskClient, ticket: Ticket, action: str, **data: str) -> Any:
    """Post a staff form; the request committed in its own session, so the test's objects are reloaded."""
    token = csrf_token(client, f"/staff/tickets/{ticket.number}")
    response = client.post(f"/staff/tickets/{ticket.number}/{action}", data={"csrf_token": token, **data})
    session_of(ticket).expire_all()
    return response


def citizen_post(citizen: FlaskClient, ticket: Ticket, action: str, **data: str) -> Any:
    response = citizen.post(f"/tickets/{ticket.number}/{action}", data=data)
    session_of(ticket).expire_all()
    return response


def session_of(obj: Any) -> Any:
    return object_session(obj)


def test_journey_5_open_answer_reject_answer_confirm_with_emails(client: FlaskClient, session: Any,
                                                                 setup: Any) -> None:
    booking = completed_booking(session, setup)
    expert = setup.experts[0].user
    login(client, expert)
    assert client.get(f"/staff/tickets/new/{booking.code}").status_code == 200
    ticket = open_via_page(client, session, setup, booking)
    assert ticket.status == TicketStatus.OPEN and ticket.due_at > ticket.opened_at
    opened_mail = last_mail(session, "ticket_opened")
    assert opened_mail.to_address == booking.citizen_email and ticket.number in opened_mail.subject

    assert post_on_ticket(client, ticket, "start").status_code == 302
    assert ticket.status == TicketStatus.IN_PROGRESS and ticket.assignee_id == expert.id
    assert post_on_ticket(client, ticket, "answer", answer="Замену согласуем до 1 декабря.").status_code == 302
    assert ticket.status == TicketStatus.ANSWERED
    answer_mail = last_mail(session, "ticket_answered")
    assert answer_mail.to_address == booking.citizen_email and "Замену согласуем" in read_content(answer_mail).text_body
    link = LINK_RE.search(read_content(answer_mail).text_body)
    assert link, read_content(answer_mail).text_body

    citizen = client.application.test_client()
    entered = citizen.get(link.group(1))
    assert entered.status_code == 302 and "token" not in entered.headers["Location"]
    page = citizen.get(f"/tickets/{ticket.number}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="confirm-form"' in html and 'id="reject-form"' in html
    assert "Замену согласуем" in html

    page_token = csrf_token(citizen, f"/tickets/{ticket.number}")
    empty = citizen_post(citizen, ticket, "reject", comment="", csrf_token=page_token)
    assert empty.status_code == 422 and ticket.status == TicketStatus.ANSWERED
    rejected = citizen_post(citizen, ticket, "reject", comment="Не сказано, кто приедет", csrf_token=page_token)
    assert rejected.status_code == 302 and ticket.status == TicketStatus.REOPENED and ticket.reopen_count == 1

    assert post_on_ticket(client, ticket, "answer", answer="Приедет мастер Иванов.").status_code == 302
    assert ticket.status == TicketStatus.ANSWERED
    confirmed = citizen_post(citizen, ticket, "confirm", csrf_token=page_token)
    assert confirmed.status_code == 302 and ticket.status == TicketStatus.CLOSED
    again = citizen_post(citizen, ticket, "confirm", csrf_token=page_token)
    assert again.status_code == 302 and ticket.status == TicketStatus.CLOSED
    staff_page = client.get(f"/staff/tickets/{ticket.number}").get_data(as_text=True)
    assert 'data-status="closed"' in staff_page and 'data-kind="rejected"' in staff_page


def test_the_citizen_sees_the_ticket_on_the_personal_page_but_never_internal_notes(
        client: FlaskClient, session: Any, setup: Any) -> None:
    booking = completed_booking(session, setup)
    login(client, setup.experts[0].user)
    ticket = open_via_page(client, session, setup, booking)
    assert post_on_ticket(client, ticket, "comment", comment="Секретная пометка").status_code == 302

    citizen = client.application.test_client()
    with citizen.session_transaction() as browser:
        browser["citizen_email"] = booking.citizen_email
    personal = citizen.get("/me").get_data(as_text=True)
    assert f'data-ticket="{ticket.number}"' in personal and 'data-status="open"' in personal
    page = citizen.get(f"/tickets/{ticket.number}")
    assert page.status_code == 200 and "Секретная пометка" not in page.get_data(as_text=True)
    assert 'id="confirm-form"' not in page.get_data(as_text=True)  # nothing to confirm yet


def test_strangers_cannot_see_a_ticket_without_its_link(client: FlaskClient, session: Any, setup: Any) -> None:
    booking = completed_booking(session, setup)
    login(client, setup.experts[0].user)
    ticket = open_via_page(client, session, setup, booking)
    stranger = client.application.test_client()
    assert stranger.get(f"/tickets/{ticket.number}").status_code == 404
    assert stranger.get(f"/tickets/{ticket.number}?token=forged").status_code == 302
    assert stranger.get(f"/tickets/{ticket.number}").status_code == 404
    with stranger.session_transaction() as browser:
        browser["citizen_email"] = "someone.else@example.org"
    assert stranger.get(f"/tickets/{ticket.number}").status_code == 404
    assert stranger.get("/tickets/2026-999999").status_code == 404


def test_only_the_consultations_expert_or_its_supervisor_opens_a_ticket(client: FlaskClient, session: Any,
                                                                         setup: Any) -> None:
    booking = completed_booking(session, setup)
    path = f"/staff/tickets/new/{booking.code}"
    login(client, setup.experts[1].user)
    assert client.get(path).status_code == 403
    reception = client.application.test_client()
    login(reception, make_user(session, role=Role.RECEPTION))
    assert reception.get(path).status_code == 403
    other_supervisor = client.application.test_client()
    login(other_supervisor, make_user(session, role=Role.SUPERVISOR, department_id=make_department(session).id))
    assert other_supervisor.get(path).status_code == 403
    supervisor = client.application.test_client()
    login(supervisor, make_user(session, role=Role.SUPERVISOR, department_id=setup.department.id))
    assert supervisor.get(path).status_code == 200
    assert supervisor.get("/staff/tickets/new/NOSUCHCD").status_code == 404


def test_a_ticket_for_a_consultation_not_yet_held_is_refused_on_the_form(client: FlaskClient, session: Any,
                                                                          setup: Any) -> None:
    booking = completed_booking(session, setup)
    booking.status = booking.status.CONFIRMED  # as if not held yet
    session.flush()
    login(client, setup.experts[0].user)
    path = f"/staff/tickets/new/{booking.code}"
    response = client.post(path, data={"summary": "Ответ", "department": setup.department.slug, "assignee": "",
                                       "csrf_token": csrf_token(client, path)})
    assert response.status_code == 409
    assert session.scalar(select(Ticket)) is None


def test_journey_6_supervisor_queue_extension_reassignment_and_rating(client: FlaskClient, session: Any,
                                                                      setup: Any) -> None:
    expert = setup.experts[0].user
    login(client, expert)
    first = open_via_page(client, session, setup, completed_booking(session, setup, 1, hour=10))
    second = open_via_page(client, session, setup, completed_booking(session, setup, 2, hour=11))
    # The first one is long overdue.
    first.opened_at = utcnow() - timedelta(days=20)
    first.due_at = utcnow() - timedelta(days=14)
    session.flush()

    supervisor = make_user(session, role=Role.SUPERVISOR, department_id=setup.department.id)
    boss = client.application.test_client()
    login(boss, supervisor)
    queue = boss.get("/staff/tickets/").get_data(as_text=True)
    assert queue.index(f'id="ticket-{first.number}"') < queue.index(f'id="ticket-{second.number}"')
    assert re.search(rf'id="ticket-{first.number}"[^>]*data-overdue="true"', queue)
    assert re.search(rf'id="ticket-{second.number}"[^>]*data-overdue="false"', queue)

    outsider = client.application.test_client()
    login(outsider, make_user(session, role=Role.SUPERVISOR, department_id=make_department(session).id))
    assert first.number not in outsider.get("/staff/tickets/").get_data(as_text=True)
    assert outsider.get(f"/staff/tickets/{first.number}").status_code == 403

    # Experts cannot extend; the supervisor can, with a reason, to a working day.
    new_day = (second.due_at + timedelta(days=7)).astimezone(setup.department.zone).date()
    while not setup.department.working_calendar.is_working_day(new_day):
        new_day += timedelta(days=1)
    assert post_on_ticket(client, second, "extend", due_date=new_day.isoformat(), reason="x").status_code == 403
    no_reason = post_on_ticket(boss, second, "extend", due_date=new_day.isoformat(), reason="")
    assert no_reason.status_code == 422
    extended = post_on_ticket(boss, second, "extend", due_date=new_day.isoformat(), reason="Ждём ответа РЭС")
    assert extended.status_code == 302
    assert second.due_at.astimezone(setup.department.zone).date() == new_day
    assert second.events[-1].kind == "extended" and second.extended_reason == "Ждём ответа РЭС"

    # Reassigning keeps the due time; the ticket leaves this supervisor's queue.
    construction = make_department(session, slug="construction")
    due = second.due_at
    moved = post_on_ticket(boss, second, "reassign", department="construction", assignee="", note="Их вопрос")
    assert moved.status_code == 302 and second.department == construction and second.due_at == due
    assert second.number not in boss.get("/staff/tickets/").get_data(as_text=True)
    # The expert who opened it still follows it; an expert of an unrelated department cannot.
    assert client.get(f"/staff/tickets/{second.number}").status_code == 200
    stranger = client.application.test_client()
    login(stranger, make_user(session, role=Role.EXPERT, department_id=make_department(session).id))
    assert stranger.get(f"/staff/tickets/{second.number}").status_code == 403
    assert second.number not in stranger.get("/staff/tickets/").get_data(as_text=True)

    rating = boss.get("/staff/tickets/rating", query_string={
        "from": (utcnow() - timedelta(days=30)).date().isoformat(), "to": utcnow().date().isoformat()})
    html = rating.get_data(as_text=True)
    assert rating.status_code == 200
    assert re.search(rf'data-department="{setup.department.slug}" data-due="1" data-on-time="0" data-overdue="1"',
                     html)
    assert boss.get("/staff/tickets/rating?from=2026-02-30").status_code == 400
    assert client.get("/staff/tickets/rating").status_code == 403


def test_illegal_moves_from_the_page_are_refused_without_change(client: FlaskClient, session: Any,
                                                                setup: Any) -> None:
    login(client, setup.experts[0].user)
    ticket = open_via_page(client, session, setup, completed_booking(session, setup))
    assert post_on_ticket(client, ticket, "answer", answer="Ответ").status_code == 302
    refused = post_on_ticket(client, ticket, "start")
    assert refused.status_code == 303 and ticket.status == TicketStatus.ANSWERED
    moved = post_on_ticket(client, ticket, "reassign", department=setup.department.slug, assignee="")
    assert moved.status_code == 303 and ticket.status == TicketStatus.ANSWERED
