"""Every calendar object okno writes is parsed back and checked: methods, UIDs, instants, folding, escaping."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from icalendar import Calendar, vText

from booking import ical
from booking.ical import FEED_DETAIL_NAMES, FeedEvent, feed_calendar, invitation
from booking.links import manage_token_for
from booking.models import ApplicantType, Booking, BookingStatus
from scheduler.departments.models import Department, Location, Topic
from scheduler.schedules.models import Channel

CONFIG = {
    "PUBLIC_BASE_URL": "http://okno.example.org",  # as in the test app, whose URL map builds the links
    "SECRET_KEY": "k" * 40,
    "MAIL_FROM": "Окно <no-reply@okno.example.org>",
    "FEED_REFRESH_MINUTES": 15,
}
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")
MOSCOW = ZoneInfo("Europe/Moscow")
LONG_RUSSIAN = ("Согласование проектной документации на газификацию индивидуального жилого дома "
                "с последующим подключением к сети газораспределения и заменой газовой плиты")


@pytest.fixture(autouse=True)
def app_context(app: Flask) -> Any:
    """Links in calendars are built from the app's URL map (on PUBLIC_BASE_URL), as in a job."""
    with app.app_context():
        yield


def make_booking(start: datetime, *, channel: Channel = Channel.VIDEO, status: BookingStatus = BookingStatus.CONFIRMED,
                 sequence: int = 1, topic_title: str = "Замена газовой плиты", address: str = "ул. Ленина, 1",
                 code: str = "ABCD2345") -> Booking:
    department = Department(slug="gas", title="Одно окно, Газ", timezone=str(start.tzinfo), holiday_calendar="RU")
    topic = Topic(slug="stove", title=topic_title, department=department, duration_minutes=30)
    location = None
    if channel == Channel.IN_PERSON:
        location = Location(slug="office", name="Приёмная", address=address, timezone=str(start.tzinfo), desks=1,
                            department=department)
    # Instants keep the caller's zone on purpose: the writer must convert them to UTC itself.
    return Booking(code=code, topic=topic, channel=channel, location=location, starts_at=start,
                   ends_at=start + timedelta(minutes=30), status=status, sequence=sequence,
                   citizen_name="Анна Смирнова", citizen_email="anna@example.org", citizen_phone="+79123456789",
                   applicant_type=ApplicantType.INDIVIDUAL, question="Вопрос", consent_at=NOW, locale="ru",
                   manage_token_salt="s" * 32, manage_token_hash="")


def parse(data: bytes) -> tuple[Calendar, Any]:
    calendar = Calendar.from_ical(data)
    events = calendar.walk("VEVENT")
    assert len(events) == 1
    return calendar, events[0]


def calendar_text(calendar: Calendar, name: str) -> str:
    """A calendar-level text property, unescaped (icalendar leaves NAME and X-WR-CALNAME untyped)."""
    raw = calendar[name].to_ical()
    raw = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m.group(1) in "nN" else m.group(1), raw)


def lines(data: bytes) -> list[bytes]:
    assert data.endswith(b"\r\n")
    return data[:-2].split(b"\r\n")


def test_the_invitation_is_a_request_with_everything_a_calendar_program_needs() -> None:
    booking = make_booking(datetime(2026, 3, 30, 10, 0, tzinfo=MOSCOW))
    data = invitation(booking, CONFIG, NOW)
    calendar, event = parse(data)
    assert calendar["METHOD"] == "REQUEST" and calendar["VERSION"] == "2.0" and calendar["PRODID"]
    assert event["UID"] == "booking-ABCD2345@okno.example.org"
    assert event["SEQUENCE"] == 1 and event["STATUS"] == "CONFIRMED"
    assert event.decoded("DTSTAMP") == NOW
    assert str(event["ORGANIZER"]) == "mailto:no-reply@okno.example.org"
    assert event["ORGANIZER"].params["CN"] == "Одно окно, Газ"
    assert str(event["ATTENDEE"]) == "mailto:anna@example.org" and event["ATTENDEE"].params["CN"] == "Анна Смирнова"
    assert "http://okno.example.org/manage/ABCD2345?token=" in str(event["DESCRIPTION"])
    alarms = event.walk("VALARM")
    assert len(alarms) == 1 and alarms[0]["ACTION"] == "DISPLAY"
    assert alarms[0].decoded("TRIGGER") == timedelta(hours=-1)


def test_video_invitation_points_its_location_at_the_join_page_and_in_person_at_the_address() -> None:
    video = make_booking(datetime(2026, 3, 30, 10, 0, tzinfo=MOSCOW))
    _calendar, event = parse(invitation(video, CONFIG, NOW))
    join = f"http://okno.example.org/video/ABCD2345?token={manage_token_for(video, CONFIG)}"
    assert event["LOCATION"] == join  # the join page admits only the holder of the manage token
    assert join in event["DESCRIPTION"]
    office = make_booking(datetime(2026, 3, 30, 10, 0, tzinfo=MOSCOW), channel=Channel.IN_PERSON)
    _calendar, event = parse(invitation(office, CONFIG, NOW))
    assert event["LOCATION"] == "Приёмная, ул. Ленина, 1"


def test_a_reschedule_keeps_the_uid_and_raises_the_sequence() -> None:
    booking = make_booking(datetime(2026, 3, 30, 10, 0, tzinfo=MOSCOW))
    _calendar, first = parse(invitation(booking, CONFIG, NOW))
    booking.starts_at += timedelta(days=1)
    booking.ends_at += timedelta(days=1)
    booking.sequence += 1
    calendar, moved = parse(invitation(booking, CONFIG, NOW + timedelta(minutes=5)))
    assert calendar["METHOD"] == "REQUEST"
    assert moved["UID"] == first["UID"] and moved["SEQUENCE"] > first["SEQUENCE"]
    assert moved.decoded("DTSTART") == first.decoded("DTSTART") + timedelta(days=1)


def test_a_cancelled_booking_sends_cancel_with_status_cancelled_and_no_reminder() -> None:
    booking = make_booking(datetime(2026, 3, 30, 10, 0, tzinfo=MOSCOW))
    _calendar, request = parse(invitation(booking, CONFIG, NOW))
    booking.status = BookingStatus.CANCELLED
    booking.sequence += 1
    calendar, cancel = parse(invitation(booking, CONFIG, NOW))
    assert calendar["METHOD"] == "CANCEL" and cancel["STATUS"] == "CANCELLED"
    assert cancel["UID"] == request["UID"] and cancel["SEQUENCE"] > request["SEQUENCE"]
    assert cancel.walk("VALARM") == []


@pytest.mark.parametrize(("local", "utc_line"), [
    # Berlin: CET (+1) before 29 March 2026, CEST (+2) after, CET again from 25 October
    (datetime(2026, 3, 28, 10, 0, tzinfo=BERLIN), b"DTSTART:20260328T090000Z"),
    (datetime(2026, 3, 30, 10, 0, tzinfo=BERLIN), b"DTSTART:20260330T080000Z"),
    (datetime(2026, 10, 24, 10, 0, tzinfo=BERLIN), b"DTSTART:20261024T080000Z"),
    (datetime(2026, 10, 26, 10, 0, tzinfo=BERLIN), b"DTSTART:20261026T090000Z"),
    # Moscow keeps +3 all year since October 2014, whatever the date
    (datetime(2026, 3, 30, 10, 0, tzinfo=MOSCOW), b"DTSTART:20260330T070000Z"),
    (datetime(2026, 10, 26, 10, 0, tzinfo=MOSCOW), b"DTSTART:20261026T070000Z"),
])
def test_start_is_the_right_instant_across_dst_written_in_utc_without_timezone_rules(
        local: datetime, utc_line: bytes) -> None:
    for data in (invitation(make_booking(local), CONFIG, NOW.astimezone(BERLIN)),
                 feed_calendar("Эксперт", [FeedEvent.of(make_booking(local))], CONFIG, NOW)):
        _calendar, event = parse(data)
        assert event.decoded("DTSTART") == local and event.decoded("DTEND") == local + timedelta(minutes=30)
        assert utc_line in lines(data)
        # no VTIMEZONE at all, so no RDATE list a client could misread
        assert b"VTIMEZONE" not in data and b"RDATE" not in data and b"TZID" not in data
        for line in lines(data):
            if line.startswith((b"DTSTART", b"DTEND", b"DTSTAMP")):
                assert line.endswith(b"Z"), line


def test_long_cyrillic_lines_are_folded_at_75_octets_without_splitting_a_character() -> None:
    booking = make_booking(datetime(2026, 3, 30, 10, 0, tzinfo=MOSCOW), channel=Channel.IN_PERSON,
                           topic_title=LONG_RUSSIAN, address=LONG_RUSSIAN)
    for data in (invitation(booking, CONFIG, NOW),
                 feed_calendar(LONG_RUSSIAN, [FeedEvent.of(booking)], CONFIG, NOW, detail=FEED_DETAIL_NAMES)):
        folded = [line for line in lines(data) if line.startswith(b" ")]
        assert folded, "the long values must have been folded"
        for line in lines(data):
            assert len(line) <= 75, line
            line.decode("utf-8")  # each physical line is valid UTF-8 on its own
        _calendar, event = parse(data)
        assert LONG_RUSSIAN in event["SUMMARY"]
        assert event["LOCATION"] == f"Приёмная, {LONG_RUSSIAN}"


def test_commas_semicolons_backslashes_and_newlines_are_escaped_and_survive_the_round_trip() -> None:
    tricky = "Газ, вода; канализация \\ отопление\nвторая строка"
    booking = make_booking(datetime(2026, 3, 30, 10, 0, tzinfo=MOSCOW), channel=Channel.IN_PERSON,
                           topic_title=tricky, address=tricky)
    data = invitation(booking, CONFIG, NOW)
    unfolded = data.replace(b"\r\n ", b"").decode("utf-8")
    assert "Газ\\, вода\\; канализация \\\\ отопление\\nвторая строка" in unfolded
    _calendar, event = parse(data)
    assert event["SUMMARY"] == f"Консультация: {tricky}"  # the booking is in Russian
    assert event["LOCATION"] == f"Приёмная, {tricky}"
    assert event["ORGANIZER"].params["CN"] == "Одно окно, Газ"
    feed = feed_calendar(tricky, [FeedEvent.of(booking)], CONFIG, NOW)
    calendar, event = parse(feed)
    assert calendar_text(calendar, "X-WR-CALNAME") == calendar_text(calendar, "NAME") == tricky
    assert tricky in event["SUMMARY"]


def test_the_feed_is_published_with_refresh_hints_and_stable_uids() -> None:
    first = make_booking(datetime(2026, 3, 30, 10, 0, tzinfo=MOSCOW), code="ABCD2345")
    second = make_booking(datetime(2026, 3, 30, 11, 0, tzinfo=MOSCOW), code="EFGH6789", channel=Channel.IN_PERSON)
    data = feed_calendar("Иванов: консультации", [FeedEvent.of(first), FeedEvent.of(second)], CONFIG, NOW)
    calendar = Calendar.from_ical(data)
    assert calendar["METHOD"] == "PUBLISH"
    assert calendar_text(calendar, "NAME") == calendar_text(calendar, "X-WR-CALNAME") == "Иванов: консультации"
    assert b"REFRESH-INTERVAL;VALUE=DURATION:PT15M" in lines(data)
    assert b"X-PUBLISHED-TTL:PT15M" in lines(data)
    events = calendar.walk("VEVENT")
    assert [e["UID"] for e in events] == ["consultation-ABCD2345@okno.example.org",
                                          "consultation-EFGH6789@okno.example.org"]
    again = Calendar.from_ical(feed_calendar("x", [FeedEvent.of(first), FeedEvent.of(second)], CONFIG,
                                             NOW + timedelta(hours=1)))
    assert [e["UID"] for e in again.walk("VEVENT")] == [e["UID"] for e in events]
    assert events[0]["LOCATION"] == "http://okno.example.org/staff/video/ABCD2345"  # the expert's own join page
    assert events[1]["LOCATION"] == "Приёмная, ул. Ленина, 1"
    assert events[0]["URL"] == "http://okno.example.org/staff/workspace/bookings/ABCD2345"


@pytest.mark.parametrize(("detail", "shows_name"), [("minimal", False), ("names", True)])
def test_the_feed_shows_the_citizen_name_only_when_asked_and_never_contacts(detail: str, shows_name: bool) -> None:
    booking = make_booking(datetime(2026, 3, 30, 10, 0, tzinfo=MOSCOW))
    data = feed_calendar("Эксперт", [FeedEvent.of(booking)], CONFIG, NOW, detail=detail)
    text = data.replace(b"\r\n ", b"").decode("utf-8")
    assert ("Анна Смирнова" in text) is shows_name
    assert "anna@example.org" not in text and "79123456789" not in text and "ATTENDEE" not in text


@pytest.mark.parametrize("prefix", range(20, 40))
def test_feed_folding_keeps_escapes_and_characters_whole_at_every_boundary(prefix: int) -> None:
    title = "ж" * prefix + "a\\b,c;d\nе" + "ё" * prefix
    booking = make_booking(datetime(2026, 3, 30, 10, 0, tzinfo=MOSCOW), topic_title=title)
    data = feed_calendar("Эксперт", [FeedEvent.of(booking)], CONFIG, NOW)
    for line in lines(data):
        assert len(line) <= 75, line
        line.decode("utf-8")
    _calendar, event = parse(data)
    assert event["SUMMARY"] == f"{title} (ABCD-2345)"


def _fold_char_by_char(line: str, limit: int = 75) -> str:
    """The folding rule written the slow, obvious way (a character at a time), to check the fast one against."""
    if len(line.encode("utf-8")) <= limit:
        return line
    folded: list[str] = []
    current: list[str] = []
    size = 0
    for char in line:
        width = len(char.encode("utf-8"))
        if current and size + width > limit - (1 if folded else 0):
            carry = current.pop() if len(current) > 1 and current[-1] == "\\" else ""
            folded.append("".join(current))
            current = [carry] if carry else []
            size = len(carry)
        current.append(char)
        size += width
    folded.append("".join(current))
    return "\r\n ".join(folded)


TRICKY_TEXTS = ["", "plain", "a;b,c\\d", "line\nbreak\r\nand\rreturn", "literal \\N here", "ё" * 3 + "\\" * 5,
                "Замена газовой плиты, ул. Ленина; д. 1\\" * 7, "x" * 74 + "\\;" + "y" * 80, "€😀" * 60,
                "a" * 73 + "ж" + "b" * 200, "\\" * 200]


@pytest.mark.parametrize("value", TRICKY_TEXTS)
def test_the_feed_escapes_text_as_icalendar_does(value: str) -> None:
    assert ical._text(value) == vText(value).to_ical().decode("utf-8")


@pytest.mark.parametrize("value", TRICKY_TEXTS)
def test_the_feed_folds_on_bytes_exactly_as_character_by_character(value: str) -> None:
    for line in (f"SUMMARY:{ical._text(value)}", f"X:{value}", value):
        folded = ical._fold(line)
        assert folded == _fold_char_by_char(line)
        assert folded.replace("\r\n ", "") == line
        assert all(len(part.encode("utf-8")) <= 75 for part in folded.split("\r\n"))
