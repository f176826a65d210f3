"""Calendar objects (RFC 5545): the citizen's invitation (RFC 5546) and the expert's subscription feed.

Time zones: every DTSTART/DTEND/DTSTAMP is a UTC instant (``...Z``) and no VTIMEZONE is written.
The icalendar package (7.x) builds a VTIMEZONE from a zoneinfo zone as long RDATE lists
(``Timezone.from_tzinfo``: one RDATE per transition, 1970-2038 only). Outlook ignores
RDATE-based rules and Thunderbird's ical.js reads only the first date of an RDATE list, so such
an event can show an hour off. UTC is read the same way by Outlook, Google, Apple Calendar and
Thunderbird, and each converts it to the reader's own zone; the office's zone is named in the
text of the email and of the manage page, where people read it. (The alternative, a VTIMEZONE
built from RRULEs, would need its own generator and buys nothing for one-off events.)

LOCATION is the office's address or, for video, the join page: the citizen's (carrying the
manage token, as the manage link in the same invitation does) or, in the expert's feed, the
expert's own (behind staff sign-in).

Text values (SUMMARY, DESCRIPTION, LOCATION) are escaped and folded by icalendar: lines of at
most 75 octets, never split inside a UTF-8 character (tests/unit/booking/test_ical.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from flask_babel import force_locale
from flask_babel import gettext as _
from icalendar import Alarm, Calendar, Event, vCalAddress, vDuration, vText

from booking.codes import display_code
from booking.links import expert_video_urls, manage_url, video_join_url, workspace_booking_urls
from booking.models import Booking, BookingStatus
from scheduler.schedules.models import Channel

PRODID = "-//okno//consultations//RU"
REMINDER_BEFORE = timedelta(hours=1)
_END_CALENDAR = b"END:VCALENDAR\r\n"

# How much of the citizen an expert's feed shows (Expert.feed_detail).
FEED_DETAIL_MINIMAL = "minimal"  # topic, channel and booking code only
FEED_DETAIL_NAMES = "names"  # and the citizen's name
FEED_DETAILS = (FEED_DETAIL_MINIMAL, FEED_DETAIL_NAMES)

# Bookings an expert's feed shows: cancelled ones and unconfirmed holds are left out, so that a
# subscribed calendar drops them at its next refresh.
FEED_STATUSES = (BookingStatus.CONFIRMED, BookingStatus.CHECKED_IN, BookingStatus.COMPLETED, BookingStatus.NO_SHOW)


def _host(config: Mapping[str, Any]) -> str:
    return urlsplit(str(config["PUBLIC_BASE_URL"])).hostname or "okno"


def booking_uid(booking: Booking, config: Mapping[str, Any]) -> str:
    """The invitation's UID: fixed for the booking's life, so updates and cancellations replace it."""
    return f"booking-{booking.code}@{_host(config)}"


def feed_uid(booking: Booking | FeedEvent, config: Mapping[str, Any]) -> str:
    """The feed's UID: stable too, but distinct from the invitation the citizen holds."""
    return _feed_uid(booking.code, _host(config))


def _feed_uid(code: str, host: str) -> str:
    return f"consultation-{code}@{host}"


class FeedEvent(NamedTuple):
    """What the feed shows of one consultation: read as plain columns (thousands of them), not as models."""

    code: str
    sequence: int
    starts_at: datetime
    ends_at: datetime
    channel: str
    citizen_name: str
    topic_title: str
    location_name: str | None
    location_address: str | None

    @classmethod
    def of(cls, booking: Booking) -> FeedEvent:
        location = booking.location
        return cls(booking.code, booking.sequence, booking.starts_at, booking.ends_at, booking.channel,
                   booking.citizen_name, booking.topic.title, location.name if location else None,
                   location.address if location else None)


def _address(booking: Booking) -> str | None:
    if booking.channel == Channel.VIDEO or booking.location is None:
        return None
    return f"{booking.location.name}, {booking.location.address}"


def _calendar(method: str) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", method)
    return calendar


def invitation(booking: Booking, config: Mapping[str, Any], now: datetime, method: str | None = None) -> bytes:
    """The current version of the booking as an iCalendar object (CANCEL once cancelled)."""
    cancelled = booking.status == BookingStatus.CANCELLED
    method = method or ("CANCEL" if cancelled else "REQUEST")
    with force_locale(booking.locale or "ru"):
        calendar = _calendar(method)
        event = Event()
        event.add("uid", booking_uid(booking, config))
        event.add("sequence", booking.sequence)
        # Converted here, whatever zone the caller's instants carry: a zoned datetime would make
        # icalendar write a TZID (and the caller would have to add a VTIMEZONE).
        event.add("dtstamp", now.astimezone(UTC))
        event.add("dtstart", booking.starts_at.astimezone(UTC))
        event.add("dtend", booking.ends_at.astimezone(UTC))
        summary = _("Consultation: %(topic)s", topic=booking.topic.title)
        event.add("summary", summary)
        event.add("location", _address(booking) or video_join_url(booking, config))
        link = manage_url(booking, config)
        lines = [_("Booking code: %(code)s", code=display_code(booking.code))]
        if booking.channel == Channel.VIDEO:
            lines.append(_("Join the video consultation: %(url)s", url=video_join_url(booking, config)))
        lines.append(_("Manage your booking: %(url)s", url=link))
        event.add("description", "\n".join(lines))
        event.add("url", link)
        event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
        event.add("transp", "TRANSPARENT" if cancelled else "OPAQUE")
        _name, sender_address = parseaddr(str(config["MAIL_FROM"]))
        organizer = vCalAddress(f"mailto:{sender_address}")
        organizer.params["cn"] = vText(booking.topic.department.title)
        event.add("organizer", organizer)
        attendee = vCalAddress(f"mailto:{booking.citizen_email}")
        attendee.params["cn"] = vText(booking.citizen_name)
        attendee.params["role"] = vText("REQ-PARTICIPANT")
        attendee.params["partstat"] = vText("ACCEPTED")
        attendee.params["rsvp"] = vText("FALSE")
        event.add("attendee", attendee, encode=0)
        if not cancelled:
            event.add_component(_reminder(summary))
        calendar.add_component(event)
    return calendar.to_ical()


def _reminder(summary: str) -> Alarm:
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", summary)
    alarm.add("trigger", -REMINDER_BEFORE)
    return alarm


def feed_calendar(name: str, events: Iterable[FeedEvent], config: Mapping[str, Any], now: datetime, *,
                  detail: str = FEED_DETAIL_MINIMAL, locale: str = "ru") -> bytes:
    """An expert's consultations as a subscribable calendar (METHOD:PUBLISH).

    RFC 7986 NAME and REFRESH-INTERVAL, with the de-facto X-WR-CALNAME and X-PUBLISHED-TTL
    that Outlook and Apple Calendar read instead. No citizen contact details ever; the
    citizen's name only with ``detail="names"``.

    The calendar's head is built by icalendar; its events, thousands of them, are written here
    (icalendar folds every line character by character, which made 2,000 events take seconds),
    with icalendar's escaping rules and the same folding rules. Tests parse the result back.
    """
    refresh = timedelta(minutes=int(config["FEED_REFRESH_MINUTES"]))
    with force_locale(locale):
        calendar = _calendar("PUBLISH")
        # vText explicitly: icalendar does not type these two, and would leave them unescaped.
        calendar.add("name", vText(name))
        calendar.add("x-wr-calname", vText(name))
        calendar.add("refresh-interval", refresh, parameters={"VALUE": "DURATION"})
        calendar.add("x-published-ttl", vDuration(refresh))
        words = _FeedWords.current()
    # The head ends with END:VCALENDAR; the events go in before it.
    head = calendar.to_ical().removesuffix(_END_CALENDAR)
    stamp = _utc(now)
    links = _FeedLinks(workspace_booking_urls(), expert_video_urls())
    host = _host(config)
    parts = [head, *(_feed_event(event, host, stamp, detail, words, links) for event in events), _END_CALENDAR]
    return b"".join(parts)


@dataclass(frozen=True)
class _FeedLinks:
    """The staff addresses of the feed's events, each built from a booking code."""

    card: Callable[[str], str]
    join: Callable[[str], str]


class _FeedWords:
    """The feed's translated phrases, looked up once per feed rather than once per event."""

    __slots__ = ("card", "channel", "code", "in_person", "named", "plain", "video")

    def __init__(self, **words: str) -> None:
        for key, value in words.items():
            setattr(self, key, value)

    @classmethod
    def current(cls) -> _FeedWords:
        return cls(
            named=_("%(topic)s — %(name)s (%(code)s)"), plain=_("%(topic)s (%(code)s)"),
            code=_("Booking code: %(code)s"), channel=_("Channel: %(channel)s"),
            card=_("Consultation card: %(url)s"), video=_("Video"), in_person=_("In person"),
        )


def _utc(at: datetime) -> str:
    """``20260330T070000Z``: cut from the ISO form, several times quicker than strftime for a feed's 4,000."""
    iso = at.astimezone(UTC).isoformat()
    return f"{iso[0:4]}{iso[5:7]}{iso[8:10]}T{iso[11:13]}{iso[14:16]}{iso[17:19]}Z"


def _text(value: str) -> str:
    """An RFC 5545 TEXT value, escaped (backslash, semicolon, comma, newline) as icalendar's vText does,
    in the same order; without building a vText per value (a test compares the two)."""
    return (value.replace("\\N", "\n").replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n"))


_CONTINUATION = 0x80  # 10xxxxxx: the inside of a UTF-8 character
_BACKSLASH = ord("\\")


def _fold(line: str, limit: int = 75) -> str:
    """RFC 5545 folding: at most 75 octets a line, never inside a UTF-8 character or an escape.

    Cut on the encoded bytes, a line at a time: back off from a UTF-8 continuation byte to the
    character's start, and from a backslash so that an escape stays whole.
    """
    if len(line) * 4 <= limit or (len(line) <= limit and line.isascii()):
        return line
    data = line.encode("utf-8")
    if len(data) <= limit:
        return line
    pieces = []
    start = 0
    room = limit
    while len(data) - start > room:
        end = start + room
        while data[end] & 0xC0 == _CONTINUATION:
            end -= 1
        if end - 1 > start and data[end - 1] == _BACKSLASH:
            end -= 1
        pieces.append(data[start:end])
        start = end
        room = limit - 1  # continuation lines start with a space
    pieces.append(data[start:])
    return b"\r\n ".join(pieces).decode("utf-8")


def _feed_event(event: FeedEvent, host: str, stamp: str, detail: str, words: _FeedWords,
                links: _FeedLinks) -> bytes:
    code = display_code(event.code)
    topic = event.topic_title
    if detail == FEED_DETAIL_NAMES:
        summary = words.named % {"topic": topic, "name": event.citizen_name, "code": code}
    else:
        summary = words.plain % {"topic": topic, "code": code}
    card = links.card(event.code)
    video = event.channel == Channel.VIDEO
    channel = words.video if video else words.in_person
    description = "\n".join([words.code % {"code": code}, words.channel % {"channel": channel},
                             words.card % {"url": card}])
    address = None if video or event.location_name is None else f"{event.location_name}, {event.location_address}"
    # Lines of fixed shape are short ASCII: only those with a value of the user's are folded.
    return "\r\n".join([
        "BEGIN:VEVENT",
        _fold(f"UID:{_text(_feed_uid(event.code, host))}"),
        f"SEQUENCE:{int(event.sequence)}",
        f"DTSTAMP:{stamp}",
        f"DTSTART:{_utc(event.starts_at)}",
        f"DTEND:{_utc(event.ends_at)}",
        _fold(f"SUMMARY:{_text(summary)}"),
        _fold(f"LOCATION:{_text(address or links.join(event.code))}"),
        _fold(f"DESCRIPTION:{_text(description)}"),
        _fold(f"URL:{card}"),
        "STATUS:CONFIRMED",
        "TRANSP:OPAQUE",
        "END:VEVENT\r\n",
    ]).encode("utf-8")


__all__ = [
    "FEED_DETAILS",
    "FEED_DETAIL_MINIMAL",
    "FEED_DETAIL_NAMES",
    "FEED_STATUSES",
    "FeedEvent",
    "booking_uid",
    "feed_calendar",
    "feed_uid",
    "invitation",
]
