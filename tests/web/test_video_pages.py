"""Video consultations end to end: rooms on bookings, join pages, tokens, the API's video object, logs."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import jwt
import pytest
from flask import Flask
from sqlalchemy import select

from booking.citizens import validate_citizen
from booking.links import manage_token_for
from booking.models import Booking
from booking.notifications import send_confirmed
from booking.services import BookingPolicy, cancel_booking, confirm_booking, hold_slot, reschedule_booking
from scheduler.audit import Actor
from scheduler.auth.models import Role
from scheduler.mail.compose import read_content
from scheduler.mail.models import OutboxMessage
from tests.booking_fixtures import bookable_setup
from tests.helpers import login, make_user
from tests.unit.video.jwtcheck import clock_at, decode_at, new_rsa_pem, public_key_of
from tests.web.test_openapi import assert_documented

SECRET = "video-secret-" + "x" * 40
CITIZEN = {"name": "Анна Петровна Смирнова", "email": "anna.smirnova@example.org", "phone": "+7 912 345-67-89",
           "applicant_type": "individual"}
QUESTION = "Хочу заменить старую газовую плиту на новую с газ-контролем."
ACTOR = Actor("citizen", None, "citizen")
LINK_RE = re.compile(r'id="video-link"[^>]*href="([^"]+)"|href="([^"]+)"[^>]*id="video-link"')


@pytest.fixture
def video(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Flask:
    """Token authentication on (HS256)."""
    for key, value in {"JITSI_URL": "https://meet.example.org", "JITSI_APP_ID": "okno", "JITSI_APP_SECRET": SECRET,
                       "JITSI_PRIVATE_KEY_FILE": "", "JITSI_KEY_ID": "", "JITSI_AUDIENCE": "jitsi",
                       "VIDEO_OPENS_MINUTES_BEFORE": 10, "VIDEO_CLOSES_MINUTES_AFTER": 30,
                       "VIDEO_CITIZEN_DISPLAY_NAME": "first_name"}.items():
        monkeypatch.setitem(app.config, key, value)
    return app


@pytest.fixture
def setup(session: Any) -> Any:
    return bookable_setup(session)


@pytest.fixture
def clock(time_machine: Any) -> Callable[[datetime], None]:
    """Set the instant the join pages (and everything else) see."""
    def set_now(at: datetime) -> None:
        time_machine.move_to(at, tick=False)
    return set_now


def booked(session: Any, app: Flask, setup: Any, hour: int = 10, **citizen_fields: str) -> Booking:
    """A confirmed video booking at ``hour`` (Moscow) on the setup's day, committed."""
    now = setup.at(8) - timedelta(days=1)
    citizen = validate_citizen(**{**CITIZEN, **citizen_fields})
    result = hold_slot(session, topic=setup.topic, channel="video", start=setup.at(hour), citizen=citizen,
                       question=QUESTION, now=now, policy=BookingPolicy(secret_key=app.config["SECRET_KEY"]),
                       actor=ACTOR)
    confirm_booking(session, result.booking, now, ACTOR)
    session.commit()
    return result.booking


def open_as_citizen(client: Any, app: Flask, booking: Booking) -> Any:
    """Follow the join link from the email (manage token in the query), then the redirect."""
    first = client.get(f"/video/{booking.code}?token={manage_token_for(booking, app.config)}")
    assert first.status_code == 302 and "token" not in first.headers["Location"]
    return client.get(first.headers["Location"])


def link_of(page: Any) -> str | None:
    match = LINK_RE.search(page.get_data(as_text=True))
    return (match.group(1) or match.group(2)).replace("&amp;", "&") if match else None


def token_of(link: str) -> str:
    name, _, value = urlsplit(link).fragment.partition("=")
    assert name == "jwt"
    return json.loads(unquote(value))  # type: ignore[no-any-return]


def phase_of(page: Any) -> str:
    match = re.search(r'id="video-join" data-phase="(\w+)"', page.get_data(as_text=True))
    assert match, "no join section on the page"
    return match.group(1)


def test_video_bookings_get_a_stored_unguessable_room_that_survives_a_reschedule(
        session: Any, video: Flask, setup: Any) -> None:
    first = booked(session, video, setup, 10)
    second = booked(session, video, setup, 11, email="boris@example.org", phone="+7 912 000-00-01")
    assert re.fullmatch(r"[a-z0-9]{26}", first.video_room or "")
    assert first.video_room != second.video_room
    assert first.code.lower() not in (first.video_room or "")
    room = first.video_room
    reschedule_booking(session, first, setup.at(12), setup.at(8) - timedelta(days=1), ACTOR)
    session.commit()
    session.expire_all()
    assert session.get(Booking, first.id).video_room == room


def test_the_citizen_waits_joins_inside_the_window_and_sees_the_end(
        client: Any, session: Any, video: Flask, setup: Any, clock: Callable[[datetime], None]) -> None:
    booking = booked(session, video, setup, 10)
    clock(setup.at(9, 49))
    waiting = open_as_citizen(client, video, booking)
    assert waiting.status_code == 200 and phase_of(waiting) == "before"
    assert link_of(waiting) is None and "jwt" not in waiting.get_data(as_text=True)
    assert 'http-equiv="refresh"' in waiting.get_data(as_text=True)
    assert waiting.headers["Cache-Control"] == "no-store"

    clock(setup.at(9, 50))
    open_page = client.get(f"/video/{booking.code}")
    assert phase_of(open_page) == "open"
    link = link_of(open_page)
    assert link is not None and link.startswith(f"https://meet.example.org/{booking.video_room}#jwt=")
    claims = decode_at(token_of(link), SECRET, setup.at(9, 50), algorithm="HS256", audience="jitsi", issuer="okno")
    assert claims["room"] == booking.video_room
    assert claims["sub"] == "meet.example.org"
    assert (claims["nbf"], claims["exp"]) == (int(setup.at(9, 50).timestamp()), int(setup.at(11).timestamp()))
    assert claims["context"]["user"]["name"] == "Анна"
    assert (claims["context"]["user"]["affiliation"], claims["context"]["user"]["moderator"]) == ("member", False)

    clock(setup.at(11))
    ended = client.get(f"/video/{booking.code}")
    assert phase_of(ended) == "ended" and link_of(ended) is None


def test_the_citizen_token_holds_no_contact_details_or_question(
        client: Any, session: Any, video: Flask, setup: Any, clock: Callable[[datetime], None]) -> None:
    booking = booked(session, video, setup, 10)
    clock(setup.at(10))
    token = token_of(link_of(open_as_citizen(client, video, booking)) or "")
    with clock_at(setup.at(10)):
        claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience="jitsi")
    text = json.dumps(claims, ensure_ascii=False)
    for secret in ("anna.smirnova", "912", "345-67-89", "Смирнова", "Петровна", "плиту", booking.code):
        assert secret not in text
    assert claims["context"]["user"] == {"id": f"citizen-{booking.id}", "name": "Анна", "affiliation": "member",
                                         "moderator": False}


def test_the_assigned_expert_gets_a_moderator_token_and_nobody_else_gets_one(
        client: Any, session: Any, video: Flask, setup: Any, clock: Callable[[datetime], None]) -> None:
    booking = booked(session, video, setup, 10)
    assigned = booking.expert.user
    other = next(e.user for e in setup.experts if e.user_id != assigned.id)
    supervisor = make_user(session, role=Role.SUPERVISOR)
    admin = make_user(session, role=Role.ADMIN)
    session.commit()
    clock(setup.at(10, 5))
    path = f"/staff/video/{booking.code}"
    assert client.get(path).status_code == 302  # to the sign-in page

    for stranger in (other, supervisor, admin):
        browser = video.test_client()
        login(browser, stranger)
        page = browser.get(path)
        assert page.status_code == 403 and "jwt" not in page.get_data(as_text=True)

    login(client, assigned)
    page = client.get(path)
    assert page.status_code == 200 and phase_of(page) == "open"
    claims = decode_at(token_of(link_of(page) or ""), SECRET, setup.at(10, 5), algorithm="HS256", audience="jitsi",
                       issuer="okno")
    assert claims["context"]["user"] == {"id": f"expert-{booking.expert_id}", "name": booking.expert.name,
                                         "affiliation": "owner", "moderator": True}
    assert claims["room"] == booking.video_room


def test_the_join_page_needs_the_manage_link(client: Any, session: Any, video: Flask, setup: Any) -> None:
    booking = booked(session, video, setup, 10)
    assert client.get(f"/video/{booking.code}").status_code == 404
    assert client.get(f"/video/{booking.code}?token=wrong", follow_redirects=True).status_code == 404


def test_a_cancelled_booking_never_yields_a_token(
        client: Any, session: Any, video: Flask, setup: Any, clock: Callable[[datetime], None]) -> None:
    booking = booked(session, video, setup, 10)
    cancel_booking(session, booking, setup.at(8) - timedelta(days=1), ACTOR)
    session.commit()
    clock(setup.at(9, 50))  # staff sign-in expires: sign in on the day
    login(client, booking.expert.user)
    for at in (setup.at(9, 55), setup.at(10, 10)):
        clock(at)
        for page in (open_as_citizen(client, video, booking), client.get(f"/staff/video/{booking.code}")):
            assert page.status_code == 200 and phase_of(page) == "cancelled"
            assert link_of(page) is None and "jwt" not in page.get_data(as_text=True)


def test_after_a_reschedule_the_old_window_yields_nothing_and_the_new_one_does(
        client: Any, session: Any, video: Flask, setup: Any, clock: Callable[[datetime], None]) -> None:
    booking = booked(session, video, setup, 10)
    room = booking.video_room
    reschedule_booking(session, booking, setup.at(12), setup.at(8) - timedelta(days=1), ACTOR)
    session.commit()
    clock(setup.at(10, 5))  # inside the old window
    page = open_as_citizen(client, video, booking)
    assert phase_of(page) == "before" and link_of(page) is None
    clock(setup.at(12, 5))
    link = link_of(client.get(f"/video/{booking.code}")) or ""
    claims = decode_at(token_of(link), SECRET, setup.at(12, 5), algorithm="HS256", audience="jitsi", issuer="okno")
    assert claims["room"] == room
    assert (claims["nbf"], claims["exp"]) == (int(setup.at(11, 50).timestamp()), int(setup.at(13).timestamp()))


def test_rs256_tokens_verify_with_the_public_key(
        client: Any, session: Any, video: Flask, setup: Any, clock: Callable[[datetime], None],
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pem = new_rsa_pem()
    (tmp_path / "jaas.pem").write_text(pem, encoding="ascii")
    monkeypatch.setitem(video.config, "JITSI_URL", "https://8x8.vc/vpaas-magic-cookie-abc")
    monkeypatch.setitem(video.config, "JITSI_APP_ID", "vpaas-magic-cookie-abc")
    monkeypatch.setitem(video.config, "JITSI_APP_SECRET", "")
    monkeypatch.setitem(video.config, "JITSI_PRIVATE_KEY_FILE", str(tmp_path / "jaas.pem"))
    monkeypatch.setitem(video.config, "JITSI_KEY_ID", "k1")
    booking = booked(session, video, setup, 10)
    clock(setup.at(10))
    link = link_of(open_as_citizen(client, video, booking)) or ""
    assert link.startswith(f"https://8x8.vc/vpaas-magic-cookie-abc/{booking.video_room}#jwt=")
    token = token_of(link)
    assert jwt.get_unverified_header(token)["kid"] == "vpaas-magic-cookie-abc/k1"
    claims = decode_at(token, public_key_of(pem), setup.at(10), algorithm="RS256", audience="jitsi", issuer="chat")
    assert (claims["sub"], claims["room"]) == ("vpaas-magic-cookie-abc", booking.video_room)
    assert claims["context"]["user"]["moderator"] == "false"


def test_without_a_secret_the_link_is_plain_and_admins_are_told(
        client: Any, session: Any, video: Flask, setup: Any, clock: Callable[[datetime], None],
        monkeypatch: pytest.MonkeyPatch) -> None:
    admin = make_user(session, role=Role.ADMIN)
    booking = booked(session, video, setup, 10)
    login(client, admin)
    assert 'id="video-unsigned"' not in client.get("/staff/").get_data(as_text=True)
    monkeypatch.setitem(video.config, "JITSI_APP_SECRET", "")
    assert 'id="video-unsigned"' in client.get("/staff/").get_data(as_text=True)
    clock(setup.at(10))
    assert link_of(open_as_citizen(video.test_client(), video, booking)) == f"https://meet.example.org/{booking.video_room}"


def test_the_api_shows_the_video_object_and_null_once_cancelled(
        client: Any, session: Any, video: Flask, setup: Any) -> None:
    booking = booked(session, video, setup, 10)
    path = f"/api/v1/bookings/{booking.code}?token={manage_token_for(booking, video.config)}"
    response = client.get(path)
    assert_documented(response, "GET", "/api/v1/bookings/{code}")
    body = response.get_json()
    assert body["video"] == {
        "room": booking.video_room,
        "join_url": f"http://okno.example.org/video/{booking.code}?token={manage_token_for(booking, video.config)}",
        "opens_at": setup.at(9, 50).isoformat(),
        "closes_at": setup.at(11).isoformat(),
    }
    cancel_booking(session, booking, setup.at(8) - timedelta(days=1), ACTOR)
    session.commit()
    assert client.get(path).get_json()["video"] is None


def test_the_manage_page_and_the_confirmation_email_lead_to_the_join_page(
        client: Any, session: Any, video: Flask, setup: Any) -> None:
    booking = booked(session, video, setup, 10)
    send_confirmed(session, booking, video.config, setup.at(8) - timedelta(days=1))
    session.commit()
    email = session.scalars(select(OutboxMessage).where(OutboxMessage.template == "booking_confirmed")
                            .order_by(OutboxMessage.id.desc())).first()
    content = read_content(email)
    match = re.search(r"http://okno\.example\.org(/video/\S+)", content.text_body)
    assert match and f'id="video-join-link" href="{video.config["PUBLIC_BASE_URL"]}/video/' in (content.html_body or "")
    page = client.get(match.group(1), follow_redirects=True)
    assert page.status_code == 200 and phase_of(page) == "before"
    manage = client.get(f"/manage/{booking.code}").get_data(as_text=True)
    assert f'id="video-join-link" role="button" class="secondary" href="/video/{booking.code}"' in manage


class AccessLog:
    """A WSGI access log like a web server's: request line, status and Referer of every request."""

    def __init__(self, app: Any) -> None:
        self.app, self.lines = app, []  # type: ignore[var-annotated]

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        def logging_start(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            query = f"?{environ['QUERY_STRING']}" if environ.get("QUERY_STRING") else ""
            self.lines.append(f'"{environ["REQUEST_METHOD"]} {environ["PATH_INFO"]}{query}" {status} '
                              f'"{environ.get("HTTP_REFERER", "-")}" {dict(headers).get("Location", "")}')
            return start_response(status, headers, *rest)
        return self.app(environ, logging_start)


@pytest.fixture
def access_log(video: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[AccessLog]:
    log = AccessLog(video.wsgi_app)
    monkeypatch.setattr(video, "wsgi_app", log)
    yield log


def test_no_token_reaches_a_server_log_line(
        client: Any, session: Any, video: Flask, setup: Any, clock: Callable[[datetime], None],
        access_log: AccessLog, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    booking = booked(session, video, setup, 10)
    clock(setup.at(10))
    tokens = []
    for _ in range(2):
        page = open_as_citizen(client, video, booking)
        assert page.headers["Referrer-Policy"] == "same-origin"  # nothing to another site; forms keep working
        assert re.search(r'id="video-link"[^>]*rel="noopener noreferrer"', page.get_data(as_text=True))
        tokens.append(token_of(link_of(page) or ""))
    login(client, booking.expert.user)
    expert_page = client.get(f"/staff/video/{booking.code}", headers={"Referer": "http://okno.example.org/staff/"})
    tokens.append(token_of(link_of(expert_page) or ""))
    assert len(set(tokens)) >= 2 and access_log.lines
    lines = access_log.lines + [record.getMessage() for record in caplog.records]
    for token in tokens:
        assert all(token not in line and token.split(".")[2] not in line for line in lines)
        # What the video server receives (and may log) is the address without its fragment.
    room_request = urlsplit(link_of(expert_page) or "")._replace(fragment="").geturl()
    assert all(token not in room_request for token in tokens)
