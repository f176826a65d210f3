"""Every public address okno sends out (email, calendars, the API), built from the URL map on PUBLIC_BASE_URL.

The app's SERVER_NAME, PREFERRED_URL_SCHEME and APPLICATION_ROOT come from PUBLIC_BASE_URL
(``scheduler.config``), so these work in a request, in a job and in the CLI alike, and always point
at the public address, whichever host a request came in on. ``config`` arguments supply the secret
key that derives a link's token; the address itself is the app's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flask import current_app
from flask.globals import app_ctx

from booking.codes import CODE_LENGTH, manage_token
from booking.models import Booking


def public_url(endpoint: str, **values: Any) -> str:
    """The absolute public address of ``endpoint``; values the route does not take become the query.

    This is ``url_for(endpoint, _external=True, **values)`` as it works in a job or the CLI: built on the
    app's own binding (SERVER_NAME, APPLICATION_ROOT and PREFERRED_URL_SCHEME), even inside a request,
    whose binding would take the scheme and script root the request came in with. Binding once per app
    context also keeps an expert's feed of thousands of links fast.
    """
    adapter = app_ctx.url_adapter
    if adapter is None:
        raise RuntimeError("SERVER_NAME is not set: it comes from PUBLIC_BASE_URL (scheduler.config)")
    current_app.inject_url_defaults(endpoint, values)
    return adapter.build(endpoint, values, force_external=True)


def manage_token_for(booking: Booking, config: Mapping[str, Any]) -> str:
    return manage_token(str(config["SECRET_KEY"]), booking.code, booking.manage_token_salt)


def manage_url(booking: Booking, config: Mapping[str, Any]) -> str:
    """The citizen's manage page, opened by its token."""
    return public_url("citizen.manage", code=booking.code, token=manage_token_for(booking, config))


def ics_url(booking: Booking, config: Mapping[str, Any]) -> str:
    """The booking's invitation file, opened by the manage token."""
    return public_url("api.invite", code=booking.code, token=manage_token_for(booking, config))


def video_join_url(booking: Booking, config: Mapping[str, Any]) -> str:
    """The citizen's video join page, carrying the manage token as the manage link does: the page admits
    only the booking's holder, and an email or a calendar entry must open it."""
    return public_url("video.citizen_join", code=booking.code, token=manage_token_for(booking, config))


# Not a booking code (CODE_ALPHABET has no 1), so it marks the code's place in a built address.
_CODE_MARKER = "1" * CODE_LENGTH


def _by_code(endpoint: str) -> Callable[[str], str]:
    """``code -> public_url(endpoint, code=code)`` for thousands of links (an expert's feed).

    The URL map builds the address once; each link puts its code in the marker's place, as the map
    would: codes are URL-safe by construction, so they are never quoted.
    """
    head, _marker, tail = public_url(endpoint, code=_CODE_MARKER).rpartition(_CODE_MARKER)
    return lambda code: f"{head}{code}{tail}"


def expert_video_urls() -> Callable[[str], str]:
    """Booking code -> the expert's video join page (behind staff sign-in)."""
    return _by_code("video.expert_join")


def workspace_booking_urls() -> Callable[[str], str]:
    """Booking code -> the consultation card in the expert's workspace."""
    return _by_code("workspace.booking")


def personal_url(token: str) -> str:
    """The citizen's magic link to the personal page."""
    return public_url("citizen.personal_link", token=token)


def feed_url(token: str) -> str:
    """An expert's calendar subscription address."""
    return public_url("feed.calendar_feed", token=token)


def ticket_url(number: str, token: str) -> str:
    """The citizen's page of a follow-up ticket, opened by its token."""
    return public_url("tickets.citizen_view", number=number, token=token)


def staff_ticket_url(number: str) -> str:
    """A ticket's page for staff (behind sign-in)."""
    return public_url("tickets.staff_ticket", number=number)
