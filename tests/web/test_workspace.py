"""The expert's workspace: day, week and list views, the consultation card, its actions and who may see it."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update

from booking.models import Booking, BookingNote, BookingStatus, Outcome
from scheduler.auth.models import Role
from scheduler.db import utcnow
from tests.booking_fixtures import bookable_setup
from tests.factories import make_department
from tests.helpers import csrf_token, login, make_user
from tests.integration.test_workspace_services import confirmed

WORKSPACE = "/staff/workspace/"


@pytest.fixture
def setup(session: Any) -> Any:
    return bookable_setup(session)


def card(code: str) -> str:
    return f"/staff/workspace/bookings/{code}"


def start_in_past(session: Any, booking: Booking, minutes: int = 5) -> None:
    """Move the consultation so that it began a few minutes ago (actions need a started consultation)."""
    start = utcnow().replace(microsecond=0) - timedelta(minutes=minutes)
    session.execute(update(Booking).where(Booking.id == booking.id)
                    .values(starts_at=start, ends_at=start + timedelta(minutes=30)))
    session.commit()
    session.refresh(booking)


def booking_ids(html: str) -> list[str]:
    return re.findall(r'id="booking-([A-Z0-9]+)"', html)


def test_the_day_shows_the_experts_own_consultations_in_order(client: Any, session: Any, setup: Any) -> None:
    late = confirmed(session, setup, 11, n=1)
    early = confirmed(session, setup, 9, 30, n=2)
    colleague = confirmed(session, setup, 10, expert=1, n=3)
    login(client, setup.experts[0].user)
    page = client.get(WORKSPACE, query_string={"date": setup.day.isoformat()})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert booking_ids(html) == [early.code, late.code]
    assert colleague.code not in html
    assert early.citizen_name in html and early.question in html
    assert 'data-view="day"' in html and 'id="prev-link"' in html and 'id="next-link"' in html
    other_day = client.get(WORKSPACE, query_string={"date": (setup.day + timedelta(days=1)).isoformat()})
    assert booking_ids(other_day.get_data(as_text=True)) == []


@pytest.mark.parametrize("view", ["week", "list"])
def test_week_and_phone_list_views_cover_the_days_around_the_date(client: Any, session: Any, setup: Any,
                                                                  view: str) -> None:
    booking = confirmed(session, setup, 10)
    login(client, setup.experts[0].user)
    html = client.get(WORKSPACE, query_string={"date": setup.day.isoformat(), "view": view}).get_data(as_text=True)
    assert f'data-view="{view}"' in html and booking_ids(html) == [booking.code]
    assert html.count('<h2 id="day-') == 7
    first = setup.day - timedelta(days=setup.day.weekday()) if view == "week" else setup.day
    assert f'data-first="{first.isoformat()}"' in html


def test_bad_dates_and_views_are_refused_plainly(client: Any, session: Any, setup: Any) -> None:
    login(client, setup.experts[0].user)
    assert client.get(WORKSPACE, query_string={"date": "2026-13-40"}).status_code == 400
    assert client.get(WORKSPACE, query_string={"view": "year"}).status_code == 400
    assert client.get(WORKSPACE, query_string={"expert": "x"}).status_code == 400
    assert client.get(WORKSPACE, query_string={"expert": "999999"}).status_code == 404


def test_a_supervisor_picks_any_expert_of_their_department_and_no_other(client: Any, session: Any,
                                                                        setup: Any) -> None:
    booking = confirmed(session, setup, 10, expert=1)
    supervisor = make_user(session, role=Role.SUPERVISOR, department_id=setup.department.id)
    login(client, supervisor)
    html = client.get(WORKSPACE, query_string={"date": setup.day.isoformat(),
                                               "expert": setup.experts[1].id}).get_data(as_text=True)
    assert 'id="expert-select"' in html and booking_ids(html) == [booking.code]
    supervisor_card = client.get(card(booking.code)).get_data(as_text=True)
    assert booking.citizen_email in supervisor_card
    assert 'id="video-join"' not in supervisor_card  # the room is the assigned expert's to run

    outsider = make_user(session, role=Role.SUPERVISOR, department_id=make_department(session).id)
    client.post("/staff/logout", data={"csrf_token": csrf_token(client, WORKSPACE)})
    login(client, outsider)
    assert client.get(WORKSPACE, query_string={"expert": setup.experts[1].id}).status_code == 403
    assert client.get(card(booking.code)).status_code == 403


def test_an_expert_cannot_open_a_colleagues_calendar_or_consultation(client: Any, session: Any, setup: Any) -> None:
    booking = confirmed(session, setup, 10, expert=1)
    login(client, setup.experts[0].user)
    assert client.get(WORKSPACE, query_string={"expert": setup.experts[1].id}).status_code == 403
    assert client.get(card(booking.code)).status_code == 403
    token = csrf_token(client, WORKSPACE)
    for action in ("no-show", "complete", "notes"):
        response = client.post(f"{card(booking.code)}/{action}",
                               data={"csrf_token": token, "outcome": "resolved", "text": "x"})
        assert response.status_code == 403, action
    assert client.get(card("NOSUCH22")).status_code == 404


def test_reception_staff_get_no_workspace(client: Any, session: Any, setup: Any) -> None:
    booking = confirmed(session, setup, 10)
    login(client, make_user(session, role=Role.RECEPTION))
    assert client.get(WORKSPACE).status_code == 403
    assert client.get(card(booking.code)).status_code == 403


def test_the_card_shows_question_and_contacts_and_offers_actions_only_after_the_start(
        app: Flask, client: Any, session: Any, setup: Any) -> None:
    booking = confirmed(session, setup, 10)
    login(client, setup.experts[0].user)
    html = client.get(card(booking.code)).get_data(as_text=True)
    assert booking.question in html and booking.citizen_email in html and booking.citizen_phone in html
    assert 'id="no-show-form"' not in html and 'id="complete-form"' not in html
    assert 'id="note-form"' in html
    assert ('id="video-join"' in html) is ("video.expert_join" in app.view_functions)

    start_in_past(session, booking)
    html = client.get(card(booking.code)).get_data(as_text=True)
    assert 'id="no-show-form"' in html and 'id="complete-form"' in html


def test_marking_a_no_show_before_the_start_is_refused_and_after_it_recorded(client: Any, session: Any,
                                                                             setup: Any) -> None:
    booking = confirmed(session, setup, 10)
    login(client, setup.experts[0].user)
    token = csrf_token(client, card(booking.code))
    early = client.post(f"{card(booking.code)}/no-show", data={"csrf_token": token})
    assert early.status_code == 302
    session.refresh(booking)
    assert booking.status == BookingStatus.CONFIRMED

    start_in_past(session, booking)
    assert client.post(f"{card(booking.code)}/no-show", data={"csrf_token": token}).status_code == 302
    session.refresh(booking)
    assert booking.status == BookingStatus.NO_SHOW and booking.no_show_at is not None
    assert 'data-status="no_show"' in client.get(card(booking.code)).get_data(as_text=True)


def test_completing_with_needs_followup_records_the_outcome_and_links_the_ticket_form(
        app: Flask, client: Any, session: Any, setup: Any) -> None:
    booking = confirmed(session, setup, 10)
    start_in_past(session, booking)
    login(client, setup.experts[0].user)
    token = csrf_token(client, card(booking.code))
    missing = client.post(f"{card(booking.code)}/complete", data={"csrf_token": token})
    assert missing.status_code == 422
    response = client.post(f"{card(booking.code)}/complete",
                           data={"csrf_token": token, "outcome": "needs_followup", "note": "Нужен ответ ГРО"})
    assert response.status_code == 302
    session.refresh(booking)
    assert booking.status == BookingStatus.COMPLETED and booking.outcome == Outcome.NEEDS_FOLLOWUP
    assert booking.outcome_note == "Нужен ответ ГРО"
    html = client.get(card(booking.code)).get_data(as_text=True)
    assert 'data-outcome="needs_followup"' in html
    assert ('id="followup-link"' in html) is ("tickets.open_from_booking" in app.view_functions)
    assert 'id="complete-form"' not in html


def test_private_notes_are_added_and_listed(client: Any, session: Any, setup: Any) -> None:
    booking = confirmed(session, setup, 10)
    supervisor = make_user(session, role=Role.SUPERVISOR, department_id=setup.department.id)
    login(client, supervisor)
    token = csrf_token(client, card(booking.code))
    assert client.post(f"{card(booking.code)}/notes", data={"csrf_token": token, "text": "  "}).status_code == 422
    assert client.post(f"{card(booking.code)}/notes",
                       data={"csrf_token": token, "text": "Перезвонить <b>завтра</b>"}).status_code == 302
    note = session.scalars(select(BookingNote)).one()
    assert note.author_id == supervisor.id
    html = client.get(card(booking.code)).get_data(as_text=True)
    assert f'id="note-{note.id}"' in html and "Перезвонить &lt;b&gt;завтра&lt;/b&gt;" in html


def test_actions_need_a_csrf_token(client: Any, session: Any, setup: Any) -> None:
    booking = confirmed(session, setup, 10)
    start_in_past(session, booking)
    login(client, setup.experts[0].user)
    assert client.post(f"{card(booking.code)}/no-show").status_code == 400
    session.refresh(booking)
    assert booking.status == BookingStatus.CONFIRMED
