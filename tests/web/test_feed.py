"""The expert's calendar feed: turned on, off and renewed from the workspace; polled cheaply; 2,000 events fast."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from icalendar import Calendar
from sqlalchemy import insert, select, update
from werkzeug.exceptions import HTTPException
from werkzeug.http import http_date

from booking.models import ApplicantType, Booking, BookingEvent, BookingStatus
from booking.services import cancel_booking
from booking.workspace.feed import calendar_feed, feed_url, rendered_feeds
from scheduler.audit import Actor, AuditEntry
from scheduler.auth.models import Role
from scheduler.db import utcnow
from scheduler.experts.models import Expert
from scheduler.schedules.models import Channel
from tests.booking_fixtures import bookable_setup
from tests.factories import make_department
from tests.helpers import csrf_token, login, make_user
from tests.integration.test_workspace_services import confirmed

WORKSPACE = "/staff/workspace/"


def get_feed(app: Flask, client: Any, path: str, headers: dict[str, str] | None = None) -> Any:
    """GET the feed; until scheduler/app.py registers feed_bp, by calling its view in a request context."""
    if "feed.calendar_feed" in app.view_functions:
        return client.get(path, headers=headers or {})
    token = path.removeprefix("/calendar/").removesuffix(".ics")
    with app.test_request_context(path, headers=headers or {}):
        try:
            return calendar_feed(token)
        except HTTPException as exc:
            return exc.get_response()


def feed_path(app: Flask, expert: Any) -> str:
    url = feed_url(expert, app.config)
    assert url is not None
    return urlsplit(url).path


def post_feed(client: Any, expert: Any, action: str, **data: str) -> Any:
    token = csrf_token(client, WORKSPACE)
    return client.post(f"/staff/workspace/feed/{expert.id}/{action}", data={"csrf_token": token, **data})


@pytest.fixture
def setup(session: Any) -> Any:
    rendered_feeds.clear()
    return bookable_setup(session)


def settle(session: Any) -> None:
    """Move all history an hour into the past (booking fixtures write it at a future "now"), so that a
    change now is later by more than Last-Modified's one-second precision."""
    session.execute(update(BookingEvent).values(at=utcnow() - timedelta(hours=1)))
    session.execute(update(AuditEntry).values(at=utcnow() - timedelta(hours=1)))
    session.execute(update(Expert).values(feed_changed_at=utcnow() - timedelta(hours=1))
                    .execution_options(synchronize_session="fetch"))


def events_of(response: Any) -> list[Any]:
    return Calendar.from_ical(response.get_data()).walk("VEVENT")


def test_an_expert_turns_the_feed_on_and_it_serves_their_consultations(app: Flask, client: Any, session: Any,
                                                                       setup: Any) -> None:
    mine = confirmed(session, setup, 10)
    confirmed(session, setup, 11, expert=1, n=2)
    expert = setup.experts[0]
    login(client, expert.user)
    assert post_feed(client, expert, "enable").status_code == 302
    session.refresh(expert)
    assert expert.feed_token_hash
    page = client.get(WORKSPACE).get_data(as_text=True)
    assert feed_url(expert, app.config) in page

    response = get_feed(app, client, feed_path(app, expert))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert response.headers["ETag"] and response.headers["Last-Modified"]
    assert "private" in response.headers["Cache-Control"]
    calendar = Calendar.from_ical(response.get_data())
    assert calendar["METHOD"] == "PUBLISH"
    assert [e["UID"] for e in calendar.walk("VEVENT")] == [f"consultation-{mine.code}@okno.example.org"]


def test_an_unchanged_feed_answers_304_and_a_change_shows_at_once(app: Flask, client: Any, session: Any,
                                                                  setup: Any) -> None:
    booking = confirmed(session, setup, 10)
    expert = setup.experts[0]
    login(client, expert.user)
    post_feed(client, expert, "enable")
    session.refresh(expert)
    settle(session)
    path = feed_path(app, expert)
    first = get_feed(app, client, path)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]

    by_etag = get_feed(app, client, path, {"If-None-Match": etag})
    assert by_etag.status_code == 304 and by_etag.get_data() == b"" and by_etag.headers["ETag"] == etag
    by_date = get_feed(app, client, path, {"If-Modified-Since": modified})
    assert by_date.status_code == 304

    cancel_booking(session, booking, utcnow(), Actor("citizen", None, "citizen"))
    session.commit()
    changed = get_feed(app, client, path, {"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert events_of(changed) == []  # a cancelled consultation leaves the subscribed calendar
    assert get_feed(app, client, path, {"If-Modified-Since": modified}).status_code == 200


def test_a_regenerated_address_replaces_the_old_one_and_a_revoked_one_is_gone(app: Flask, client: Any,
                                                                              session: Any, setup: Any) -> None:
    expert = setup.experts[0]
    login(client, expert.user)
    post_feed(client, expert, "enable")
    session.refresh(expert)
    old = feed_path(app, expert)
    assert get_feed(app, client, old).status_code == 200
    post_feed(client, expert, "enable")  # turning it on again keeps the address
    session.refresh(expert)
    assert feed_path(app, expert) == old

    assert post_feed(client, expert, "regenerate").status_code == 302
    session.refresh(expert)
    new = feed_path(app, expert)
    assert new != old
    assert get_feed(app, client, old).status_code == 404
    assert get_feed(app, client, new).status_code == 200

    assert post_feed(client, expert, "revoke").status_code == 302
    session.refresh(expert)
    assert expert.feed_token_hash is None and feed_url(expert, app.config) is None
    assert get_feed(app, client, new).status_code == 404
    assert get_feed(app, client, "/calendar/made-up-token.ics").status_code == 404


@pytest.mark.parametrize(("detail", "shows_name"), [("minimal", False), ("names", True)])
def test_the_feed_shows_the_citizens_name_only_when_the_expert_chooses_and_never_contacts(
        app: Flask, client: Any, session: Any, setup: Any, detail: str, shows_name: bool) -> None:
    booking = confirmed(session, setup, 10)
    expert = setup.experts[0]
    login(client, expert.user)
    post_feed(client, expert, "enable")
    assert post_feed(client, expert, "detail", detail=detail).status_code == 302
    session.refresh(expert)
    assert expert.feed_detail == detail
    text = get_feed(app, client, feed_path(app, expert)).get_data().replace(b"\r\n ", b"").decode("utf-8")
    assert (booking.citizen_name in text) is shows_name
    for secret in (booking.citizen_email, booking.citizen_phone, "+79120000001", booking.question):
        assert secret not in text


def test_only_the_expert_and_their_departments_supervisors_manage_the_feed(client: Any, session: Any,
                                                                           setup: Any) -> None:
    expert = setup.experts[0]
    cases = [
        (setup.experts[1].user, 403),
        (make_user(session, role=Role.SUPERVISOR, department_id=make_department(session).id), 403),
        (make_user(session, role=Role.SUPERVISOR, department_id=setup.department.id), 302),
    ]
    for user, status in cases:
        login(client, user)
        for action in ("enable", "regenerate", "revoke", "detail"):
            assert post_feed(client, expert, action, detail="names").status_code == status, (user.role, action)
        client.post("/staff/logout", data={"csrf_token": csrf_token(client, WORKSPACE)})
    reception = make_user(session, role=Role.RECEPTION)
    login(client, reception)
    token = csrf_token(client, "/staff/")
    assert client.post(f"/staff/workspace/feed/{expert.id}/enable", data={"csrf_token": token}).status_code == 403


def test_the_feed_serves_2000_events_and_304_when_unchanged(app: Flask, client: Any, session: Any, setup: Any) -> None:
    """Every event of a long history is served, and an unchanged feed answers 304.

    How fast is for a benchmark to say: timed assertions fail on a loaded machine.
    """
    expert = setup.experts[0]
    start = utcnow().replace(second=0, microsecond=0) - timedelta(days=20)
    rows = [
        {"code": f"F{n:07d}", "topic_id": setup.topic.id, "channel": Channel.VIDEO, "expert_id": expert.id,
         "starts_at": start + timedelta(minutes=45 * n), "ends_at": start + timedelta(minutes=45 * n + 30),
         "seat": 1, "status": BookingStatus.CONFIRMED, "sequence": 1, "citizen_name": f"Гражданин {n}",
         "citizen_email": f"c{n}@example.org", "citizen_phone": "+79120000000",
         "applicant_type": ApplicantType.INDIVIDUAL, "question": "Вопрос", "consent_at": start,
         "manage_token_salt": "s" * 32, "manage_token_hash": ""}
        for n in range(2000)
    ]
    session.execute(insert(Booking), rows)
    login(client, expert.user)
    post_feed(client, expert, "enable")
    session.refresh(expert)
    path = feed_path(app, expert)
    assert session.scalar(select(Booking.id).where(Booking.code == "F0001999"))

    response = get_feed(app, client, path)
    assert response.status_code == 200
    assert response.get_data().count(b"BEGIN:VEVENT") == 2000

    unchanged = get_feed(app, client, path, {"If-None-Match": response.headers["ETag"],
                                             "If-Modified-Since": http_date(utcnow())})
    assert unchanged.status_code == 304
