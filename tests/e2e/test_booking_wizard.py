"""A citizen books on a phone in a real browser: topic, time, details, code from the delivered email, manage.

Texts are looked up in the Russian catalogue at run time (``ru("Phone")``), so the test follows the
translations instead of copying them. Fields are found by their accessible name (what a screen reader
announces: the tied label, without the aria-hidden "required" star), so the test fails if a label
stops being tied to its input.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask_babel import force_locale, gettext
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from booking.citizens import normalise_phone
from booking.models import Booking, BookingStatus
from scheduler.config import normalise_database_url
from scheduler.errors import DomainError
from tests.booking_fixtures import CITIZEN_FORM
from tests.e2e.conftest import assert_accessible

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BROKEN_PHONE = "+7 912 345"
CYRILLIC = re.compile("[А-Яа-яЁё]")
CONSENT = ("I agree to the processing of my personal data (name, email, phone, question) to arrange and hold "
           "this consultation and to answer my question")


@pytest.fixture
def ru(app: Flask) -> Iterator[Callable[[str], str]]:
    """The Russian text of a message id, as the server renders it."""

    def translate(msgid: str) -> str:
        with app.test_request_context(), force_locale("ru"):
            return str(gettext(msgid))

    yield translate


def phone_error_text(ru_app: Flask, raw: str) -> str:
    with ru_app.test_request_context(), force_locale("ru"):
        try:
            normalise_phone(raw)
        except DomainError as exc:
            return str(exc.fields["phone"])
    raise AssertionError(f"{raw!r} was expected to be refused")


def instant(value: str | None) -> datetime:
    assert value, "no datetime attribute"
    return datetime.fromisoformat(value)


def pick_slot(page: Page, selector: str, ru: Callable[[str], str],
              avoid: datetime | None = None) -> tuple[Locator, datetime]:
    """The first offered time at least an hour ahead (so it can still be moved and cancelled), other than ``avoid``.

    Pages show a week; around long holidays the next free time may be a week or two away.
    """
    soon = datetime.now(UTC) + timedelta(hours=1)
    for _week in range(4):
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        for slot in page.locator(selector).all():
            start = instant(slot.locator("time").get_attribute("datetime"))
            if start >= soon and start != avoid:
                return slot, start
        page.get_by_role("link", name=ru("Next week"), exact=True).click()
    raise AssertionError("no free time offered in four weeks")


def no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the page scrolls sideways on a phone: {width[0]}px content in {width[1]}px"


def agree_and_continue(page: Page, ru: Callable[[str], str]) -> None:
    """Tick the consent (the form keeps it once ticked) and go on to the review."""
    consent = page.locator("input[name=consent]")
    if not consent.is_checked():
        consent.check()
    page.get_by_role("button", name=ru("Continue"), exact=True).click()


def booking_row(server: Any, code: str) -> Booking:
    engine = create_engine(normalise_database_url(server.database_url))
    try:
        with Session(engine) as session:
            booking = session.scalars(select(Booking).where(Booking.code == code)).one()
            session.expunge(booking)
            return booking
    finally:
        engine.dispose()


def test_citizen_books_on_a_phone_confirms_by_email_reschedules_and_cancels(
    phone_page: Page, live_server: Any, ru: Callable[[str], str], app: Flask
) -> None:
    page = phone_page
    citizen = {**CITIZEN_FORM, "email": "anna.e2e@example.org"}

    # Home page → the topic.
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    page.get_by_role("link", name=live_server.topic_title).tap()
    expect(page).to_have_url(re.compile(rf"/topics/{live_server.topic_slug}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(live_server.topic_title)
    assert_accessible(page)
    no_sideways_scroll(page)

    # The first free time.
    slot, chosen = pick_slot(page, "ul.slot-list a[role=button]", ru)
    slot.tap()
    expect(page).to_have_url(re.compile(rf"/book/{live_server.topic_slug}\?"))
    expect(page.get_by_role("heading", level=1)).to_have_text(ru("Your details"))
    assert_accessible(page)
    no_sideways_scroll(page)

    # Details, first with a phone number that does not exist.
    page.get_by_role("textbox", name=ru("Full name"), exact=True).fill(citizen["name"])
    page.get_by_role("textbox", name=ru("Email"), exact=True).fill(citizen["email"])
    phone = page.get_by_role("textbox", name=ru("Phone"), exact=True)
    phone.fill(BROKEN_PHONE)
    page.get_by_role("radio", name=ru("A private person"), exact=True).check()
    page.get_by_role("textbox", name=ru("Your question"), exact=True).fill(citizen["question"])
    page.get_by_role("checkbox", name=ru(CONSENT), exact=True).check()
    page.get_by_role("button", name=ru("Continue"), exact=True).click()

    error = page.locator("#phone-error")
    message = phone_error_text(app, BROKEN_PHONE)
    assert CYRILLIC.search(message), f"the phone error is not translated: {message!r}"
    expect(error).to_have_text(message)
    expect(error).to_have_attribute("role", "alert")
    expect(phone).to_have_attribute("aria-invalid", "true")
    expect(phone).to_have_attribute("aria-describedby", re.compile(r"\bphone-error\b"))
    expect(phone).to_have_value(BROKEN_PHONE)
    expect(page.get_by_role("textbox", name=ru("Full name"), exact=True)).to_have_value(citizen["name"])
    # The message sits right under its field, not only in the summary at the top.
    field_box, error_box = phone.bounding_box(), error.bounding_box()
    assert field_box and error_box and 0 <= error_box["y"] - (field_box["y"] + field_box["height"]) < 80
    assert page.locator("#email-error").count() == 0
    no_sideways_scroll(page)

    phone.fill(citizen["phone"])
    agree_and_continue(page, ru)

    # Review.
    expect(page.get_by_role("heading", level=1)).to_have_text(ru("Check and book"))
    assert_accessible(page)
    summary = page.locator("main")
    expect(summary).to_contain_text(citizen["name"])
    expect(summary).to_contain_text(citizen["email"])
    expect(summary).to_contain_text("+79123456789")
    # "Change details" reopens the form as typed (it used to book the time and send the code).
    page.get_by_role("button", name=ru("Change details"), exact=True).click()
    name_box = page.get_by_role("textbox", name=ru("Full name"), exact=True)
    expect(name_box).to_have_value(citizen["name"])
    expect(page.get_by_role("textbox", name=ru("Email"), exact=True)).to_have_value(citizen["email"])
    assert_accessible(page)
    citizen = {**citizen, "name": citizen["name"] + "-Лебедева"}
    name_box.fill(citizen["name"])
    agree_and_continue(page, ru)
    expect(page.get_by_role("heading", level=1)).to_have_text(ru("Check and book"))
    expect(page.locator("main")).to_contain_text(citizen["name"])
    page.get_by_role("button", name=ru("Book and send the code"), exact=True).click()

    # The code, from the email the worker delivered.
    expect(page).to_have_url(re.compile(r"/book/verify$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(ru("Enter the code from the email"))
    assert_accessible(page)
    (code_mail,) = live_server.wait_for_mail(citizen["email"], 1)
    code = live_server.confirmation_code(code_mail)
    page.get_by_role("textbox", name=ru("Code from the email"), exact=True).fill(code)
    page.get_by_role("button", name=ru("Confirm the booking"), exact=True).click()

    # The manage page: confirmed, at the chosen time.
    expect(page).to_have_url(re.compile(r"/manage/[A-Z0-9]{8}\?confirmed=1$"))
    assert_accessible(page)
    booking_code = re.search(r"/manage/([A-Z0-9]{8})", page.url).group(1)  # type: ignore[union-attr]
    status = page.locator("dd[data-status]")
    expect(status).to_have_attribute("data-status", "confirmed")
    expect(page.locator("[role=status]").first).to_have_text(
        ru("The consultation is booked. We sent the details and a calendar invitation to your email."))
    assert instant(page.locator("dl.summary time").get_attribute("datetime")) == chosen
    no_sideways_scroll(page)
    confirmed_mail = live_server.wait_for_mail(citizen["email"], 2)[1]
    assert any(part.get_content_type() == "text/calendar" for part in confirmed_mail.walk())

    # Reschedule to another free time.
    page.get_by_role("button", name=ru("Reschedule"), exact=True).tap()
    expect(page).to_have_url(re.compile(rf"/manage/{booking_code}/reschedule$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(ru("Choose a new time"))
    assert_accessible(page)
    other, new_start = pick_slot(page, "ul.slot-list button", ru, avoid=chosen)
    other.tap()
    expect(page).to_have_url(re.compile(rf"/manage/{booking_code}$"))
    expect(page.locator("[role=status]").first).to_have_text(
        ru("The consultation has been moved. We sent the updated invitation to your email."))
    expect(status).to_have_attribute("data-status", "confirmed")
    assert instant(page.locator("dl.summary time").get_attribute("datetime")) == new_start
    live_server.wait_for_mail(citizen["email"], 3)

    # Cancel.
    page.get_by_role("button", name=ru("Cancel the consultation"), exact=True).click()
    expect(page).to_have_url(re.compile(rf"/manage/{booking_code}$"))
    expect(page.locator("[role=status]").first).to_have_text(
        ru("The consultation has been cancelled. The time is free for others again."))
    expect(status).to_have_attribute("data-status", "cancelled")
    expect(page.get_by_role("button", name=ru("Reschedule"), exact=True)).to_have_count(0)
    expect(page.get_by_role("button", name=ru("Cancel the consultation"), exact=True)).to_have_count(0)
    mails = live_server.wait_for_mail(citizen["email"], 4)
    assert len(mails) == 4

    row = booking_row(live_server, booking_code)
    assert row.status == BookingStatus.CANCELLED
    assert row.starts_at == new_start
    assert row.citizen_phone == "+79123456789"


def test_skip_link_is_the_first_tab_stop_and_moves_focus_to_main(
    browser: Any, live_server: Any, ru: Callable[[str], str]
) -> None:
    context = browser.new_context(locale="ru-RU", base_url=live_server.url)
    try:
        page = context.new_page()
        page.goto("/")
        page.keyboard.press("Tab")
        focused = page.evaluate("() => [document.activeElement.className, document.activeElement.textContent.trim(),"
                                " document.activeElement.getAttribute('href')]")
        assert focused == ["skip-link", ru("Skip to main content"), "#main"]
        box = page.locator("a.skip-link").bounding_box()
        viewport = page.viewport_size
        assert box and viewport and box["width"] > 0 and box["height"] > 0
        assert 0 <= box["x"] < viewport["width"] and 0 <= box["y"] < viewport["height"], "focused but off-screen"
        page.keyboard.press("Enter")
        expect(page.locator("main#main")).to_be_focused()
        page.keyboard.press("Tab")
        inside_main = page.evaluate("() => document.getElementById('main').contains(document.activeElement)")
        assert inside_main, "the next Tab stop after the skip link is not inside main"
    finally:
        context.close()
