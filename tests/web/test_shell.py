"""The web shell: health check, language, error pages, landmarks."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import OperationalError

from tests.helpers import csrf_token


def test_healthz_reports_the_database(client: Any) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_healthz_answers_503_when_the_database_is_unreachable(client: Any, monkeypatch: Any) -> None:
    from scheduler.extensions import db

    def broken(*_a: Any, **_k: Any) -> None:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    # The check asks the session's connection outside the request's transaction: break that connection
    # (tests/web/test_readiness.py answers 503 with no database server at all).
    monkeypatch.setattr(db.engine, "exec_driver_sql", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["status"] == "error"


def test_pages_speak_russian_by_default_and_english_on_request(client: Any) -> None:
    page = client.get("/").get_data(as_text=True)
    assert '<html lang="ru">' in page
    assert "Консультации" in page
    token = csrf_token(client, "/")
    response = client.post("/language", data={"lang": "en", "next": "/", "csrf_token": token})
    assert response.status_code == 302
    english = client.get("/").get_data(as_text=True)
    assert '<html lang="en">' in english
    assert "Consultations with public services" in english


def test_language_switch_never_redirects_off_site(client: Any) -> None:
    token = csrf_token(client, "/")
    response = client.post("/language", data={"lang": "en", "next": "//evil.example/", "csrf_token": token})
    assert response.headers["Location"] == "/"


def test_pages_have_landmarks_and_a_skip_link(client: Any) -> None:
    page = client.get("/").get_data(as_text=True)
    assert 'href="#main"' in page
    assert '<main id="main"' in page
    assert "<nav" in page and "<header" in page and "<footer" in page
    assert 'name="viewport"' in page


def test_not_found_page_is_styled_and_localised(client: Any) -> None:
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "Страница не найдена" in response.get_data(as_text=True)


def test_api_errors_are_json(client: Any) -> None:
    response = client.get("/api/v1/no-such-endpoint")
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


def test_vendored_css_is_served_locally(client: Any) -> None:
    page = client.get("/").get_data(as_text=True)
    assert "cdn" not in page.lower()
    response = client.get("/static/vendor/pico/pico.min.css")
    assert response.status_code == 200
    assert b"Pico CSS" in response.data
    response.close()


def test_every_page_names_its_icon_so_browsers_do_not_ask_for_a_missing_favicon(client: Any) -> None:
    import re

    page = client.get("/").get_data(as_text=True)
    found = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', page)
    assert found, "the page names no icon: every browser then requests /favicon.ico and gets a 404"
    icon = client.get(found.group(1))
    try:
        assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
        assert b"<svg" in icon.data
    finally:
        icon.close()  # a static file is sent from an open file


def test_a_citizen_finds_their_bookings_from_every_page(client: Any, session: Any) -> None:
    """The personal page (/me) is in the header of every page a citizen sees, the expired link's page included."""
    from tests.booking_fixtures import bookable_setup

    setup = bookable_setup(session)
    for path in ("/", f"/topics/{setup.topic.slug}", "/me", "/privacy", "/me/no-such-link"):
        page = client.get(path).get_data(as_text=True)
        assert '<a href="/me">Мои записи</a>' in page, path
