"""Least privilege on tickets, through every door (queue page, ticket page, API): an expert sees the tickets
they are named on or that wait in their queue, and the citizen's email and phone only on one assigned to
them; the department's supervisors see all of the department's, with contacts; nobody else sees any."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from booking.models import Booking
from booking.tickets.models import Ticket
from booking.tickets.services import open_followup
from scheduler.audit import Actor
from scheduler.auth.models import Role, User
from tests.booking_fixtures import bookable_setup
from tests.factories import make_department, make_expert, make_topic
from tests.helpers import csrf_token, login, make_user
from tests.ticket_fixtures import CONFIG, completed_booking

TICKET_API = "/api/v1/tickets/{number}"


@dataclass
class World:
    waiting: Ticket  # nobody has it: in the queue of the experts who consult on its topic
    assigned: Ticket  # assigned to ``colleague``
    people: dict[str, User]


@pytest.fixture
def world(session: Any) -> World:
    setup = bookable_setup(session)  # two experts consulting on the topic
    other_topic = make_topic(session, setup.department, slug="other-topic", title="Другое")
    waiting = open_followup(session, completed_booking(session, setup, 1), summary="Сообщить срок",
                            actor=Actor.system("t"), now=setup.at(12), config=CONFIG)
    assigned = open_followup(session, completed_booking(session, setup, 2, hour=11), summary="Сообщить цену",
                             actor=Actor.system("t"), now=setup.at(12), config=CONFIG,
                             assignee=setup.experts[1].user)
    other = make_department(session, slug="water", title="Водоканал")
    return World(waiting, assigned, {
        "expert": setup.experts[0].user,
        "colleague": setup.experts[1].user,
        "expert of another topic": make_expert(session, setup.department, [other_topic]).user,
        "supervisor": make_user(session, role=Role.SUPERVISOR, department_id=setup.department.id),
        "other supervisor": make_user(session, role=Role.SUPERVISOR, department_id=other.id),
        "admin": make_user(session, role=Role.ADMIN),
    })


def signed_in(app: Flask, user: User) -> FlaskClient:
    client = app.test_client()
    login(client, user)
    return client


def contacts_of(booking: Booking) -> tuple[str, str]:
    return booking.citizen_email, booking.citizen_phone


# who → (tickets on the queue page, tickets whose page opens, tickets whose page shows the contacts)
EXPECTED = {
    "expert": ({"waiting"}, {"waiting"}, set()),
    "colleague": ({"waiting", "assigned"}, {"waiting", "assigned"}, {"assigned"}),
    "expert of another topic": (set(), set(), set()),
    "supervisor": ({"waiting", "assigned"}, {"waiting", "assigned"}, {"waiting", "assigned"}),
    "other supervisor": (set(), set(), set()),
    "admin": ({"waiting", "assigned"}, {"waiting", "assigned"}, {"waiting", "assigned"}),
}


@pytest.mark.parametrize("who", list(EXPECTED))
def test_each_role_sees_its_tickets_and_the_contacts_only_where_it_must_act(
        client: FlaskClient, session: Any, world: World, who: str) -> None:
    listed, opened, with_contacts = EXPECTED[who]
    tickets = {"waiting": world.waiting, "assigned": world.assigned}
    staff = signed_in(client.application, world.people[who])

    queue = staff.get("/staff/tickets/?show=all")
    assert queue.status_code == 200
    page = queue.get_data(as_text=True)
    assert {name for name, t in tickets.items() if f'id="ticket-{t.number}"' in page} == listed
    assert not any(part in page for t in tickets.values() for part in contacts_of(t.booking))

    for name, ticket in tickets.items():
        response = staff.get(f"/staff/tickets/{ticket.number}")
        api = staff.get(TICKET_API.format(number=ticket.number))
        if name not in opened:
            assert response.status_code == 403, name
            assert api.status_code == 404, name
            continue
        assert response.status_code == 200 and api.status_code == 200, name
        text = response.get_data(as_text=True)
        assert ticket.booking.citizen_name in text and ticket.booking.question in text  # to answer it
        email, phone = contacts_of(ticket.booking)
        assert (email in text and phone in text) is (name in with_contacts), name
        assert email not in api.get_data(as_text=True) and phone not in api.get_data(as_text=True)


def test_taking_a_ticket_from_the_queue_brings_the_contacts_and_takes_it_from_the_others_queue(
        client: FlaskClient, session: Any, world: World) -> None:
    ticket = world.waiting
    email, phone = contacts_of(ticket.booking)
    expert = signed_in(client.application, world.people["expert"])
    colleague = signed_in(client.application, world.people["colleague"])
    assert email not in expert.get(f"/staff/tickets/{ticket.number}").get_data(as_text=True)

    token = csrf_token(expert, f"/staff/tickets/{ticket.number}")
    assert expert.post(f"/staff/tickets/{ticket.number}/start", data={"csrf_token": token}).status_code == 302
    text = expert.get(f"/staff/tickets/{ticket.number}").get_data(as_text=True)
    assert email in text and phone in text  # now theirs: they must act

    assert colleague.get(f"/staff/tickets/{ticket.number}").status_code == 403
    assert colleague.get(TICKET_API.format(number=ticket.number)).status_code == 404
    assert f'id="ticket-{ticket.number}"' not in colleague.get("/staff/tickets/?show=all").get_data(as_text=True)
