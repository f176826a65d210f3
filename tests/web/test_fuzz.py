"""A bounded, deterministic fuzz of the public API and the citizen's booking form: never a 5xx."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from booking.apikeys import create_key
from scheduler.audit import Actor
from tests.factories import add_weekly, make_department, make_expert, make_topic
from tests.helpers import CSRF_RE

TOPIC = "fuzz-topic"

FUZZ = settings(max_examples=60, derandomize=True, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# Values that broke the service before, mixed with anything at all: calendar ends, ids beyond PostgreSQL's
# integer, NUL and other control characters the database refuses in text.
EDGE_TEXT = st.sampled_from([TOPIC, "video", "in_person", "phone", "", " ", "A\x00", "\x00", "\n", "2030-01-07",
                             "2030-01-08", "9999-12-31", "0001-01-01", "2030-02-30", "2147483648", "0", "-1",
                             "99999999999999999999", "1e3", "٣", "2030-01-07T10:00:00+03:00",
                             "9999-12-31T23:59:59+14:00", "0001-01-01T00:00:00-12:00", "2030-01-07T10:00:00"])
TEXT = EDGE_TEXT | st.text(max_size=12)
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([2**31, 2**31 - 1, 2**63, -1, 0]) | st.floats(allow_nan=False, allow_infinity=False) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)
CITIZEN = st.fixed_dictionaries({}, optional={
    "name": JSON_VALUE, "email": st.sampled_from(["a@example.org", "a\x00@example.org"]) | JSON_VALUE,
    "phone": st.sampled_from(["+7 900 000-00-00", "\x00"]) | JSON_VALUE,
    "applicant_type": st.sampled_from(["individual", "legal_entity"]) | JSON_VALUE,
    "organisation": JSON_VALUE, "inn": JSON_VALUE,
})
def next_monday_at_ten() -> str:
    """A start a topic with free weekday times offers: next week's Monday, 10:00 in Moscow."""
    today = datetime.now(UTC).date()
    monday = today + timedelta(days=7 - today.weekday())
    return datetime.combine(monday, time(10), tzinfo=timezone(timedelta(hours=3))).isoformat()


VALID_BOOKING = {"topic": TOPIC, "channel": "video", "start": next_monday_at_ten(),
                 "citizen": {"name": "Anna Petrova", "email": "anna@example.org", "phone": "+7 900 000-00-00",
                             "applicant_type": "individual"},
                 "question": "How do I connect a new house to the gas network?", "consent_personal_data": True}
# A valid booking with a field or two spoilt reaches the rules behind validation; wholly random bodies do not.
SPOILT_BOOKING = st.dictionaries(st.sampled_from([*sorted(VALID_BOOKING), "expert", "location"]), JSON_VALUE,
                                 max_size=2).map(lambda spoilt: VALID_BOOKING | spoilt)
BOOKING = SPOILT_BOOKING | st.fixed_dictionaries({}, optional={
    "topic": TEXT | JSON_VALUE, "channel": TEXT | JSON_VALUE, "start": TEXT | JSON_VALUE, "expert": JSON_VALUE,
    "location": JSON_VALUE, "citizen": CITIZEN | JSON_VALUE, "question": TEXT | JSON_VALUE,
    "consent_personal_data": st.just(True) | JSON_VALUE,
})
@st.composite
def slots_query(draw: st.DrawFn) -> dict[str, str]:
    """Mostly a query that gets past the first checks (a known topic, a short range), so the search itself runs."""
    first = draw(st.sampled_from([date.min, date.max]) | st.dates(date(2000, 1, 1), date(2100, 12, 31)) | st.dates())
    span = timedelta(days=draw(st.integers(min_value=-1, max_value=40)))
    last = first + span if date.min + abs(span) <= first <= date.max - abs(span) else first

    def one_in_four_spoilt(value: str) -> str:
        return draw(TEXT) if draw(st.integers(0, 3)) == 0 else value

    topic = draw(st.sampled_from([TOPIC, TOPIC, TOPIC, "A\x00"]))  # PostgreSQL refuses NUL in text it compares
    query = {"topic": one_in_four_spoilt(topic), "channel": one_in_four_spoilt("video"),
             "from": one_in_four_spoilt(first.isoformat()), "to": one_in_four_spoilt(last.isoformat())}
    extra = st.fixed_dictionaries({}, optional={"expert": st.integers(min_value=-1, max_value=2**64).map(str) | TEXT,
                                                "\x00": TEXT})
    return query | draw(extra)


@pytest.fixture
def partner(session: Any) -> dict[str, str]:
    """A topic with free times, and a partner key: an anonymous booking would stop at 401 before any check."""
    department = make_department(session, slug="fuzz-dept")
    add_weekly(session, make_expert(session, department, [make_topic(session, department, slug=TOPIC)]))
    _row, key = create_key(session, "Portal", Actor.system("test"))
    return {"Authorization": f"Bearer {key}"}


@FUZZ
@given(query=slots_query())
@example(query={"topic": TOPIC, "channel": "video", "from": "9999-12-31", "to": "9999-12-31"})  # broke before
@example(query={"topic": TOPIC, "channel": "video", "from": "0001-01-01", "to": "0001-01-02"})
@example(query={"topic": "A\x00", "channel": "video", "from": "2030-01-07", "to": "2030-01-08"})
@example(query={"topic": TOPIC, "channel": "video", "from": "2030-01-07", "to": "2030-01-08", "expert": str(2**31)})
def test_slots_never_answer_5xx(client: Any, partner: dict[str, str], query: dict[str, str]) -> None:
    response = client.get(f"/api/v1/slots?{urlencode(query)}")
    assert response.status_code < 500, (query, response.get_data(as_text=True)[:300])


@FUZZ
@given(body=BOOKING | JSON_VALUE)
def test_bookings_never_answer_5xx(client: Any, partner: dict[str, str], body: Any) -> None:
    response = client.post("/api/v1/bookings", data=json.dumps(body), content_type="application/json",
                           headers=partner)
    assert response.status_code != 401
    assert response.status_code < 500, (body, response.get_data(as_text=True)[:300])


START = next_monday_at_ten()
FILLED = {"channel": "video", "start": START, "expert": "", "location": "", "step": "book",
          "name": "Anna Petrova", "email": "anna@example.org", "phone": "+7 900 000-00-00",
          "applicant_type": "individual", "organisation": "", "inn": "",
          "question": "How do I connect a new house to the gas network?", "consent": "y"}
# A filled form with a few fields spoilt reaches the booking rules; the hidden fields carry the chosen slot.
SPOILT_FORM = st.dictionaries(st.sampled_from(sorted(FILLED)), TEXT, max_size=3).map(lambda spoilt: FILLED | spoilt)


@FUZZ
@given(form=SPOILT_FORM)
@example(form=FILLED | {"name": "A\x00", "question": "\x00" * 40})
@example(form=FILLED | {"expert": str(2**31), "location": str(2**31)})
@example(form=FILLED | {"start": "9999-12-31T23:59:59+14:00"})
def test_the_booking_form_never_answers_5xx(client: Any, partner: dict[str, str], form: dict[str, str]) -> None:
    page = client.get(f"/book/{TOPIC}?channel=video&start={quote(START)}").get_data(as_text=True)
    token = CSRF_RE.search(page)
    assert token, "the details page has no form"
    response = client.post(f"/book/{TOPIC}", data=form | {"csrf_token": token.group(1)})
    assert response.status_code < 500, (form, response.get_data(as_text=True)[:300])


@pytest.mark.parametrize("field", ["expert", "location"])
def test_an_id_beyond_any_record_is_no_choice(client: Any, partner: dict[str, str], field: str) -> None:
    assert client.get(f"/book/{TOPIC}?channel=video&start={quote(START)}&{field}={2**31}").status_code == 200
