"""The admin's outbox page in a real Chromium without JavaScript: a given-up message is sent again by the real
worker over real SMTP, and axe-core finds nothing on the page."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from scheduler.app import create_app
from scheduler.auth.models import Role
from scheduler.extensions import db
from scheduler.mail.compose import queue_email
from scheduler.mail.models import OutboxStatus
from tests.conftest import app_config
from tests.e2e.conftest import LiveServer, assert_accessible
from tests.helpers import TEST_PASSWORD, make_user

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def seed_admin_and_abandoned_mail(database_url: str, instance: Path) -> tuple[str, int]:
    app = create_app(app_config(database_url, instance), instance_path=str(instance))
    with app.app_context():
        email = make_user(db.session, role=Role.ADMIN).email
        message = queue_email(db.session, to="given.up@example.org", template="test_message",
                              context={"name": "Анна"})
        message.status, message.attempts = OutboxStatus.FAILED, 10
        message.last_error = "SMTPDataError: (451, b'4.3.0 Temporary failure')"
        db.session.commit()
        message_id = message.id
        db.session.remove()
        db.engine.dispose()
    return email, message_id


def sign_in(context: Any, email: str) -> Any:
    page = context.new_page()
    page.goto("/staff/login")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(TEST_PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page).not_to_have_url(re.compile(r"/staff/login"))
    return page


def test_an_admin_requeues_given_up_mail_without_javascript(browser: Any, live_server: LiveServer,
                                                            tmp_path: Path, restore_jobs: None) -> None:
    email, message_id = seed_admin_and_abandoned_mail(live_server.database_url, tmp_path / "seed")
    for viewport in ({"width": 390, "height": 844}, {"width": 1366, "height": 900}):  # a phone, a desktop
        checked = browser.new_context(viewport=viewport, base_url=live_server.url)
        try:
            page = sign_in(checked, email)
            page.goto("/staff/outbox")
            assert_accessible(page)
        finally:
            checked.close()
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    context.set_default_timeout(15_000)
    try:
        page = sign_in(context, email)
        expect(page.locator("#abandoned-mail")).to_have_text("1 письмо с прекращённой отправкой")
        page.goto("/staff/outbox")
        row = page.locator(f"#abandoned-{message_id}")
        expect(row).to_contain_text("given.up@example.org")
        row.get_by_role("button", name=re.compile("Отправить ещё раз")).click()
        expect(page.locator(".flash-success")).to_have_text("1 письмо будет отправлено ещё раз.")
        expect(page.locator(f"#abandoned-{message_id}")).to_have_count(0)
        # The commit nudged the running worker, which delivers over the real SMTP server.
        [delivered] = live_server.wait_for_mail("given.up@example.org", 1)
        assert "Здравствуйте, Анна!" in live_server.message_text(delivered)
    finally:
        context.close()
