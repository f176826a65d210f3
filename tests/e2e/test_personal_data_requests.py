"""An admin answers a citizen's request about their data in a real Chromium: by keyboard, on a phone and a
desktop, with a mistake first; the results and the export; axe-core finds nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from scheduler.app import create_app
from scheduler.auth.models import Role
from scheduler.extensions import db
from tests.booking_fixtures import bookable_setup
from tests.conftest import app_config
from tests.e2e.conftest import LiveServer, assert_accessible
from tests.e2e.test_outbox_page import sign_in
from tests.helpers import make_user
from tests.ticket_fixtures import completed_booking

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EMAIL = "anna.petrova@example.org"


def seed(database_url: str, instance: Path) -> tuple[str, str]:
    app = create_app(app_config(database_url, instance), instance_path=str(instance))
    with app.app_context():
        admin = make_user(db.session, role=Role.ADMIN).email
        booking = completed_booking(db.session, bookable_setup(db.session, slug="privacy-walk"), 1, email=EMAIL)
        db.session.commit()
        code = booking.code
        db.session.remove()
        db.engine.dispose()
    return admin, code


def test_an_admin_finds_and_exports_a_citizens_data_by_keyboard(browser: Any, live_server: LiveServer,
                                                                tmp_path: Path, restore_jobs: None) -> None:
    admin, code = seed(live_server.database_url, tmp_path / "seed")
    for viewport in ({"width": 390, "height": 844}, {"width": 1366, "height": 900}):  # a phone, a desktop
        context = browser.new_context(viewport=viewport, base_url=live_server.url, accept_downloads=True)
        try:
            page = sign_in(context, admin)
            page.get_by_role("link", name="Персональные данные гражданина").focus()
            page.keyboard.press("Enter")
            expect(page.get_by_role("heading", level=1)).to_have_text("Персональные данные гражданина")
            assert_accessible(page)
            email = page.get_by_role("textbox", name="Электронная почта")
            email.fill("anna@")
            email.press("Enter")
            expect(page.get_by_text("Проверьте адрес электронной почты")).to_be_visible()
            assert_accessible(page)
            page.get_by_role("textbox", name="Электронная почта").fill(EMAIL)
            page.get_by_role("button", name="Найти").focus()
            page.keyboard.press("Enter")
            expect(page.get_by_role("heading", level=2)).to_have_text("Найдена 1 запись")
            expect(page.get_by_role("table").first).to_contain_text(code)
            assert EMAIL not in page.url
            assert_accessible(page)
            page.get_by_text("Удалить данные гражданина").click()  # the erasure form, refused without the box
            page.get_by_role("button", name="Удалить", exact=True).press("Enter")
            expect(page.get_by_text("Подтвердите, что вы проверили личность гражданина и его запрос.")).to_be_visible()
            assert_accessible(page)
            page.get_by_text("Исправить данные гражданина").click()  # the correction form, open and checked
            assert_accessible(page)
            with page.expect_download() as download:
                page.get_by_role("button", name="Скачать всё (JSON)").press("Enter")
            document = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
            assert [b["code"] for b in document["bookings"]] == [code]
        finally:
            context.close()
