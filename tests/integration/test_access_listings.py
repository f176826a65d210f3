"""The listings' SQL condition and the one-record rule are one rule: a list shows exactly what ``may`` allows."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from booking.tickets.models import Ticket
from scheduler.auth.access import Action, Scope, condition, may
from scheduler.auth.models import Role, User
from scheduler.departments.models import Location
from scheduler.experts.models import Expert
from tests.factories import make_department, make_expert, make_location
from tests.helpers import make_user
from tests.ticket_fixtures import CONFIG, completed_booking

PEOPLE = ["admin", "supervisor", "other supervisor", "supervisor without department", "reception",
          "reception without office", "expert", "switched-off admin"]


@pytest.fixture
def world(session: Any) -> dict[str, Any]:
    from booking.tickets.services import open_followup
    from scheduler.audit import Actor
    from tests.booking_fixtures import bookable_setup

    setup = bookable_setup(session)
    other = make_department(session)
    make_expert(session, other, full_name="Other expert")
    office = make_location(session, setup.department)
    make_location(session, other)
    make_location(session, None)  # shared by every department
    held = completed_booking(session, setup)
    mine = open_followup(session, held, summary="Ответ", actor=Actor.staff(setup.experts[0].user),
                         now=setup.at(11), config=CONFIG)
    open_followup(session, completed_booking(session, setup, 2, hour=11), summary="Ответ", actor=Actor.system("t"),
                  now=setup.at(12), config=CONFIG, department=other)  # handed to another department
    users: dict[str, User] = {
        "admin": make_user(session, role=Role.ADMIN),
        "supervisor": make_user(session, role=Role.SUPERVISOR, department_id=setup.department.id),
        "other supervisor": make_user(session, role=Role.SUPERVISOR, department_id=other.id),
        "supervisor without department": make_user(session, role=Role.SUPERVISOR),
        "reception": make_user(session, role=Role.RECEPTION, location_id=office.id),
        "reception without office": make_user(session, role=Role.RECEPTION, department_id=other.id),
        "expert": setup.experts[0].user,
        "switched-off admin": make_user(session, role=Role.ADMIN, is_active_account=False),
    }
    assert mine.opened_by_id == users["expert"].id  # the expert follows a ticket they opened
    return users


LISTINGS = {
    "experts": (Expert, lambda: {"department": Expert.department_id, "people": [Expert.user_id]},
                Scope.of_expert),
    "offices": (Location, lambda: {"department": Location.department_id, "location": Location.id},
                Scope.of_location),
    "tickets": (Ticket, lambda: {"department": Ticket.department_id,
                                 "people": [Ticket.assignee_id, Ticket.opened_by_id]}, lambda t: t.scope),
}


@pytest.mark.parametrize("listing", list(LISTINGS))
def test_a_listing_shows_exactly_the_rows_may_allows(session: Any, world: dict[str, User], listing: str) -> None:
    model, columns, scope_of = LISTINGS[listing]
    rows = session.scalars(select(model)).unique().all()
    for action in Action:
        for who in PEOPLE:
            user = world[who]
            listed = {row.id for row in session.scalars(select(model).where(condition(user, action, **columns())))
                      .unique()}
            assert listed == {row.id for row in rows if may(user, action, scope_of(row))}, (action, who)
