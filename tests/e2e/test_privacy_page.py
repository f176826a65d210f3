"""The personal-data policy in a real Chromium on a phone: reached from every page's footer, axe finds nothing."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from tests.e2e.conftest import assert_accessible


def test_the_policy_page_is_reached_from_the_footer_and_is_accessible(phone_page: Page, live_server: Any) -> None:
    page = phone_page
    page.goto("/")
    page.get_by_role("contentinfo").get_by_role("link", name="Политика обработки персональных данных").tap()
    expect(page.get_by_role("heading", level=1)).to_have_text("Политика обработки персональных данных")
    expect(page.get_by_role("table")).to_contain_text("7 дней")
    assert_accessible(page)
