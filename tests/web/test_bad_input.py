"""Bad input from a client answers 4xx, never 500: calendar-end dates, NUL bytes in paths, ids beyond 2^31.

PostgreSQL refuses NUL in text and integers beyond 2^31 - 1 with errors of its own, so this table matters most
when the suite runs there (``OKNO_TEST_DATABASE_URL``).
"""

from __future__ import annotations

from typing import Any

import pytest

from booking.apikeys import create_key
from scheduler.audit import Actor
from scheduler.auth.models import Role
from tests.factories import add_weekly, make_department, make_expert, make_location, make_topic
from tests.helpers import login, make_user

TOPIC = "bad-input-topic"
OFFICE = "bad-input-office"
BEYOND_INT = 2**31
START = "2030-01-07T10:00:00%2B03:00"


@pytest.fixture
def staff_and_partner(client: Any, session: Any) -> dict[str, str]:
    """Signed in as an admin (every staff page) and carrying a partner key (the stats API)."""
    department = make_department(session, slug="bad-input-dept")
    topic = make_topic(session, department, slug=TOPIC)
    make_location(session, department, slug=OFFICE)
    add_weekly(session, make_expert(session, department, [topic]))
    login(client, make_user(session, role=Role.ADMIN))
    _row, key = create_key(session, "Portal", Actor.system("test"))
    return {"Authorization": f"Bearer {key}"}


def far_dates(path: str, status: int) -> list[tuple[str, int]]:
    return [(path.format(t=TOPIC, o=OFFICE, d=day), status) for day in ("9999-12-31", "0001-01-01")]


DATES = [
    *far_dates("/topics/{t}?from={d}", 200),  # an unreadable first day shows from today, as any unreadable one
    *far_dates("/api/v1/slots?topic={t}&channel=video&from={d}&to={d}", 422),
    *far_dates("/api/v1/slots?topic={t}&channel=video&from=2030-01-07&to={d}", 422),
    *far_dates("/staff/workspace/?date={d}", 400),
    *far_dates("/staff/reception/{o}?date={d}", 400),
    *far_dates("/staff/analytics/?from={d}", 400),
    *far_dates("/staff/analytics/?to={d}", 400),
    *far_dates("/staff/analytics/?from={d}&to={d}", 400),
    *far_dates("/staff/analytics/summary.csv?from={d}&to={d}", 400),
    *far_dates("/staff/analytics/summary.xlsx?from={d}&to={d}", 400),
    *far_dates("/api/v1/stats?from={d}&to={d}", 422),
    *far_dates("/api/v1/stats?to={d}", 422),
    *far_dates("/staff/tickets/rating?from={d}&to={d}", 400),
    *far_dates("/staff/tickets/rating?to={d}", 400),
    *far_dates("/staff/tickets/rating?from={d}", 400),
]
NUL_SEGMENTS = [(path, 404) for path in (
    "/topics/A%00", "/book/A%00", "/manage/A%00", "/manage/A%00/reschedule", "/me/A%00", "/tickets/A%00",
    "/staff/tickets/A%00", "/staff/tickets/new/A%00", "/staff/reception/A%00", "/staff/reception/A%00/table",
    "/lobby/A%00", "/calendar/A%00.ics", "/staff/workspace/bookings/A%00", "/video/A%00", "/staff/video/A%00",
    "/api/v1/bookings/A%00", "/api/v1/bookings/A%00/invite.ics", "/api/v1/tickets/A%00", "/staff/analytics/A%00.csv",
    "/topics/A%0A", "/tickets/%1F",
)]
IDS = [
    (f"/api/v1/slots?topic={TOPIC}&channel=video&from=2030-01-07&to=2030-01-08&expert={BEYOND_INT}", 422),
    (f"/api/v1/slots?topic={TOPIC}&channel=video&from=2030-01-07&to=2030-01-08&expert=0", 422),
    (f"/staff/schedules/experts/{BEYOND_INT}", 404),
    ("/staff/schedules/experts/0", 404),
    (f"/staff/schedules/reception/{BEYOND_INT}", 404),
    (f"/staff/workspace/?expert={BEYOND_INT}", 400),
]
NUL_QUERIES = [("/api/v1/slots?topic=A%00&channel=video&from=2030-01-07&to=2030-01-08", 422),
               (f"/topics/{TOPIC}?from=%00", 400), ("/staff/tickets/?q=A%00", 400), ("/tickets/T-1?token=%01", 400)]


@pytest.mark.parametrize(("path", "status"), DATES + NUL_SEGMENTS + NUL_QUERIES + IDS)
def test_bad_input_is_refused_with_4xx(client: Any, staff_and_partner: dict[str, str], path: str, status: int) -> None:
    response = client.get(path, headers=staff_and_partner)
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    if path.startswith("/api/"):
        body = response.get_json()
        assert body["error"] == {400: "bad_request", 404: "not_found", 422: "validation"}[status]


@pytest.mark.parametrize("query", ["from=9999-12-31&to=9999-12-31", "from=2030-01-07&to=0001-01-01"])
def test_the_slots_api_names_the_far_date(client: Any, staff_and_partner: dict[str, str], query: str) -> None:
    body = client.get(f"/api/v1/slots?topic={TOPIC}&channel=video&{query}").get_json()
    assert set(body["fields"]) >= {"to"} and "2000-01-01" in body["fields"]["to"]


def test_the_slots_api_names_an_expert_beyond_any_id(client: Any, staff_and_partner: dict[str, str]) -> None:
    path = f"/api/v1/slots?topic={TOPIC}&channel=video&from=2030-01-07&to=2030-01-08&expert={BEYOND_INT}"
    assert set(client.get(path).get_json()["fields"]) == {"expert"}


@pytest.mark.parametrize("field", ["expert", "location"])
def test_the_wizard_takes_an_id_beyond_any_record_as_no_choice(client: Any, staff_and_partner: dict[str, str],
                                                               field: str) -> None:
    response = client.get(f"/book/{TOPIC}?channel=video&start={START}&{field}={BEYOND_INT}")
    assert response.status_code < 500
    assert client.get(f"/book/{TOPIC}?channel=video&start={START}&{field}=").status_code == response.status_code


@pytest.mark.parametrize("path", [f"/staff/schedules/experts/{BEYOND_INT}/overrides",
                                  f"/staff/reception/expert/{BEYOND_INT}/call",
                                  f"/staff/workspace/feed/{BEYOND_INT}/enable"])
def test_posts_to_an_id_beyond_any_record_find_nothing(client: Any, staff_and_partner: dict[str, str],
                                                       path: str) -> None:
    assert client.post(path).status_code == 404
