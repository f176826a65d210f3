"""GET /api/v1/slots: the compact shape carries exactly the full shape's slots."""

from __future__ import annotations

from datetime import time
from typing import Any

from booking.api import models as api
from booking.availability import search_slots
from scheduler.db import utcnow
from scheduler.schedules.models import Channel
from tests.booking_fixtures import bookable_setup
from tests.factories import add_reception_day, add_weekly, make_expert, make_location


def slots(client: Any, setup: Any, channel: str, **extra: str) -> Any:
    day = setup.day.isoformat()
    return client.get("/api/v1/slots", query_string={"topic": "stove", "channel": channel, "from": day, "to": day,
                                                      **extra})


def expanded(compact: dict[str, Any]) -> list[dict[str, Any]]:
    """The compact rows written out as full-shape slots."""
    experts = {e["id"]: e for e in compact["experts"]}
    places = {p["id"]: p for p in compact["locations"]}
    assert compact["columns"] == ["start", "end", "expert", "location", "seats_left"]
    return [{"start": start, "end": end, "channel": compact["channel"], "expert": experts[expert],
             "location": None if place is None else places[place], "seats_left": seats}
            for start, end, expert, place, seats in compact["slots"]]


def test_compact_video_slots_equal_the_full_ones(client: Any, session: Any) -> None:
    setup = bookable_setup(session, experts=3)
    full = slots(client, setup, "video")
    compact = slots(client, setup, "video", shape="compact")
    assert full.status_code == compact.status_code == 200
    assert len(full.get_json()["slots"]) == 24
    assert compact.get_json()["shape"] == "compact"
    assert expanded(compact.get_json()) == full.get_json()["slots"]
    assert len(compact.data) < len(full.data) / 2
    assert slots(client, setup, "video", shape="full").get_json() == full.get_json()


def test_compact_in_person_slots_equal_the_full_ones(client: Any, session: Any) -> None:
    setup = bookable_setup(session, experts=0, allows_video=False, allows_in_person=True, seats=2)
    office = make_location(session, setup.department, timezone="Asia/Yekaterinburg", name="Офис", address="ул. 1")
    expert = make_expert(session, setup.department, [setup.topic], full_name="Эксперт Офиса")
    add_reception_day(session, office, [setup.topic], [expert], weekdays=[0, 1, 2, 3, 4], starts=time(12),
                      ends=time(15))
    add_weekly(session, expert, starts=time(0), ends=time(23, 59), channel=Channel.IN_PERSON)
    full = slots(client, setup, "in_person").get_json()["slots"]
    compact = slots(client, setup, "in_person", shape="compact").get_json()
    assert full and full[0]["location"] == {"id": office.id, "name": "Офис", "address": "ул. 1"}
    assert full[0]["seats_left"] == 2 and full[0]["start"].endswith("+05:00")
    assert expanded(compact) == full


def test_the_full_shape_is_the_documented_model(session: Any) -> None:
    setup = bookable_setup(session, experts=2)
    found = search_slots(session, setup.topic, "video", setup.day, setup.day, utcnow())
    assert found
    documented = api.SlotList(slots=[api.Slot.of(s) for s in found]).model_dump(mode="json")
    assert api.SlotList.payload(found) == documented
    assert api.SlotList.model_validate(api.SlotList.payload(found)).model_dump(mode="json") == documented
    api.CompactSlotList.model_validate(api.CompactSlotList.payload(found, "video"))


def test_an_unknown_shape_is_refused(client: Any, session: Any) -> None:
    setup = bookable_setup(session)
    response = slots(client, setup, "video", shape="tiny")
    assert response.status_code == 422
    assert "shape" in response.get_json()["fields"]
