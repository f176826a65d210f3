"""A supervisor's pages in a real Chromium, on a phone and on a desktop: axe-core finds nothing on any of them,
the Content-Security-Policy refuses nothing, and the dashboard draws its charts."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from scheduler.app import create_app
from scheduler.auth.models import Role
from scheduler.experts.models import Expert
from scheduler.extensions import db
from tests.booking_fixtures import Setup, next_working_day
from tests.conftest import app_config
from tests.e2e.conftest import assert_accessible
from tests.helpers import TEST_PASSWORD, make_user
from tests.ticket_fixtures import completed_booking

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PAGES = ["/staff/", "/staff/schedules/", "/staff/schedules/experts/{expert}", "/staff/workspace/",
         "/staff/tickets/", "/staff/tickets/rating", "/staff/analytics/", "/staff/reception/"]


def seed_supervisor(database_url: str, instance: Path, expert_id: int) -> tuple[str, date]:
    """A supervisor of the expert's department, and a held consultation (on the returned day) to chart."""
    app = create_app(app_config(database_url, instance), instance_path=str(instance))
    with app.app_context():
        expert = db.session.get(Expert, expert_id)
        department = expert.department
        email = make_user(db.session, role=Role.SUPERVISOR, department_id=department.id).email
        setup = Setup(department, expert.topics[0], [expert], next_working_day(department))
        completed_booking(db.session, setup)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return email, setup.day


@pytest.mark.parametrize("viewport", [{"width": 390, "height": 844}, {"width": 1366, "height": 900}],
                         ids=["phone", "desktop"])
def test_a_supervisors_pages_pass_axe(browser: Any, live_server: Any, tmp_path: Path, viewport: dict[str, int],
                                      restore_jobs: None) -> None:
    email, day = seed_supervisor(live_server.database_url, tmp_path / "seed", live_server.expert_ids[0])
    context = browser.new_context(viewport=viewport, base_url=live_server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        page.goto("/staff/login")
        page.locator("input[name=email]").fill(email)
        page.locator("input[name=password]").fill(TEST_PASSWORD)
        page.locator("main form button[type=submit]").click()
        expect(page).not_to_have_url(re.compile(r"/staff/login"))
        for path in PAGES:
            response = page.goto(path.format(expert=live_server.expert_ids[0]))
            assert response is not None and response.status == 200, path
            assert_accessible(page)
        # The dashboard's charts (static/js/charts.js, under the page's policy) are drawn from their tables.
        page.goto(f"/staff/analytics/?to={day.isoformat()}")
        expect(page.locator("figure.chart").first).to_be_visible()
        drawn = page.evaluate("Array.from(document.querySelectorAll('figure.chart canvas'))"
                              ".filter(c => window.Chart.getChart(c) && c.width > 0).length")
        assert drawn == page.locator("figure.chart").count() > 0
    finally:
        context.close()
