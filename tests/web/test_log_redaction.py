"""Every address okno sends out with a secret is redacted in logs; a new tokened route cannot be forgotten."""

from __future__ import annotations

from flask import Flask

from booking.links import feed_url, ics_url, manage_url, personal_url, ticket_url, video_join_url
from booking.models import Booking
from scheduler.redaction import redact

SECRET = "Zq8SECRETtoken0123456789abcdefXYZ"


def test_every_route_that_takes_a_token_is_redacted(app: Flask) -> None:
    tokened = [rule for rule in app.url_map.iter_rules() if "token" in rule.arguments]
    assert tokened, "the personal page and the calendar feed take a token in their path"
    for rule in tokened:
        values = {name: SECRET if name == "token" else "ABCD2345" for name in rule.arguments}
        path = rule.build(values, append_unknown=False)[1]  # type: ignore[index]
        assert SECRET in path and SECRET not in redact(f'"GET {path} HTTP/1.1"'), rule.rule


def test_every_emailed_link_is_redacted(app: Flask) -> None:
    booking = Booking(code="ABCD2345", manage_token_salt="salt")
    config = {"SECRET_KEY": app.config["SECRET_KEY"]}
    with app.app_context():
        links = [manage_url(booking, config), ics_url(booking, config), video_join_url(booking, config),
                 personal_url(SECRET), feed_url(SECRET), ticket_url("2026-000001", SECRET)]
    for link in links:
        assert redact(link) != link, link
        assert "[redacted]" in redact(link)
        assert SECRET not in redact(link)
        assert "token=" not in redact(link) or "token=[redacted]" in redact(link)
