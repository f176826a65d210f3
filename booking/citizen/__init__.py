"""The citizen's pages: topics and free times, the booking wizard, the manage and personal pages."""


def register_routes() -> None:
    """Import the route modules once, so that they attach their views to the citizen blueprint."""
    from booking.citizen import manage, personal, views, wizard  # noqa: F401
