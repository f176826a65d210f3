"""API rate limits: per partner key when a valid one is presented, per address otherwise.

A partner sends all of its citizens' requests from one address, so limiting partners per
address would throttle a whole city portal as if it were one visitor. Flask-Limiter checks
limits in an app-level ``before_request`` hook, before any blueprint hook could identify
the partner, so the key function looks the key up itself (once per request, cached on ``g``).
A wrong or revoked key counts against the caller's address, like an anonymous request.
"""

from __future__ import annotations

from flask import Blueprint, current_app
from flask_limiter.util import get_remote_address

from booking.api.auth import current_partner
from scheduler.extensions import limiter


def _partner_id() -> int | None:
    partner = current_partner()
    return partner.id if partner is not None else None


def rate_limit_key() -> str:
    partner = _partner_id()
    if partner is not None:
        return f"partner:{partner}"
    return f"ip:{get_remote_address()}"


def anonymous_limit() -> str:
    return str(current_app.config.get("API_RATE_LIMIT", "300 per minute"))


def partner_limit() -> str:
    return str(current_app.config.get("API_PARTNER_RATE_LIMIT", "6000 per minute"))


def api_limit() -> str:
    """The partner budget for a request with a valid key, the anonymous one otherwise."""
    return partner_limit() if _partner_id() is not None else anonymous_limit()


def apply_api_limits(bp: Blueprint) -> None:
    limiter.limit(api_limit, key_func=rate_limit_key)(bp)
