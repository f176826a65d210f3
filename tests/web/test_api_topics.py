"""GET /api/v1/topics: the list each process keeps for TOPICS_CACHE_SECONDS at most, and its ETag."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from booking.api.catalogue import topic_listing
from tests.factories import make_department, make_topic
from tests.web.test_openapi import assert_documented


@pytest.fixture
def listing_forgotten(app: Flask) -> Iterator[None]:
    yield
    app.extensions.pop("okno_topic_listing", None)


def slugs(body: bytes) -> list[str]:
    return [topic["slug"] for topic in json.loads(body)]


def test_a_listing_is_read_again_once_its_bound_has_passed(app: Flask, session: Any, listing_forgotten: None) -> None:
    department = make_department(session, slug="gas")
    make_topic(session, department, slug="stove", title="Плита")
    first = topic_listing(app, 5.0, now=100.0)
    assert slugs(first.body) == ["stove"]

    make_topic(session, department, slug="boiler", title="Котёл")
    assert topic_listing(app, 5.0, now=104.9) is first  # within the bound: the list as read
    fresh = topic_listing(app, 5.0, now=105.0)
    assert slugs(fresh.body) == ["boiler", "stove"] and fresh.etag != first.etag
    assert topic_listing(app, 0.0, now=105.0) is not fresh  # 0: read every time


def test_the_list_carries_an_etag_and_answers_304_while_it_is_unchanged(client: Any, session: Any) -> None:
    department = make_department(session, slug="gas")
    make_topic(session, department, slug="stove", title="Плита")
    first = client.get("/api/v1/topics")
    assert_documented(first, "GET", "/api/v1/topics")
    assert [t["slug"] for t in first.get_json()] == ["stove"]
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "no-store"  # the security headers' policy holds

    unchanged = client.get("/api/v1/topics", headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.data == b""
    assert unchanged.headers["X-Content-Type-Options"] == "nosniff"

    make_topic(session, department, slug="boiler", title="Котёл")  # tests read it every time (bound 0)
    changed = client.get("/api/v1/topics", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert [t["slug"] for t in changed.get_json()] == ["boiler", "stove"]
