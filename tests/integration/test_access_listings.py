"""The listings' SQL condition and the one-record rule are one rule: a list shows exactly what ``may`` allows."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from booking.tickets.models import Ticket, in_queue_of
from scheduler.audit import AuditEntry
from scheduler.auth.access import Action, Scope, condition, may
from scheduler.auth.models import Role, User
from scheduler.departments.models import Location
from scheduler.experts.models import Expert
from tests.factories import make_department, make_expert, make_location
from tests.helpers import make_user
from tests.ticket_fixtures import CONFIG, completed_booking

PEOPLE = ["admin", "supervisor", "other supervisor", "supervisor without department", "reception",
          "reception without office", "expert", "expert of another topic", "switched-off admin"]


@pytest.fixture
def world(session: Any) -> dict[str, Any]:
    from booking.tickets.services import open_followup
    from scheduler.audit import Actor, record
    from tests.booking_fixtures import bookable_setup
    from tests.factories import make_topic

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
    colleague = setup.experts[1].user if len(setup.experts) > 1 else make_expert(session, setup.department).user
    open_followup(session, completed_booking(session, setup, 3, hour=12), summary="Ответ", actor=Actor.system("t"),
                  now=setup.at(13), config=CONFIG, assignee=colleague)  # a colleague's: not in anyone's queue
    elsewhere = make_expert(session, setup.department, [make_topic(session, setup.department)])
    record(session, Actor.system(), "api_key.created", "api_key", "k1")  # of no department: admins only
    users: dict[str, User] = {
        "admin": make_user(session, role=Role.ADMIN),
        "supervisor": make_user(session, role=Role.SUPERVISOR, department_id=setup.department.id),
        "other supervisor": make_user(session, role=Role.SUPERVISOR, department_id=other.id),
        "supervisor without department": make_user(session, role=Role.SUPERVISOR),
        "reception": make_user(session, role=Role.RECEPTION, location_id=office.id),
        "reception without office": make_user(session, role=Role.RECEPTION, department_id=other.id),
        "expert": setup.experts[0].user,
        "expert of another topic": elsewhere.user,
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
                                 "people": [Ticket.assignee_id, Ticket.opened_by_id], "queue": in_queue_of},
                lambda t: t.scope),
    "ticket contacts": (Ticket, lambda: {"department": Ticket.department_id, "people": [Ticket.assignee_id]},
                        lambda t: t.contact_scope),
    "audit entries": (AuditEntry, lambda: {"department": AuditEntry.department_id},
                      lambda e: Scope.of_department(e.department_id)),
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


def test_an_expert_lists_only_the_tickets_they_are_named_on_or_that_wait_in_their_queue(
        session: Any, world: dict[str, User]) -> None:
    tickets = {t.id: t for t in session.scalars(select(Ticket).order_by(Ticket.id))}
    mine, handed_over, colleagues = tickets.values()
    columns = LISTINGS["tickets"][1]()
    ids = {who: {t.id for t in session.scalars(select(Ticket).where(condition(world[who], Action.HANDLE_TICKET,
                                                                                **columns)))}
           for who in ("expert", "expert of another topic", "supervisor", "admin")}
    assert ids["expert"] == {mine.id}  # opened by them; a colleague's and another department's are not theirs
    assert ids["expert of another topic"] == set()  # their department's, but about a topic they do not consult on
    assert ids["supervisor"] == {mine.id, colleagues.id}  # the department's, whoever has them
    assert ids["admin"] == {mine.id, handed_over.id, colleagues.id}
    contacts = LISTINGS["ticket contacts"][1]()
    assert not session.scalars(select(Ticket).where(
        condition(world["expert"], Action.VIEW_TICKET_CONTACTS, **contacts))).all()  # opened, not assigned
    assert world["expert"].id in mine.queue_user_ids()
    assert world["expert of another topic"].id not in mine.queue_user_ids()
