"""The session cookie holds a citizen's email and manage grants: sealed, so whoever sees it reads nothing."""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from pathlib import Path
from typing import Any

from flask import Flask, request
from flask.testing import FlaskClient
from sqlalchemy import select

from booking.links import manage_token_for
from booking.models import Booking
from scheduler.app import create_app
from scheduler.mail.compose import read_content
from scheduler.mail.models import OutboxMessage
from tests.booking_fixtures import bookable_setup
from tests.conftest import app_config
from tests.helpers import csrf_token
from tests.integration.test_workspace_services import confirmed


def open_personal_page(client: FlaskClient, session: Any, email: str) -> str:
    """Ask for the personal-page link as a citizen does, and follow the one emailed; returns its path."""
    assert client.post("/me", data={"email": email, "csrf_token": csrf_token(client, "/me")}).status_code == 302
    mail = session.scalars(select(OutboxMessage).where(OutboxMessage.template == "citizen_link")
                           .order_by(OutboxMessage.id.desc())).first()
    path = re.search(r"https?://[^/\s]+(/me/[\w-]+)", read_content(mail).text_body).group(1)
    followed = client.get(path)
    assert followed.status_code == 302 and followed.headers["Location"].endswith("/me")
    return path


def attacker_reading(cookie: str) -> str:
    """Everything a cookie shows without the key: itsdangerous's parts, base64-decoded (and inflated)."""
    forms = [cookie]
    for piece in [cookie, *cookie.split(".")]:
        try:
            raw = base64.urlsafe_b64decode(piece + "=" * (-len(piece) % 4))
        except (binascii.Error, ValueError):
            continue
        forms.append(raw.decode("utf-8", "replace"))
        try:
            forms.append(zlib.decompress(raw).decode("utf-8", "replace"))
        except zlib.error:
            pass
    return "\n".join(forms)


def session_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("session", domain="okno.example.org")
    assert cookie is not None
    return cookie.value


def test_the_session_cookie_reveals_no_email_or_grant(app: Flask, client: FlaskClient, session: Any) -> None:
    setup = bookable_setup(session)
    booking = confirmed(session, setup, 10)
    open_personal_page(client, session, booking.citizen_email)
    page = client.get("/me")
    assert page.status_code == 200 and booking.code in page.get_data(as_text=True)
    # A manage link from an email, traded for a grant in the session.
    assert client.get(f"/manage/{booking.code}?token={manage_token_for(booking, app.config)}").status_code == 302
    with client.session_transaction() as held:  # opened with the key: the email and the grant are there
        assert held["citizen_email"] == booking.citizen_email and booking.code in held["manage"]

    seen = attacker_reading(session_cookie(client))
    for secret in (booking.citizen_email, manage_token_for(booking, app.config),
                   booking.code, "citizen_email", "manage"):
        assert secret not in seen, secret


def test_a_cookie_from_one_node_opens_on_another_sharing_the_key(app: Flask, client: FlaskClient, session: Any,
                                                                 database_url: str, tmp_path: Path) -> None:
    """Sessions stay stateless: a second instance with the same SECRET_KEY (and nothing else shared) reads it;
    one with another key does not; one that lists the old key as a fallback after a rotation does."""
    setup = bookable_setup(session)
    booking = confirmed(session, setup, 10)
    open_personal_page(client, session, booking.citizen_email)
    client.get(f"/manage/{booking.code}?token={manage_token_for(booking, app.config)}")
    cookie = session_cookie(client)

    def opened_by(**overrides: Any) -> dict[str, Any]:
        node = create_app(app_config(database_url, tmp_path, **overrides), instance_path=str(tmp_path))
        with node.test_request_context("/me", headers={"Cookie": f"session={cookie}"}):
            return dict(node.session_interface.open_session(node, request) or {})

    other_node = opened_by()
    assert other_node["citizen_email"] == booking.citizen_email
    assert other_node["manage"] == {booking.code: manage_token_for(booking, app.config)}
    assert opened_by(SECRET_KEY="another-secret-key-that-is-long-enough-98765") == {}
    rotated = opened_by(SECRET_KEY="another-secret-key-that-is-long-enough-98765",
                        SECRET_KEY_FALLBACKS=app.config["SECRET_KEY"])
    assert rotated["citizen_email"] == booking.citizen_email


def test_a_forged_or_damaged_cookie_is_an_empty_session(client: FlaskClient, session: Any) -> None:
    setup = bookable_setup(session)
    booking = confirmed(session, setup, 10)
    open_personal_page(client, session, booking.citizen_email)
    client.get("/me")
    cookie = session_cookie(client)
    client.set_cookie("session", cookie[:-6] + ("AAAAAA" if not cookie.endswith("AAAAAA") else "BBBBBB"),
                      domain="okno.example.org")
    page = client.get("/me")
    assert page.status_code == 200 and booking.code not in page.get_data(as_text=True)
    assert session.scalar(select(Booking.code)) == booking.code
