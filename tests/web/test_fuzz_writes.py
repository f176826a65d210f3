"""A bounded, deterministic fuzz of what writes: the partner API's POSTs and the staff forms; never a 5xx.

The strategies and settings are test_fuzz's (60 examples each, derandomised). Bodies, headers
(an Idempotency-Key among them), booking codes and tokens are random or spoilt valid ones, so
the requests get past authentication and reach the rules.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from booking.apikeys import create_key
from scheduler.audit import Actor
from scheduler.auth.models import Role
from scheduler.inputs import has_control_characters
from tests.booking_fixtures import bookable_setup
from tests.helpers import csrf_token, login, make_user
from tests.ticket_fixtures import completed_booking
from tests.web.test_api_bookings import booking_body
from tests.web.test_fuzz import EDGE_TEXT, FUZZ, JSON_VALUE, TEXT

# Header values as a client can send them: latin-1 without line breaks (anything else never leaves the client).
HEADER_TEXT = EDGE_TEXT.filter(lambda s: "\x00" not in s and "\n" not in s and s.isascii()) | st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=300)
HEADERS = st.fixed_dictionaries({}, optional={
    "Idempotency-Key": HEADER_TEXT | st.sampled_from(['"a"', '"a\\"b"', '"\\x"', "k" * 256, "a, b", '""']),
    "Content-Type": st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded",
                                     "application/json; charset=latin-1", "multipart/form-data"]),
    "Accept-Language": st.sampled_from(["en", "ru", "*", "xx;q=abc"]) | HEADER_TEXT,
})
BODY = JSON_VALUE.map(json.dumps) | st.binary(max_size=40).map(lambda raw: raw.decode("latin-1")) | st.just("")


@pytest.fixture
def partner(client: Any, session: Any) -> dict[str, Any]:
    """A partner key, a confirmed booking it made (to cancel, reschedule) and a completed one (for follow-ups)."""
    setup = bookable_setup(session)
    row, key = create_key(session, "Portal", Actor.system("test"))
    auth = {"Authorization": f"Bearer {key}"}
    held = completed_booking(session, setup, partner_key_id=row.id)
    confirmed = client.post("/api/v1/bookings", json=booking_body(setup, 12), headers=auth).get_json()
    return {"setup": setup, "codes": [held.code, confirmed["code"]], "auth": auth}


@st.composite
def booking_code(draw: st.DrawFn, real: list[str]) -> str:
    code = draw(st.sampled_from(real))
    if draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(["NOSUCHCD", code + "X"]) | TEXT.filter(bool))
    return draw(st.sampled_from([code, code.lower(), f"{code[:4]}-{code[4:]}"]))


RESCHEDULE = st.fixed_dictionaries({"start": TEXT | JSON_VALUE},
                                   optional={"expert": st.sampled_from([1, 2, 2**31]) | JSON_VALUE,
                                             "location": JSON_VALUE})
FOLLOWUP = st.fixed_dictionaries({"summary": st.just("Сообщить, когда придёт мастер") | TEXT | JSON_VALUE},
                                 optional={"department": TEXT | JSON_VALUE})
BODIES = {"cancel": BODY, "reschedule": RESCHEDULE.map(json.dumps) | BODY, "followup": FOLLOWUP.map(json.dumps) | BODY}


@pytest.mark.parametrize("action", ["cancel", "reschedule", "followup"])
@FUZZ
@given(headers=HEADERS, data=st.data())
def test_partner_posts_never_answer_5xx(client: Any, partner: dict[str, Any], action: str, headers: dict[str, str],
                                        data: Any) -> None:
    body = data.draw(BODIES[action])
    if action == "reschedule" and data.draw(st.booleans()):  # a free time of the expert, maybe with a spoilt field
        setup = partner["setup"]
        start = data.draw(st.sampled_from([setup.at(9), setup.at(13, 30), setup.at(10), setup.at(23)]))
        body = json.dumps({"start": start.isoformat()} | data.draw(st.dictionaries(
            st.sampled_from(["expert", "location", "start"]), JSON_VALUE | st.sampled_from([1, 2, 2**31]), max_size=1)))
    code = data.draw(booking_code(partner["codes"]))
    query = data.draw(st.fixed_dictionaries({}, optional={"token": HEADER_TEXT}))
    response = client.post(f"/api/v1/bookings/{quote(code, safe='')}/{action}", data=body,
                           headers=partner["auth"] | headers, query_string=query)
    assert response.status_code < 500, (action, code, body, headers, response.get_data(as_text=True)[:300])


@FUZZ
@given(spoilt=st.dictionaries(st.sampled_from(["topic", "channel", "start", "citizen", "question", "expert"]),
                              JSON_VALUE, max_size=2), headers=HEADERS)
def test_partner_bookings_with_headers_never_answer_5xx(client: Any, partner: dict[str, Any],
                                                        spoilt: dict[str, Any], headers: dict[str, str]) -> None:
    body = booking_body(partner["setup"]) | spoilt
    response = client.post("/api/v1/bookings", data=json.dumps(body), headers=partner["auth"] | headers)
    assert response.status_code < 500, (body, headers, response.get_data(as_text=True)[:300])


# --- staff forms -----------------------------------------------------------------------------------------------

# Control characters stop any form at the door (400, scheduler.inputs): mostly leave them out, to reach the rules.
PLAIN = TEXT.filter(lambda text: not has_control_characters(text))
DAY = st.sampled_from(["2030-01-07", "9999-12-31", "0001-01-01", "2030-02-30", "", "07.01.2030"]) | st.dates(
    date(1, 1, 1), date(9999, 12, 31)).map(date.isoformat) | PLAIN
CLOCK = st.sampled_from(["09:00", "18:00", "23:59", "24:00", "00:00", "9", "09:00:00", "", "25:61"]) | PLAIN
NUMBER = st.sampled_from(["1", "2", "0", "-1", str(2**31), str(2**63), "", "None"]) | PLAIN
FORM_TEXT = PLAIN | st.sampled_from(["x" * 2001, "A\x00B"])


def weekly_form(prefix: str) -> Any:
    row = st.fixed_dictionaries({}, optional={"weekday": NUMBER, "starts": CLOCK, "ends": CLOCK,
                                             "valid_from": DAY, "valid_to": DAY, "location_id": NUMBER})
    rows = st.lists(row, max_size=3)
    return rows.map(lambda lines: {f"{prefix}-rows-{n}-{name}": value for n, line in enumerate(lines)
                                   for name, value in line.items()})


OVERRIDE_FORM = st.fixed_dictionaries({}, optional={
    "kind": st.sampled_from(["absence", "extra", "replace", ""]) | TEXT, "first_day": DAY, "last_day": DAY,
    "channel": st.sampled_from(["", "video", "in_person", "phone"]) | TEXT, "intervals-0-starts": CLOCK,
    "intervals-0-ends": CLOCK, "intervals-1-starts": CLOCK, "intervals-1-ends": CLOCK, "reason": FORM_TEXT})
RECEPTION_FORM = st.fixed_dictionaries({}, optional={
    "title": FORM_TEXT, "location_id": NUMBER, "weekdays": NUMBER, "starts": CLOCK, "ends": CLOCK,
    "valid_from": DAY, "valid_to": DAY, "topics": NUMBER, "experts": NUMBER})
OPEN_TICKET_FORM = st.fixed_dictionaries({}, optional={"summary": FORM_TEXT, "department": FORM_TEXT,
                                                       "assignee": NUMBER})
EXTEND_FORM = st.fixed_dictionaries({}, optional={"due_date": DAY, "reason": FORM_TEXT})
LOGIN_FORM = st.fixed_dictionaries({}, optional={"email": FORM_TEXT | st.just("supervisor1@example.org"),
                                                 "password": FORM_TEXT})


@pytest.fixture
def staff(client: Any, session: Any) -> dict[str, Any]:
    """A supervisor signed in, with an expert of the department, a held consultation and a ticket opened from it."""
    from booking.tickets.services import open_followup
    from tests.factories import make_location
    from tests.ticket_fixtures import CONFIG

    setup = bookable_setup(session)
    make_location(session, setup.department)
    supervisor = make_user(session, role=Role.SUPERVISOR, department_id=setup.department.id)
    held = completed_booking(session, setup)
    second = completed_booking(session, setup, 2, hour=11)
    ticket = open_followup(session, second, summary="Сообщить, когда придёт мастер", actor=Actor.staff(supervisor),
                           now=second.ends_at + timedelta(hours=1), config=CONFIG)
    session.commit()
    login(client, supervisor)
    return {"expert": setup.experts[0].id, "code": held.code, "ticket": ticket.number,
            "csrf": csrf_token(client, "/staff/schedules/reception/new")}


def staff_post(client: Any, path: str, form: dict[str, str], csrf: str) -> Any:
    response = client.post(path, data=form | {"csrf_token": csrf})
    assert response.status_code < 500, (path, form, response.get_data(as_text=True)[:300])
    return response


@pytest.fixture
def someone(session: Any) -> None:
    make_user(session, role=Role.SUPERVISOR, email="supervisor1@example.org")


@FUZZ
@given(form=LOGIN_FORM, next_=st.none() | HEADER_TEXT)
def test_the_sign_in_form_never_answers_5xx(client: Any, someone: None, form: dict[str, str],
                                            next_: str | None) -> None:
    csrf = csrf_token(client, "/staff/login")
    path = "/staff/login" + (f"?next={quote(next_)}" if next_ is not None else "")
    staff_post(client, path, form, csrf)


@pytest.mark.parametrize("channel", ["video", "in_person"])
@FUZZ
@given(data=st.data())
def test_the_weekly_hours_form_never_answers_5xx(client: Any, staff: dict[str, Any], channel: str, data: Any) -> None:
    form = data.draw(weekly_form(channel))
    staff_post(client, f"/staff/schedules/experts/{staff['expert']}/weekly/{channel}", form, staff["csrf"])


@FUZZ
@given(form=OVERRIDE_FORM)
def test_the_date_override_form_never_answers_5xx(client: Any, staff: dict[str, Any], form: dict[str, str]) -> None:
    staff_post(client, f"/staff/schedules/experts/{staff['expert']}/overrides", form, staff["csrf"])


@FUZZ
@given(form=RECEPTION_FORM)
def test_the_reception_day_form_never_answers_5xx(client: Any, staff: dict[str, Any], form: dict[str, str]) -> None:
    staff_post(client, "/staff/schedules/reception/new", form, staff["csrf"])


@FUZZ
@given(form=OPEN_TICKET_FORM)
def test_the_open_ticket_form_never_answers_5xx(client: Any, staff: dict[str, Any], form: dict[str, str]) -> None:
    staff_post(client, f"/staff/tickets/new/{staff['code']}", form, staff["csrf"])


@FUZZ
@given(form=EXTEND_FORM)
@example(form={"due_date": "9999-12-31", "reason": "x"})  # broke before: the calendar ran past the last year
@example(form={"due_date": "0001-01-01", "reason": "x"})
def test_the_extend_form_never_answers_5xx(client: Any, staff: dict[str, Any], form: dict[str, str]) -> None:
    staff_post(client, f"/staff/tickets/{staff['ticket']}/extend", form, staff["csrf"])
