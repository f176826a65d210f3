"""One end for a consultation: the workspace card, the reception desk, the expert's queue and the sweep agree."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from booking.models import Booking, BookingStatus, Outcome
from booking.reception.jobs import sweep_no_shows
from booking.reception.services import Windows
from scheduler.audit import Actor
from scheduler.auth.models import Role
from tests.helpers import csrf_token, login, make_user
from tests.reception_fixtures import ReceptionSetup, a_day_ahead, reception_setup, visit

DESK = Actor.system("test desk")
WINDOWS = Windows()
QUEUE = "/staff/reception/expert"


@pytest.fixture
def setup(session: Any) -> ReceptionSetup:
    return reception_setup(session, a_day_ahead())


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Any:
    """One clock for every page and the job."""

    class Clock:
        now: datetime

    clock = Clock()
    for where in ("booking.workspace.views", "booking.reception.views", "booking.reception.jobs"):
        monkeypatch.setattr(f"{where}.utcnow", lambda: clock.now)
    return clock


# case -> the visit's state (tests.reception_fixtures.visit), the clock when acting (hour, minute),
# may it become a no-show, may it be completed; the booking starts at 10:00.
CASES: dict[str, tuple[str, tuple[int, int], bool, bool]] = {
    "expected, before the start": ("expected", (9, 58), False, False),
    "expected, after the start": ("expected", (10, 30), True, False),
    "checked in, before the start": ("checked_in", (9, 55), True, False),
    "checked in, after the start": ("checked_in", (10, 30), True, False),
    "called, before the start": ("called", (9, 58), True, True),
    "in consultation": ("in_consultation", (10, 30), False, True),
    "completed": ("completed", (10, 30), False, False),
    "no-show": ("no_show", (10, 30), False, False),
}


def at_case(session: Any, setup: ReceptionSetup, clock: Any, case: str, answer: int) -> tuple[Booking, bool]:
    """The case's booking, the clock set to its time, and the case's answer (2: no-show, 3: completion)."""
    state, (hour, minute) = CASES[case][:2]
    booking = visit(session, setup, state)
    clock.now = setup.at(hour, minute)
    return booking, bool(CASES[case][answer])


def _desk_no_show(client: Any, session: Any, setup: ReceptionSetup, booking: Booking) -> None:
    login(client, make_user(session, role=Role.RECEPTION, location_id=setup.location.id))
    page = f"/staff/reception/{setup.location.slug}"
    client.post(f"{page}/bookings/{booking.code}/no-show", data={"csrf_token": csrf_token(client, page)})


def _queue_action(action: str) -> Callable[..., None]:
    def act(client: Any, session: Any, setup: ReceptionSetup, booking: Booking) -> None:
        login(client, setup.experts[0].user)
        client.post(f"{QUEUE}/bookings/{booking.code}/{action}",
                    data={"csrf_token": csrf_token(client, QUEUE), "outcome": "resolved"})
    return act


def _card_action(action: str) -> Callable[..., None]:
    def act(client: Any, session: Any, setup: ReceptionSetup, booking: Booking) -> None:
        login(client, setup.experts[0].user)
        card = f"/staff/workspace/bookings/{booking.code}"
        client.post(f"{card}/{action}", data={"csrf_token": csrf_token(client, card), "outcome": "resolved"})
    return act


# (end, entry point) -> how that entry point asks for it
PATHS = {
    ("no_show", "workspace"): _card_action("no-show"), ("no_show", "desk"): _desk_no_show,
    ("no_show", "expert queue"): _queue_action("no-show"),
    ("completed", "workspace"): _card_action("complete"), ("completed", "expert queue"): _queue_action("complete"),
}
ANSWER = {"no_show": 2, "completed": 3}


@pytest.mark.parametrize(("end", "path"), list(PATHS))
@pytest.mark.parametrize("state", list(CASES))
def test_every_path_ends_a_consultation_under_one_rule(client: Any, session: Any, setup: ReceptionSetup,
                                                       clock: Any, state: str, end: str, path: str) -> None:
    booking, allowed = at_case(session, setup, clock, state, ANSWER[end])
    before = booking.status
    PATHS[end, path](client, session, setup, booking)
    session.refresh(booking)
    assert booking.status == (BookingStatus(end) if allowed else before)
    ended_at = booking.no_show_at if end == "no_show" else booking.completed_at
    assert (ended_at == clock.now) is allowed
    if allowed and end == "completed":
        assert booking.outcome == Outcome.RESOLVED
        assert booking.started_at is not None and booking.started_at <= booking.completed_at


@pytest.mark.parametrize("state", list(CASES))
def test_the_card_offers_exactly_what_the_rule_allows(client: Any, session: Any, setup: ReceptionSetup, clock: Any,
                                                      state: str) -> None:
    booking, no_show = at_case(session, setup, clock, state, 2)
    complete = CASES[state][3]
    login(client, setup.experts[0].user)
    html = client.get(f"/staff/workspace/bookings/{booking.code}").get_data(as_text=True)
    assert ('id="no-show-form"' in html, 'id="complete-form"' in html) == (no_show, complete)


@pytest.mark.parametrize("state", list(CASES))
def test_the_sweep_marks_only_what_a_manual_no_show_would_and_only_the_absent(
        app: Any, session: Any, setup: ReceptionSetup, clock: Any, monkeypatch: pytest.MonkeyPatch,
        state: str) -> None:
    booking, no_show = at_case(session, setup, clock, state, 2)
    before = booking.status
    monkeypatch.setitem(app.config, "RECEPTION_NO_SHOW_GRACE_MINUTES", 0)
    marked = sweep_no_shows()
    session.refresh(booking)
    never_arrived = before == BookingStatus.CONFIRMED
    assert marked == int(no_show and never_arrived)
    assert booking.status == (BookingStatus.NO_SHOW if no_show and never_arrived else before)
    if marked:
        assert booking.events[-1].actor_type == "system" and booking.events[-1].details == {"grace_minutes": 0}
