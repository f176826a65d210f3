"""A short reception day in real browsers: the desk, the expert and the lobby screen side by side.

The day is today, in an office whose zone puts "now" in daytime, so the server's own clock drives
everything: a booked visitor is checked in by code, a walk-in is registered, the expert calls both
to a window and the lobby shows their numbers (never a name), consultations are completed, and a
visitor who never came becomes a no-show by the periodic sweep, which the desk's table shows
without a reload.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from booking.models import Booking, BookingStatus
from scheduler.app import create_app
from scheduler.auth.models import Role
from scheduler.config import normalise_database_url
from scheduler.extensions import db
from tests.conftest import app_config
from tests.e2e.conftest import assert_accessible
from tests.helpers import TEST_PASSWORD, make_user
from tests.reception_fixtures import book, reception_setup

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# Offsets from -8 to +12 hours: at any UTC hour one of them is between 03:00 and 18:59.
ZONES = ("Europe/London", "Europe/Moscow", "Asia/Yekaterinburg", "Asia/Novosibirsk", "Asia/Vladivostok",
         "Asia/Kamchatka", "America/New_York", "America/Los_Angeles")
TABLET = {"viewport": {"width": 1024, "height": 768}, "has_touch": True}


@dataclass
class Day:
    location_slug: str
    desk_email: str
    expert_email: str
    booked_code: str
    absent_code: str
    app: Any


def daytime_zone(now: datetime) -> ZoneInfo:
    return next(ZoneInfo(z) for z in ZONES if 3 <= now.astimezone(ZoneInfo(z)).hour <= 18)


def seed_reception_day(database_url: str, instance: Path) -> Day:
    """Today's reception from an hour ago for four hours; one visitor due soon, one who never came."""
    now = datetime.now(UTC)
    zone = daytime_zone(now)
    local = now.astimezone(zone)
    opens = (local - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    app = create_app(app_config(database_url, instance), instance_path=str(instance))
    with app.app_context():
        setup = reception_setup(db.session, local.date(), zone=zone.key, starts=opens.time(),
                                ends=time(opens.hour + 4), experts=1, slug="lenina")
        made = opens - timedelta(minutes=30)  # booked before the reception opened
        absent = book(db.session, setup, opens, made, name="Пётр Отсутствующий")
        first_free = opens + timedelta(minutes=30 * ((local - opens).seconds // 1800 + 1))
        booked = book(db.session, setup, first_free, made, name="Ольга Записанная")
        desk = make_user(db.session, role=Role.RECEPTION, location_id=setup.location.id, email="desk@example.org")
        day = Day("lenina", desk.email, setup.experts[0].user.email, booked.code, absent.code, app)
        db.session.commit()
        db.session.remove()
    return day


def sign_in(page: Page, email: str) -> None:
    page.goto("/staff/login")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(TEST_PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page).not_to_have_url(re.compile(r"/staff/login"))


@pytest.fixture
def screens(browser: Any, live_server: Any, tmp_path: Path) -> Iterator[tuple[Day, Page, Page, Page]]:
    day = seed_reception_day(live_server.database_url, tmp_path / "seed")
    contexts = [browser.new_context(**TABLET, locale="ru-RU", base_url=live_server.url) for _ in range(3)]
    for context in contexts:
        context.set_default_timeout(15_000)
    desk, expert, lobby = (c.new_page() for c in contexts)
    try:
        yield day, desk, expert, lobby
    finally:
        for context in contexts:
            context.close()
        with day.app.app_context():
            db.engine.dispose()


def booking(database_url: str, code: str) -> Booking:
    engine = create_engine(normalise_database_url(database_url))
    try:
        with Session(engine) as session:
            found = session.scalar(select(Booking).where(Booking.code == code))
            assert found is not None
            session.expunge(found)
            return found
    finally:
        engine.dispose()


def walk_in_code(database_url: str) -> str:
    engine = create_engine(normalise_database_url(database_url))
    try:
        with Session(engine) as session:
            code = session.scalar(select(Booking.code).where(Booking.is_walk_in.is_(True)))
            assert code is not None
            return code
    finally:
        engine.dispose()


def test_a_short_reception_day_from_the_desk_the_experts_screen_and_the_lobby(
        screens: tuple[Day, Page, Page, Page], live_server: Any) -> None:
    day, desk, expert, lobby = screens
    sign_in(desk, day.desk_email)
    sign_in(expert, day.expert_email)
    desk.goto(f"/staff/reception/{day.location_slug}")
    lobby.goto(f"/lobby/{day.location_slug}")
    assert_accessible(desk)
    assert_accessible(lobby)
    expect(lobby.locator("#lobby-called")).to_have_count(0)

    # The print link prints (its handler is in desk.js now: the page's policy refuses inline handlers).
    desk.evaluate("window.print = function () { window.printed = true; }")
    desk.locator("#print-link").click()
    assert desk.evaluate("window.printed === true")
    assert not desk.url.endswith("#")

    # The desk checks in the booked visitor by the code they show.
    desk.locator("#code").fill(f"{day.booked_code[:4].lower()}-{day.booked_code[4:]}")
    desk.locator("#check-in-form button[type=submit]").click()
    expect(desk.locator(f"#visit-{day.booked_code}")).to_have_attribute("data-state", "checked_in")

    # A walk-in without a booking gets the next free time and a queue number.
    desk.locator("#walk-in-form #name").fill("Иван Без Записи")
    desk.locator("#walk-in-form #phone").fill("+7 912 000-11-22")
    desk.locator("#walk-in-form button[type=submit]").click()
    walk_in = walk_in_code(live_server.database_url)
    expect(desk.locator(f"#visit-{walk_in}")).to_have_attribute("data-state", "checked_in")

    # The expert sees both waiting and calls the next one to a window; the lobby shows the number only.
    expert.goto("/staff/reception/expert")
    assert_accessible(expert)
    expect(expert.locator(f"#queue-{day.booked_code}")).to_be_visible()
    expert.locator(f"#call-next-{day.location_slug} #window").fill("Окно 1")
    expert.locator(f"#call-next-{day.location_slug} button[type=submit]").click()
    expect(expert.locator(f"#current-{day.booked_code}")).to_be_visible()
    first = booking(live_server.database_url, day.booked_code)
    lobby.reload()
    expect(lobby.locator(f'tr[data-number="{first.queue_number}"]')).to_have_attribute("data-window", "Окно 1")
    assert "Ольга" not in lobby.content() and day.booked_code not in lobby.content()

    expert.locator(f"#current-{day.booked_code} button[data-action=start]").click()
    expect(expert.locator(f"#current-{day.booked_code}")).to_have_attribute("data-state", "in_consultation")
    expert.locator(f"#current-{day.booked_code} button[data-action=complete]").click()
    expect(expert.locator(f"#current-{day.booked_code}")).to_have_count(0)

    # Next: the walk-in, to the same window (the expert's last one is offered again).
    expect(expert.locator(f"#call-next-{day.location_slug} #window")).to_have_value("Окно 1")
    expert.locator(f"#call-next-{day.location_slug} button[type=submit]").click()
    expect(expert.locator(f"#current-{walk_in}")).to_be_visible()
    second = booking(live_server.database_url, walk_in)
    lobby.reload()
    expect(lobby.locator(f'tr[data-number="{second.queue_number}"]')).to_have_attribute("data-window", "Окно 1")
    expert.locator(f"#current-{walk_in} button[data-action=complete]").click()
    expect(expert.locator(f"#current-{walk_in}")).to_have_count(0)

    done = booking(live_server.database_url, day.booked_code)
    assert done.status == BookingStatus.COMPLETED
    assert done.checked_in_at is not None and done.called_at is not None and done.completed_at is not None
    assert booking(live_server.database_url, walk_in).status == BookingStatus.COMPLETED

    # The desk's table refreshes itself (no reload since the walk-in): the expert's work shows up.
    expect(desk.locator(f"#visit-{day.booked_code}")).to_have_attribute("data-state", "completed", timeout=25_000)

    # The no-show sweep (the worker runs it every minute; run it now) marks the visitor who never came.
    from booking.reception.jobs import sweep_no_shows

    with day.app.app_context():
        sweep_no_shows()
    assert booking(live_server.database_url, day.absent_code).status == BookingStatus.NO_SHOW
    expect(desk.locator(f"#visit-{day.absent_code}")).to_have_attribute("data-state", "no_show", timeout=25_000)
