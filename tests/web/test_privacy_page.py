"""The public personal-data policy: periods read from the configuration, in Russian and English, linked."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from flask import Flask

from tests.booking_fixtures import bookable_setup
from tests.helpers import csrf_token


def rows(client: Any) -> dict[str, str]:
    page = client.get("/privacy")
    assert page.status_code == 200
    text = unescape(page.get_data(as_text=True))
    return dict(re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td></tr>", text))


def period_of(table: dict[str, str], start: str) -> str:
    (period,) = [period for what, period in table.items() if what.startswith(start)]
    return period


def test_the_periods_come_from_the_configuration_with_russian_plurals(client: Any, app: Flask,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    table = rows(client)
    assert len(table) == 8
    assert period_of(table, "Запись, ваш вопрос") == "1 год"
    assert period_of(table, "Копии писем") == "7 дней"
    assert period_of(table, "Запись, которую вы не подтвердили") == "1 день"
    assert period_of(table, "Сохранённый ответ") == "1 день"
    changed = {"RETENTION_BOOKINGS_DAYS": (730, "Запись, ваш вопрос", "2 года"),
               "RETENTION_OUTBOX_DAYS": (2, "Копии писем", "2 дня"),
               "RETENTION_TICKETS_DAYS": (90, "Обращение", "3 месяца"),
               "RETENTION_LINKS_DAYS": (21, "Ссылки", "21 день"),
               "RETENTION_AUDIT_DAYS": (1825, "Подробности", "5 лет")}
    for setting, (days, _start, _words) in changed.items():
        monkeypatch.setitem(app.config, setting, days)
    table = rows(client)
    assert {start: period_of(table, start) for _days, start, _words in changed.values()} == {
        start: words for _days, start, words in changed.values()}


def test_english_and_the_operators_contact(client: Any, app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "PRIVACY_OPERATOR", "Городской центр «Одно окно»")
    monkeypatch.setitem(app.config, "PRIVACY_CONTACT_EMAIL", "dpo@city.example.org")
    monkeypatch.setitem(app.config, "RETENTION_OUTBOX_DAYS", 1)
    page = unescape(client.get("/privacy").get_data(as_text=True))
    assert "Городской центр «Одно окно» обрабатывает" in page
    assert 'href="mailto:dpo@city.example.org"' in page
    client.post("/language", data={"lang": "en", "csrf_token": csrf_token(client, "/privacy")})
    table = rows(client)
    assert period_of(table, "Copies of the emails") == "1 day"
    assert period_of(table, "Your booking, your question") == "1 year"
    assert "Personal data policy" in client.get("/privacy").get_data(as_text=True)


def test_the_consent_checkbox_links_to_the_policy(client: Any, session: Any) -> None:
    setup = bookable_setup(session)
    page = client.get(f"/book/{setup.topic.slug}", query_string={"channel": "video", "start": setup.at(10).isoformat()})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    consent = re.search(r'<input[^>]*id="consent"[^>]*>', text)
    assert consent is not None and 'aria-describedby="consent-hint"' in consent.group(0)
    assert re.search(r'<small id="consent-hint"><a href="/privacy">', text)


def test_the_api_document_points_at_the_policy(client: Any) -> None:
    assert "/privacy" in client.get("/api/v1/openapi.json").get_json()["info"]["description"]
