"""Reception pages: the desk, the expert's queue and the lobby display; who may see and do what."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from booking.models import Booking, BookingStatus
from booking.reception.models import WaitingEntry
from scheduler.auth.models import Role
from tests.helpers import csrf_token, login, make_user
from tests.reception_fixtures import ReceptionSetup, a_day_ahead, book, reception_setup


@pytest.fixture
def setup(session: Any) -> ReceptionSetup:
    return reception_setup(session, a_day_ahead())


@pytest.fixture
def clock(time_machine: Any, setup: ReceptionSetup) -> Any:
    """The clock, set to 9:50 on the reception day unless a test moves it."""

    class Clock:
        now: datetime

        def set(self, at: datetime) -> None:
            self.now = at
            time_machine.move_to(at, tick=False)

    clock = Clock()
    clock.set(setup.at(9, 50))
    return clock


def desk_url(setup: ReceptionSetup, tail: str = "") -> str:
    return f"/staff/reception/{setup.location.slug}{tail}"


def desk_user(session: Any, setup: ReceptionSetup) -> Any:
    return make_user(session, role=Role.RECEPTION, location_id=setup.location.id)


def post(client: Any, path: str, data: dict[str, str], form_page: str) -> Any:
    return client.post(path, data={**data, "csrf_token": csrf_token(client, form_page)})


def test_reception_staff_land_on_their_own_desk(client: Any, session: Any, setup: ReceptionSetup, clock: Any) -> None:
    login(client, desk_user(session, setup))
    response = client.get("/staff/reception/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(desk_url(setup))


def test_reception_staff_see_and_act_only_at_their_own_location(client: Any, session: Any, setup: ReceptionSetup,
                                                                 clock: Any) -> None:
    other = reception_setup(session, setup.day)
    visitor = book(session, other, other.at(10), other.at(8))
    login(client, desk_user(session, setup))
    assert client.get(desk_url(setup)).status_code == 200
    assert client.get(desk_url(other)).status_code == 403
    assert client.get(desk_url(other, "/table")).status_code == 403
    token = csrf_token(client, desk_url(setup))
    response = client.post(desk_url(other, "/check-in"), data={"code": visitor.code, "csrf_token": token})
    assert response.status_code == 403
    response = client.post(desk_url(other, f"/bookings/{visitor.code}/no-show"), data={"csrf_token": token})
    assert response.status_code == 403
    session.refresh(visitor)
    assert visitor.status == BookingStatus.CONFIRMED


def test_a_supervisor_works_only_at_their_departments_locations(client: Any, session: Any, setup: ReceptionSetup,
                                                                 clock: Any) -> None:
    other = reception_setup(session, setup.day)
    login(client, make_user(session, role=Role.SUPERVISOR, department_id=setup.department.id))
    assert client.get(desk_url(setup)).status_code == 200
    assert client.get(desk_url(other)).status_code == 403


def test_experts_cannot_open_the_desk_and_desk_staff_cannot_open_the_experts_queue(
        client: Any, session: Any, setup: ReceptionSetup, clock: Any) -> None:
    login(client, setup.experts[0].user)
    assert client.get(desk_url(setup)).status_code == 403
    client.post("/staff/logout", data={"csrf_token": csrf_token(client, "/staff/")})
    login(client, desk_user(session, setup))
    assert client.get("/staff/reception/expert").status_code == 403


def test_the_desk_lists_the_days_in_person_visitors_by_time_with_their_state(
        client: Any, session: Any, setup: ReceptionSetup, clock: Any) -> None:
    late = book(session, setup, setup.at(11), setup.at(8), name="Пётр Поздний")
    early = book(session, setup, setup.at(10), setup.at(8), name="Ольга Ранняя")
    login(client, desk_user(session, setup))
    html = client.get(desk_url(setup)).get_data(as_text=True)
    assert re.findall(r'id="visit-([A-Z0-9]+)" data-state="(\w+)"', html) == [(early.code, "expected"),
                                                                             (late.code, "expected")]
    assert "Ольга Ранняя" in html and 'id="desk-table"' in html and "/static/css/desk.css" in html
    stylesheet = client.get("/static/css/desk.css")
    assert "@media print" in stylesheet.get_data(as_text=True)  # the printed day list is the table alone
    stylesheet.close()
    table = client.get(desk_url(setup, "/table")).get_data(as_text=True)
    assert table.lstrip().startswith('<div id="desk-table"') and early.code in table


def test_check_in_by_code_from_the_desk_page(client: Any, session: Any, setup: ReceptionSetup, clock: Any) -> None:
    visitor = book(session, setup, setup.at(10), setup.at(8))
    login(client, desk_user(session, setup))
    code = f"{visitor.code[:4].lower()}-{visitor.code[4:]}"
    response = post(client, desk_url(setup, "/check-in"), {"code": code}, desk_url(setup))
    assert response.status_code == 302
    session.refresh(visitor)
    assert (visitor.status, visitor.queue_number) == (BookingStatus.CHECKED_IN, 1)
    again = post(client, desk_url(setup, "/check-in"), {"code": visitor.code}, desk_url(setup))
    assert again.status_code == 409
    assert 'id="code-error"' in again.get_data(as_text=True)


def test_a_booking_for_another_day_gets_a_clear_refusal(client: Any, session: Any, setup: ReceptionSetup,
                                                        clock: Any) -> None:
    visitor = book(session, setup, setup.at(10), setup.at(8))
    clock.set(setup.at(9, 50) + timedelta(days=1))
    login(client, desk_user(session, setup))
    response = post(client, desk_url(setup, "/check-in"), {"code": visitor.code}, desk_url(setup))
    assert response.status_code == 409
    assert setup.at(10).strftime("%d.%m.%Y") in response.get_data(as_text=True)


def test_a_walk_in_is_registered_with_a_queue_number(client: Any, session: Any, setup: ReceptionSetup,
                                                     clock: Any) -> None:
    login(client, desk_user(session, setup))
    data = {"name": "Иван Петров", "phone": "+7 912 000-11-22", "topic": str(setup.topic.id)}
    assert post(client, desk_url(setup, "/walk-in"), data, desk_url(setup)).status_code == 302
    walk_in = session.scalar(select(Booking).where(Booking.is_walk_in.is_(True)))
    assert walk_in is not None and walk_in.queue_number == 1 and walk_in.location_id == setup.location.id
    bad = post(client, desk_url(setup, "/walk-in"), {**data, "phone": "12"}, desk_url(setup))
    assert bad.status_code == 422 and 'id="phone-error"' in bad.get_data(as_text=True)


def test_the_expert_calls_starts_and_completes_and_the_lobby_shows_only_the_number(
        client: Any, session: Any, setup: ReceptionSetup, clock: Any) -> None:
    visitor = book(session, setup, setup.at(10), setup.at(8), name="Ольга Тайная")
    login(client, desk_user(session, setup))
    post(client, desk_url(setup, "/check-in"), {"code": visitor.code}, desk_url(setup))
    client.post("/staff/logout", data={"csrf_token": csrf_token(client, "/staff/")})

    login(client, setup.experts[0].user)
    queue = client.get("/staff/reception/expert").get_data(as_text=True)
    assert f'id="queue-{visitor.code}"' in queue
    call = post(client, f"/staff/reception/expert/{setup.location.id}/call", {"window": "Окно 3"},
                "/staff/reception/expert")
    assert call.status_code == 302
    session.refresh(visitor)
    assert (visitor.call_window, visitor.called_at) == ("Окно 3", clock.now)

    lobby = client.get(f"/lobby/{setup.location.slug}").get_data(as_text=True)
    assert f'data-number="{visitor.queue_number}" data-window="Окно 3"' in lobby
    assert "Ольга" not in lobby and visitor.code not in lobby and visitor.citizen_phone not in lobby
    assert 'http-equiv="refresh"' in lobby

    base = f"/staff/reception/expert/bookings/{visitor.code}"
    assert post(client, f"{base}/start", {}, "/staff/reception/expert").status_code == 302
    assert post(client, f"{base}/complete", {"outcome": "resolved"}, "/staff/reception/expert").status_code == 302
    session.refresh(visitor)
    assert visitor.status == BookingStatus.COMPLETED and visitor.started_at is not None


def test_an_expert_cannot_act_on_a_colleagues_visitor(client: Any, session: Any, setup: ReceptionSetup,
                                                      clock: Any) -> None:
    visitor = book(session, setup, setup.at(10), setup.at(8), expert=setup.experts[1])
    login(client, setup.experts[0].user)
    response = post(client, f"/staff/reception/expert/bookings/{visitor.code}/no-show", {}, "/staff/reception/expert")
    assert response.status_code == 403


def test_an_expert_off_duty_cannot_call_at_the_location(client: Any, session: Any, setup: ReceptionSetup,
                                                        clock: Any) -> None:
    other = reception_setup(session, setup.day)
    login(client, other.experts[0].user)
    page = client.get("/staff/reception/expert").get_data(as_text=True)
    assert f'id="duty-{other.location.slug}"' in page and f'id="duty-{setup.location.slug}"' not in page
    response = post(client, f"/staff/reception/expert/{setup.location.id}/call", {"window": "1"},
                    "/staff/reception/expert")
    assert response.status_code == 403


def test_the_desk_marks_a_no_show_and_a_waiting_visitor_who_left(client: Any, session: Any, setup: ReceptionSetup,
                                                                 clock: Any) -> None:
    visitor = book(session, setup, setup.at(10), setup.at(8))
    entry = WaitingEntry(location_id=setup.location.id, topic_id=setup.topic.id, day=setup.day, queue_number=5,
                         visitor_name="Гость", visitor_phone="+79120001122", registered_at=setup.at(9, 30))
    session.add(entry)
    session.flush()
    clock.set(setup.at(10, 5))
    login(client, desk_user(session, setup))
    assert post(client, desk_url(setup, f"/bookings/{visitor.code}/no-show"), {}, desk_url(setup)).status_code == 302
    assert post(client, desk_url(setup, f"/waiting/{entry.id}/left"), {}, desk_url(setup)).status_code == 302
    session.refresh(visitor)
    session.refresh(entry)
    assert (visitor.status, entry.status.value) == (BookingStatus.NO_SHOW, "left")


def test_the_lobby_of_an_unknown_office_is_not_found(client: Any) -> None:
    assert client.get("/lobby/no-such-office").status_code == 404


def test_the_qr_code_holds_only_the_booking_code_as_a_regular_qr_code(app: Any) -> None:
    import segno

    from booking.reception.views import qr_svg

    svg = str(qr_svg("ABCD2345"))
    assert svg.startswith("<svg") and "ABCD-2345" in svg
    regular = segno.make_qr("ABCD-2345", error="m")
    assert not regular.is_micro  # what phone cameras and desk scanners read (a Micro QR fitted this code)
    assert segno.make("ABCD-2345", error="m").is_micro
    assert regular.svg_inline(scale=4, title="ABCD-2345") == svg
