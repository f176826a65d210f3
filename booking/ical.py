"""The booking's calendar invitation (RFC 5545 / RFC 5546): REQUEST, updated by SEQUENCE, or CANCEL.

Instants are written in UTC: every calendar program converts UTC to the reader's zone the
same way, while VTIMEZONE blocks are read differently by different programs.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any
from urllib.parse import urlsplit

from flask_babel import force_locale
from flask_babel import gettext as _
from icalendar import Alarm, Calendar, Event, vCalAddress, vText

from booking.codes import display_code
from booking.links import manage_url
from booking.models import Booking, BookingStatus


def booking_uid(booking: Booking, config: Mapping[str, Any]) -> str:
    host = urlsplit(str(config["PUBLIC_BASE_URL"])).hostname or "okno"
    return f"booking-{booking.code}@{host}"


def invitation(booking: Booking, config: Mapping[str, Any], now: datetime, method: str | None = None) -> bytes:
    """The current version of the booking as an iCalendar object (CANCEL once cancelled)."""
    cancelled = booking.status == BookingStatus.CANCELLED
    method = method or ("CANCEL" if cancelled else "REQUEST")
    with force_locale(booking.locale or "ru"):
        calendar = Calendar()
        calendar.add("prodid", "-//okno//consultations//RU")
        calendar.add("version", "2.0")
        calendar.add("method", method)
        event = Event()
        event.add("uid", booking_uid(booking, config))
        event.add("sequence", booking.sequence)
        event.add("dtstamp", now)
        event.add("dtstart", booking.starts_at)
        event.add("dtend", booking.ends_at)
        event.add("summary", _("Consultation: %(topic)s", topic=booking.topic.title))
        if booking.location is not None:
            event.add("location", f"{booking.location.name}, {booking.location.address}")
        else:
            event.add("location", _("Video consultation: the join link is on your booking page"))
        link = manage_url(booking, config)
        event.add("description", _("Booking code: %(code)s\nManage your booking: %(url)s",
                                   code=display_code(booking.code), url=link))
        event.add("url", link)
        event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
        event.add("transp", "OPAQUE")
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
            alarm = Alarm()
            alarm.add("action", "DISPLAY")
            alarm.add("description", _("Consultation: %(topic)s", topic=booking.topic.title))
            alarm.add("trigger", timedelta(hours=-1))
            event.add_component(alarm)
        calendar.add_component(event)
    return calendar.to_ical()


__all__ = ["booking_uid", "invitation"]
