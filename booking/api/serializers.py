"""A booking as the API shows it (the contract's booking object)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app

from booking.api.catalogue import location_json
from booking.links import ics_url, manage_url
from booking.models import Booking


def office_zone(booking: Booking) -> ZoneInfo:
    """The zone the citizen's appointment is told in: the office's for a visit, the department's for video."""
    return booking.location.zone if booking.location is not None else booking.topic.department.zone


def _video(booking: Booking, config: Mapping[str, Any]) -> dict[str, Any] | None:
    """The video object comes from the video package, which the composition root plugs in here."""
    describe = current_app.extensions.get("okno.video_info")
    return describe(booking, config) if describe is not None else None


def booking_json(booking: Booking, config: Mapping[str, Any]) -> dict[str, Any]:
    zone = office_zone(booking)
    return {
        "code": booking.code,
        "status": booking.status.value,
        "topic": booking.topic.slug,
        "channel": booking.channel.value,
        "start": booking.starts_at.astimezone(zone).isoformat(),
        "end": booking.ends_at.astimezone(zone).isoformat(),
        "expert": {"id": booking.expert.id, "name": booking.expert.name},
        "location": location_json(booking.location),
        "citizen": {
            "name": booking.citizen_name,
            "email": booking.citizen_email,
            "phone": booking.citizen_phone,
            "applicant_type": booking.applicant_type.value,
            "organisation": booking.organisation,
            "inn": booking.inn,
        },
        "manage_url": manage_url(booking, config),
        "ics_url": ics_url(booking, config),
        "video": _video(booking, config),
    }
