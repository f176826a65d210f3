"""A supervisor without a department: refused at every desk and shown nothing anywhere, like a stranger."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from booking import consultation
from booking.models import Outcome
from booking.reception import services as desk
from booking.reception.models import WaitingEntry
from booking.tickets.services import open_followup
from scheduler.audit import Actor
from scheduler.auth.models import Role, User
from scheduler.schedules.models import ReceptionDay
from tests.factories import add_reception_day, make_location
from tests.helpers import csrf_token, login, make_user
from tests.reception_fixtures import ReceptionSetup, a_day_ahead, book, reception_setup
from tests.ticket_fixtures import CONFIG

DESK = Actor.system("test desk")


@pytest.fixture
def world(session: Any) -> dict[str, Any]:
    """A department's office with a visitor, a waiting walk-in, a held consultation and its ticket, plus an
    office of no department."""
    setup = reception_setup(session, a_day_ahead())
    for n, expert in enumerate(setup.experts):
        expert.user.full_name = f"Эксперт газовой службы {n + 1}"  # unlike any other setup's experts
    setup.topic.title = "Замена газовой плиты"
    setup.location.name = "Офис на Садовой"
    visitor = book(session, setup, setup.at(10), setup.at(8))
    held = book(session, setup, setup.at(11), setup.at(8))
    desk.check_in(session, held.code, setup.location, setup.at(10, 50), desk.Windows(), DESK)
    desk.call_next(session, setup.location, setup.at(10, 55), "1", DESK, setup.experts[0])
    consultation.complete(session, held, Outcome.NEEDS_FOLLOWUP, setup.at(11, 20), DESK)
    ticket = open_followup(session, held, summary="Нужен ответ", actor=DESK, now=setup.at(11, 30), config=CONFIG)
    entry = WaitingEntry(location_id=setup.location.id, topic_id=setup.topic.id, day=setup.day, queue_number=9,
                         visitor_name="Гость", visitor_phone="+79120001122", registered_at=setup.at(9))
    shared = make_location(session, None, name="Общий офис")
    add_reception_day(session, shared, [setup.topic], [setup.experts[0]], weekdays=list(range(7)))
    session.add(entry)
    session.flush()
    days = session.scalars(select(ReceptionDay)).all()
    return {"setup": setup, "visitor": visitor, "held": held, "ticket": ticket, "entry": entry, "shared": shared,
            "days": days}


def desk_requests(world: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    """Every desk request at both offices: (method, path, form)."""
    setup: ReceptionSetup = world["setup"]
    requests: list[tuple[str, str, dict[str, str]]] = []
    for location in (setup.location, world["shared"]):
        base = f"/staff/reception/{location.slug}"
        requests += [
            ("GET", base, {}),
            ("GET", f"{base}/table", {}),
            ("POST", f"{base}/check-in", {"code": world["visitor"].code}),
            ("POST", f"{base}/walk-in", {"topic": str(setup.topic.id), "name": "Гость", "phone": "+79120001122"}),
            ("POST", f"{base}/call", {"window": "1"}),
            ("POST", f"{base}/bookings/{world['visitor'].code}/no-show", {}),
            ("POST", f"{base}/waiting/{world['entry'].id}/left", {}),
        ]
    return requests


def statuses(client: Any, requests: list[tuple[str, str, dict[str, str]]]) -> dict[str, int]:
    token = csrf_token(client, "/staff/")
    return {f"{method} {path}": (client.get(path) if method == "GET"
                                 else client.post(path, data={**form, "csrf_token": token})).status_code
            for method, path, form in requests}


def test_a_supervisor_without_a_department_is_refused_at_every_desk(client: Any, session: Any,
                                                                    world: dict[str, Any]) -> None:
    login(client, make_user(session, role=Role.SUPERVISOR))
    refused = statuses(client, desk_requests(world))
    assert refused == dict.fromkeys(refused, 403)
    index = client.get("/staff/reception/").get_data(as_text=True)
    assert world["setup"].location.slug not in index and world["shared"].slug not in index


def test_the_departments_supervisor_works_at_its_desk_and_an_admin_at_every_desk(client: Any, session: Any,
                                                                                 world: dict[str, Any]) -> None:
    setup: ReceptionSetup = world["setup"]
    base = f"/staff/reception/{setup.location.slug}"
    shared = f"/staff/reception/{world['shared'].slug}"
    login(client, make_user(session, role=Role.SUPERVISOR, department_id=setup.department.id))
    assert (client.get(base).status_code, client.get(shared).status_code) == (200, 403)
    client.post("/staff/logout", data={"csrf_token": csrf_token(client, "/staff/")})
    login(client, make_user(session, role=Role.ADMIN))
    assert (client.get(base).status_code, client.get(shared).status_code) == (200, 200)


def own_reception_day(world: dict[str, Any]) -> int:
    """The department's own reception day (the setup made one at its office)."""
    return next(day.id for day in world["days"] if day.location_id == world["setup"].location.id)


def elsewhere(world: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    """Every other page about the department's records: consultations, calendars, schedules, tickets."""
    setup: ReceptionSetup = world["setup"]
    expert, held, ticket = setup.experts[0], world["held"], world["ticket"]
    card = f"/staff/workspace/bookings/{held.code}"
    reception_day = own_reception_day(world)
    return [
        ("GET", card, {}),
        ("POST", f"{card}/no-show", {}),
        ("POST", f"{card}/complete", {"outcome": "resolved"}),
        ("POST", f"{card}/notes", {"text": "x"}),
        ("GET", f"/staff/workspace/?expert={expert.id}", {}),
        ("POST", f"/staff/workspace/feed/{expert.id}/enable", {}),
        ("GET", f"/staff/schedules/experts/{expert.id}", {}),
        ("GET", f"/staff/schedules/reception/{reception_day}", {}),
        ("GET", f"/staff/tickets/new/{held.code}", {}),
        ("GET", f"/staff/tickets/{ticket.number}", {}),
        ("POST", f"/staff/tickets/{ticket.number}/comment", {"comment": "x"}),
        ("POST", f"/staff/tickets/{ticket.number}/extend",
         {"due_date": (setup.day + timedelta(days=30)).isoformat(), "reason": "x"}),
    ]


@pytest.mark.parametrize(("who", "expected"), [("supervisor without department", 403), ("other supervisor", 403),
                                               ("department's supervisor", None)])
def test_a_supervisor_without_a_department_gets_what_a_stranger_gets_elsewhere(
        client: Any, session: Any, world: dict[str, Any], who: str, expected: int | None) -> None:
    setup: ReceptionSetup = world["setup"]
    other = reception_setup(session, setup.day)
    department_id = {"supervisor without department": None, "other supervisor": other.department.id,
                     "department's supervisor": setup.department.id}[who]
    user: User = make_user(session, role=Role.SUPERVISOR, department_id=department_id)
    login(client, user)
    answers = statuses(client, elsewhere(world))
    if expected is None:
        assert 403 not in answers.values(), answers
        return
    assert answers == dict.fromkeys(answers, expected)
    lists = {path: client.get(path).get_data(as_text=True) for path in (
        "/staff/workspace/", "/staff/schedules/", "/staff/schedules/reception", "/staff/tickets/?show=all",
        "/staff/schedules/reception/new")}
    for path, html in lists.items():
        assert setup.experts[0].name not in html and world["ticket"].number not in html, path
        assert setup.location.name not in html and setup.topic.title not in html, path
    analytics = client.get("/staff/analytics/")
    assert analytics.status_code == 200 and setup.department.title not in analytics.get_data(as_text=True)
    assert client.get(f"/staff/analytics/?department={setup.department.slug}").status_code == 400
