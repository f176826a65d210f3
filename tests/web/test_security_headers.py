"""Security headers on every page: every GET route, as a visitor and as an admin, carries the content policy,
framing, sniffing and referrer headers; pages are never stored; static files keep their caching."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.routing import Rule

from booking.links import manage_url
from scheduler.app import create_app
from scheduler.auth.models import Role
from scheduler.extensions import db
from scheduler.schedules.models import ReceptionDay
from scheduler.security_headers import CONTENT_SECURITY_POLICY
from tests.booking_fixtures import bookable_setup
from tests.conftest import app_config
from tests.helpers import login, make_user
from tests.reception_fixtures import a_day_ahead, reception_setup
from tests.ticket_fixtures import POLICY, completed_booking

BASELINE = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


def test_the_policy_allows_only_our_own_files_and_no_inline_code() -> None:
    directives = dict(d.split(" ", 1) for d in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert directives["form-action"] == "'self'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY


def get_routes(app: Flask) -> list[Rule]:
    return [r for r in app.url_map.iter_rules() if "GET" in (r.methods or ()) and r.endpoint != "static"]


def url_for_rule(rule: Rule, values: dict[str, Any]) -> str:
    """The rule's address with real values where the walk has them, and a made-up one (a 404) where not."""
    arguments = {name: values.get((rule.endpoint, name), values.get(name, "unknown1")) for name in rule.arguments}
    return rule.build(arguments, append_unknown=False)[1]  # type: ignore[index]


def assert_secured(response: Any, path: str) -> None:
    for name, value in BASELINE.items():
        assert response.headers.get(name) == value, (path, name, response.status_code)
    assert response.headers.get("Content-Security-Policy") == CONTENT_SECURITY_POLICY, path
    assert response.headers.get("Referrer-Policy") in ("same-origin", "no-referrer"), path
    assert "Strict-Transport-Security" not in response.headers, path  # not outside production
    cache = response.headers.get("Cache-Control", "")
    assert "no-store" in cache or cache == "private, no-cache", (path, cache)  # the feed revalidates


# What the policy would refuse: inline script (a script element without src, an on* handler, a javascript:
# address) and inline style (a style element or attribute). JSON data blocks are not run, so they may stay.
INLINE_CODE = re.compile(
    r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/(?:ld\+)?json\")[^>]*>|<style\b|\sstyle=|\son[a-z]+=|javascript:",
    re.IGNORECASE,
)


def assert_no_inline_code(html: str, path: str) -> None:
    found = INLINE_CODE.findall(html)
    assert found == [], (path, found)


@pytest.mark.parametrize("role", [None, Role.ADMIN, Role.SUPERVISOR])
def test_every_get_route_carries_the_security_headers(client: Any, session: Any, app: Flask, role: Role | None) -> None:
    setup = bookable_setup(session)
    booking = completed_booking(session, setup)
    desk = reception_setup(session, a_day_ahead())
    if role is not None:
        login(client, make_user(session, role=role, department_id=setup.department.id))
    values = {"slug": setup.topic.slug, "code": booking.code, "expert_id": setup.experts[0].id,
              ("reception.lobby", "slug"): desk.location.slug, ("reception.desk", "slug"): desk.location.slug,
              ("reception.desk_table", "slug"): desk.location.slug, "name": "bookings", "fmt": "csv",
              "day_id": session.scalar(select(ReceptionDay.id).where(ReceptionDay.location_id == desk.location.id))}
    statuses: dict[str, int] = {}
    html_pages = 0
    for rule in get_routes(app):
        path = url_for_rule(rule, values)
        response = client.get(path)
        statuses[path] = response.status_code
        assert_secured(response, path)
        if response.status_code == 200 and response.mimetype == "text/html":
            html_pages += 1
            assert response.headers["Cache-Control"] == "no-store", path
            assert_no_inline_code(response.get_data(as_text=True), path)
    # The walk reaches real pages, not only redirects and 404s.
    assert html_pages >= (12 if role else 5), statuses


def test_the_citizen_s_manage_page_and_api_answer_are_not_stored(client: Any, session: Any, app: Flask) -> None:
    setup = bookable_setup(session)
    booking = completed_booking(session, setup)
    link = manage_url(booking, {"SECRET_KEY": POLICY.secret_key}).removeprefix("http://okno.example.org")
    exchange = client.get(link)
    assert exchange.status_code == 302
    assert_secured(exchange, link)
    page = client.get(exchange.headers["Location"])
    assert page.status_code == 200 and booking.topic.title in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    token = link.split("token=")[1]
    answer = client.get(f"/api/v1/bookings/{booking.code}", query_string={"token": token})
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    assert_secured(answer, "api")


def test_static_files_keep_their_caching(client: Any) -> None:
    response = client.get("/static/css/okno.css")
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    response.close()


def test_a_404_and_an_error_page_carry_the_headers_too(client: Any) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert_secured(response, "/no/such/page")


def test_hsts_only_in_production(database_url: str, tmp_path: Path, redis_url: str) -> None:
    production = create_app(app_config(
        database_url, tmp_path, OKNO_ENV="production", PUBLIC_BASE_URL="https://okno.example.org",
        SMTP_HOST="smtp.example.org", REDIS_URL=redis_url, RATELIMIT_STORAGE_URI=redis_url,
        HSTS_MAX_AGE_SECONDS="600",
    ), instance_path=str(tmp_path))
    try:
        response = production.test_client().get("/healthz", base_url="https://okno.example.org")
        assert response.headers["Strict-Transport-Security"] == "max-age=600"
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    finally:
        with production.app_context():
            db.engine.dispose()


def test_forms_over_https_need_the_same_origin_referer_that_the_policy_keeps(client: Any) -> None:
    """Why the policy is same-origin, not no-referrer: over HTTPS the CSRF check refuses a form without a
    Referer from this site, which a no-referrer page would never send (its language and sign-out forms)."""
    https = "https://okno.example.org"
    page = client.get("/", base_url=https)
    assert page.headers["Referrer-Policy"] == "same-origin"
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    form = {"csrf_token": token, "lang": "en", "next": "/"}
    assert client.post("/language", data=form, base_url=https).status_code == 400
    answer = client.post("/language", data=form, base_url=https, headers={"Referer": f"{https}/"})
    assert answer.status_code == 302
