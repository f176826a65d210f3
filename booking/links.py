"""Public addresses of a booking: the manage page, its invitation and the citizen's page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from booking.codes import manage_token
from booking.models import Booking


def manage_token_for(booking: Booking, config: Mapping[str, Any]) -> str:
    return manage_token(str(config["SECRET_KEY"]), booking.code, booking.manage_token_salt)


def manage_url(booking: Booking, config: Mapping[str, Any]) -> str:
    query = urlencode({"token": manage_token_for(booking, config)})
    return f"{config['PUBLIC_BASE_URL']}/manage/{booking.code}?{query}"


def ics_url(booking: Booking, config: Mapping[str, Any]) -> str:
    query = urlencode({"token": manage_token_for(booking, config)})
    return f"{config['PUBLIC_BASE_URL']}/api/v1/bookings/{booking.code}/invite.ics?{query}"
