"""The public JSON API, version 1 (see the OpenAPI document at /api/v1/openapi.json)."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def register_routes() -> None:
    """Import the route modules once, so that they attach their views to ``bp``."""
    from booking.analytics import api as analytics  # noqa: F401
    from booking.api import bookings, catalogue, openapi  # noqa: F401
    from booking.tickets import api as tickets  # noqa: F401
