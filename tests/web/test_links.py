"""Public links come from the URL map on PUBLIC_BASE_URL, whichever host a request came in on, or none."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from booking.links import (
    expert_video_urls,
    feed_url,
    public_url,
    staff_ticket_url,
    ticket_url,
    workspace_booking_urls,
)
from scheduler.config import ConfigError, build_config, url_settings


def test_outside_a_request_links_point_at_the_public_address(app: Flask) -> None:
    with app.app_context():  # a job or a CLI command
        assert public_url("citizen.manage", code="ABCD2345", token="t-_1") == \
            "http://okno.example.org/manage/ABCD2345?token=t-_1"
        assert feed_url("abc") == "http://okno.example.org/calendar/abc.ics"
        assert ticket_url("2026-000001", "tok") == "http://okno.example.org/tickets/2026-000001?token=tok"
        assert staff_ticket_url("2026-000001") == "http://okno.example.org/staff/tickets/2026-000001"


@pytest.mark.parametrize("public", ["http://okno.example.org", "https://gov.example.org:8443/okno"])
def test_links_for_many_bookings_are_the_url_map_s(app: Flask, monkeypatch: pytest.MonkeyPatch, public: str) -> None:
    for key, value in url_settings(public).items():
        monkeypatch.setitem(app.config, key, value)
    with app.app_context():
        for code in ("ABCD2345", "F0001111", "11111111"):
            assert workspace_booking_urls()(code) == public_url("workspace.booking", code=code)
            assert expert_video_urls()(code) == public_url("video.expert_join", code=code) == \
                f"{public}/staff/video/{code}"


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:5000/", "https://10.0.0.5/"])
def test_a_request_on_another_host_still_routes_and_links_stay_public(app: Flask, client: Any, base_url: str) -> None:
    response = client.get("/healthz", base_url=base_url)
    assert response.status_code == 200
    assert client.get("/", base_url=base_url).status_code == 200
    with app.test_request_context("/", base_url=base_url):
        assert public_url("video.citizen_join", code="ABCD2345") == "http://okno.example.org/video/ABCD2345"


def test_the_public_address_sets_flask_s_url_settings(tmp_path: Path) -> None:
    config = build_config({"PUBLIC_BASE_URL": "https://gov.example.org/okno/"}, tmp_path)
    assert (config["PUBLIC_BASE_URL"], config["SERVER_NAME"], config["PREFERRED_URL_SCHEME"],
            config["APPLICATION_ROOT"]) == ("https://gov.example.org/okno", "gov.example.org", "https", "/okno")
    assert url_settings("http://127.0.0.1:5000")["SERVER_NAME"] == "127.0.0.1:5000"
    with pytest.raises(ConfigError, match="PUBLIC_BASE_URL"):
        build_config({"PUBLIC_BASE_URL": "okno.example.org"}, tmp_path)
