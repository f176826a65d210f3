"""A supervisor's pages in a real Chromium, on a phone and on a desktop: axe-core finds nothing on any of them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from scheduler.app import create_app
from scheduler.auth.models import Role
from scheduler.experts.models import Expert
from scheduler.extensions import db
from tests.conftest import app_config
from tests.e2e.conftest import assert_accessible
from tests.helpers import TEST_PASSWORD, make_user

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PAGES = ["/staff/", "/staff/schedules/", "/staff/schedules/experts/{expert}", "/staff/workspace/",
         "/staff/tickets/", "/staff/tickets/rating", "/staff/analytics/", "/staff/reception/"]


def seed_supervisor(database_url: str, instance: Path, expert_id: int) -> str:
    app = create_app(app_config(database_url, instance), instance_path=str(instance))
    with app.app_context():
        department_id = db.session.get(Expert, expert_id).department_id
        email = make_user(db.session, role=Role.SUPERVISOR, department_id=department_id).email
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return email


@pytest.mark.parametrize("viewport", [{"width": 390, "height": 844}, {"width": 1366, "height": 900}],
                         ids=["phone", "desktop"])
def test_a_supervisors_pages_pass_axe(browser: Any, live_server: Any, tmp_path: Path, viewport: dict[str, int],
                                      restore_jobs: None) -> None:
    email = seed_supervisor(live_server.database_url, tmp_path / "seed", live_server.expert_ids[0])
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
    finally:
        context.close()
