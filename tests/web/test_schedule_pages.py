"""Schedule management pages: weekly hours, overrides, reception days, permissions and the slot preview."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import select

from booking.availability import search_slots
from booking.schedule_preview import expert as preview_view
from scheduler.audit import AuditEntry
from scheduler.auth.models import Role
from scheduler.db import utcnow
from scheduler.schedules.models import (
    Channel,
    DateOverride,
    OverrideKind,
    ReceptionDay,
    ReceptionException,
    WeeklyAvailability,
)
from tests.factories import (
    add_override,
    add_reception_day,
    add_weekly,
    make_department,
    make_expert,
    make_location,
    make_topic,
)
from tests.helpers import csrf_token, login, make_user

MOSCOW = ZoneInfo("Europe/Moscow")


def upcoming_monday(min_days_ahead: int = 2) -> date:
    """The first Monday at least ``min_days_ahead`` days after today in Moscow (always within 9 days)."""
    day = datetime.now(MOSCOW).date() + timedelta(days=min_days_ahead)
    return day + timedelta(days=(7 - day.weekday()) % 7)


def test_the_expert_page_is_booking_s_so_its_preview_counts_bookings(app: Flask) -> None:
    adapter = app.url_map.bind("okno.example.org")
    assert adapter.match("/staff/schedules/experts/1", method="GET") == ("schedule_preview.expert", {"expert_id": 1})
    assert app.view_functions["schedule_preview.expert"] is preview_view


@pytest.fixture
def setup(session: Any) -> dict[str, Any]:
    """A department without public holidays (so dates are predictable), a 60-minute video topic, one expert."""
    department = make_department(session, holiday_calendar="")
    topic = make_topic(session, department, duration_minutes=60, title="Connection to the gas network")
    expert = make_expert(session, department, [topic], full_name="Irina Expert")
    supervisor = make_user(session, role=Role.SUPERVISOR, department_id=department.id)
    return {"department": department, "topic": topic, "expert": expert, "supervisor": supervisor}


def weekly_data(token: str, rows: list[tuple[int, str, str]], prefix: str = "video") -> dict[str, str]:
    data = {f"{prefix}-csrf_token": token}
    for i, (weekday, starts, ends) in enumerate(rows):
        data.update({f"{prefix}-rows-{i}-weekday": str(weekday), f"{prefix}-rows-{i}-starts": starts,
                     f"{prefix}-rows-{i}-ends": ends, f"{prefix}-rows-{i}-valid_from": "",
                     f"{prefix}-rows-{i}-valid_to": "", f"{prefix}-rows-{i}-location_id": ""})
    return data


def stored_rows(session: Any, expert: Any) -> list[tuple[int, time, time]]:
    rows = session.scalars(select(WeeklyAvailability).where(WeeklyAvailability.expert_id == expert.id)).all()
    return sorted((r.weekday, r.starts, r.ends) for r in rows)


# --------------------------------------------------------------------------- weekly hours


def test_supervisor_replaces_an_experts_weekly_hours(client: Any, session: Any, setup: dict[str, Any]) -> None:
    expert = setup["expert"]
    add_weekly(session, expert, weekdays=(0, 1), starts=time(14), ends=time(17))
    login(client, setup["supervisor"])
    page = client.get(f"/staff/schedules/experts/{expert.id}")
    assert page.status_code == 200
    assert 'name="video-rows-0-starts"' in page.get_data(as_text=True)
    token = csrf_token(client, f"/staff/schedules/experts/{expert.id}")

    rows = [(0, "09:00", "12:00"), (0, "13:00", "17:00"), (2, "10:00", "12:00"), (4, "", "")]
    response = client.post(f"/staff/schedules/experts/{expert.id}/weekly/video", data=weekly_data(token, rows))

    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/staff/schedules/experts/{expert.id}#weekly-video")
    assert stored_rows(session, expert) == [(0, time(9), time(12)), (0, time(13), time(17)), (2, time(10), time(12))]
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "schedule.weekly_set")).one()
    assert entry.entity_id == str(expert.id)
    assert entry.actor_id == setup["supervisor"].id
    assert entry.changes["weekly_video"] == [
        ["mon 14:00-17:00", "tue 14:00-17:00"],
        ["mon 09:00-12:00", "mon 13:00-17:00", "wed 10:00-12:00"],
    ]


def test_overlapping_intervals_are_refused_and_nothing_is_saved(client: Any, session: Any,
                                                                 setup: dict[str, Any]) -> None:
    expert = setup["expert"]
    add_weekly(session, expert, weekdays=(1,), starts=time(9), ends=time(12))
    login(client, setup["supervisor"])
    token = csrf_token(client, f"/staff/schedules/experts/{expert.id}")

    rows = [(0, "09:00", "12:00"), (0, "11:00", "14:00"), (3, "15:00", "14:00")]
    response = client.post(f"/staff/schedules/experts/{expert.id}/weekly/video", data=weekly_data(token, rows))

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="video-rows-1-starts-error"' in html
    assert 'id="video-rows-2-ends-error"' in html
    assert 'id="video-rows-0-starts-error"' not in html
    assert 'value="11:00"' in html  # the submitted values are kept
    assert stored_rows(session, expert) == [(1, time(9), time(12))]
    assert session.scalars(select(AuditEntry).where(AuditEntry.action == "schedule.weekly_set")).first() is None


def test_invalid_channel_is_not_found(client: Any, session: Any, setup: dict[str, Any]) -> None:
    login(client, setup["supervisor"])
    token = csrf_token(client, "/staff/schedules/")
    response = client.post(f"/staff/schedules/experts/{setup['expert'].id}/weekly/phone",
                           data=weekly_data(token, [], prefix="phone"))
    assert response.status_code == 404


def test_expert_edits_own_hours_but_not_another_experts(client: Any, session: Any, setup: dict[str, Any]) -> None:
    expert = setup["expert"]
    colleague = make_expert(session, setup["department"], [setup["topic"]], full_name="Colleague")
    login(client, expert.user)
    token = csrf_token(client, f"/staff/schedules/experts/{expert.id}")

    own = client.post(f"/staff/schedules/experts/{expert.id}/weekly/video",
                      data=weekly_data(token, [(0, "09:00", "12:00")]))
    assert own.status_code == 302
    assert stored_rows(session, expert) == [(0, time(9), time(12))]

    assert client.get(f"/staff/schedules/experts/{colleague.id}").status_code == 403
    other = client.post(f"/staff/schedules/experts/{colleague.id}/weekly/video",
                        data=weekly_data(token, [(0, "09:00", "12:00")]))
    assert other.status_code == 403
    assert stored_rows(session, colleague) == []

    index = client.get("/staff/schedules/").get_data(as_text=True)
    assert f'id="expert-{expert.id}"' in index
    assert f'id="expert-{colleague.id}"' not in index
    assert client.get("/staff/schedules/reception").status_code == 403


def test_supervisor_of_another_department_is_refused(client: Any, session: Any, setup: dict[str, Any]) -> None:
    other_department = make_department(session)
    stranger = make_user(session, role=Role.SUPERVISOR, department_id=other_department.id)
    expert = setup["expert"]
    login(client, stranger)
    token = csrf_token(client, "/staff/schedules/")

    assert client.get(f"/staff/schedules/experts/{expert.id}").status_code == 403
    response = client.post(f"/staff/schedules/experts/{expert.id}/weekly/video",
                           data=weekly_data(token, [(0, "09:00", "12:00")]))
    assert response.status_code == 403
    assert stored_rows(session, expert) == []
    assert f'id="expert-{expert.id}"' not in client.get("/staff/schedules/").get_data(as_text=True)


def test_reception_staff_is_refused(client: Any, session: Any, setup: dict[str, Any]) -> None:
    desk = make_user(session, role=Role.RECEPTION, department_id=setup["department"].id)
    login(client, desk)
    for path in ("/staff/schedules/", f"/staff/schedules/experts/{setup['expert'].id}", "/staff/schedules/reception",
                 "/staff/schedules/reception/new"):
        assert client.get(path).status_code == 403, path


def test_admin_manages_any_expert_and_missing_expert_is_not_found(client: Any, session: Any,
                                                                   setup: dict[str, Any]) -> None:
    login(client, make_user(session, role=Role.ADMIN))
    assert client.get(f"/staff/schedules/experts/{setup['expert'].id}").status_code == 200
    assert client.get("/staff/schedules/experts/999999").status_code == 404


# --------------------------------------------------------------------------- overrides


def test_override_is_added_validated_and_deleted(client: Any, session: Any, setup: dict[str, Any]) -> None:
    expert = setup["expert"]
    login(client, expert.user)
    path = f"/staff/schedules/experts/{expert.id}"
    token = csrf_token(client, path)
    first = upcoming_monday()
    base = {"csrf_token": token, "kind": "hours", "first_day": first.isoformat(), "last_day": "", "channel": "video",
            "reason": "Training", "intervals-1-starts": "", "intervals-1-ends": "", "intervals-2-starts": "",
            "intervals-2-ends": ""}

    wrong = client.post(f"{path}/overrides", data={**base, "intervals-0-starts": "12:00", "intervals-0-ends": "10:00"})
    assert wrong.status_code == 422
    assert 'id="intervals-0-ends-error"' in wrong.get_data(as_text=True)
    backwards = client.post(f"{path}/overrides", data={**base, "last_day": (first - timedelta(days=1)).isoformat(),
                                                       "intervals-0-starts": "10:00", "intervals-0-ends": "12:00"})
    assert backwards.status_code == 422
    assert 'id="last_day-error"' in backwards.get_data(as_text=True)
    assert session.scalars(select(DateOverride)).first() is None

    added = client.post(f"{path}/overrides", data={**base, "intervals-0-starts": "10:00", "intervals-0-ends": "12:00"})
    assert added.status_code == 302
    row = session.scalars(select(DateOverride).where(DateOverride.expert_id == expert.id)).one()
    assert (row.kind, row.first_day, row.last_day, row.channel) == (OverrideKind.HOURS, first, first, Channel.VIDEO)
    assert row.intervals == [["10:00", "12:00"]]
    assert f'id="override-{row.id}"' in client.get(path).get_data(as_text=True)

    deleted = client.post(f"{path}/overrides/{row.id}/delete", data={"csrf_token": token})
    assert deleted.status_code == 302
    assert session.scalars(select(DateOverride)).first() is None
    actions = session.scalars(select(AuditEntry.action).where(AuditEntry.entity_type == "date_override")).all()
    assert sorted(actions) == ["schedule.override_added", "schedule.override_deleted"]


def test_override_of_another_expert_cannot_be_deleted_through_own_page(client: Any, session: Any,
                                                                       setup: dict[str, Any]) -> None:
    expert = setup["expert"]
    colleague = make_expert(session, setup["department"], [setup["topic"]])
    theirs = add_override(session, colleague, upcoming_monday())
    login(client, expert.user)
    token = csrf_token(client, f"/staff/schedules/experts/{expert.id}")
    response = client.post(f"/staff/schedules/experts/{expert.id}/overrides/{theirs.id}/delete",
                           data={"csrf_token": token})
    assert response.status_code == 404
    assert session.get(DateOverride, theirs.id) is not None


# --------------------------------------------------------------------------- preview


def test_preview_shows_the_slots_search_finds(client: Any, session: Any, setup: dict[str, Any]) -> None:
    expert, topic = setup["expert"], setup["topic"]
    add_weekly(session, expert, weekdays=(0, 1, 2, 3, 4), starts=time(9), ends=time(12))
    monday = upcoming_monday()
    login(client, setup["supervisor"])

    html = client.get(f"/staff/schedules/experts/{expert.id}").get_data(as_text=True)

    assert "Europe/Moscow" in html
    for hour in (9, 10, 11):
        assert f'<time datetime="{monday.isoformat()}T{hour:02d}:00:00+03:00">{hour:02d}:00</time>' in html
    assert f'datetime="{monday.isoformat()}T12:00:00+03:00"' not in html  # 12:00 would end after the window
    saturday = monday + timedelta(days=5)
    assert f'datetime="{saturday.isoformat()}T09:00:00+03:00"' not in html
    today = datetime.now(MOSCOW).date()
    found = search_slots(session, topic, "video", today, today + timedelta(days=13), utcnow(), expert_id=expert.id)
    assert found
    for slot in found:
        assert f'<time datetime="{slot.start.astimezone(MOSCOW).isoformat()}">' in html
    assert len(re.findall(r'<time datetime="\d{4}-\d\d-\d\dT', html)) == len(found)


def test_a_refused_form_re_renders_the_page_without_a_preview(client: Any, session: Any,
                                                              setup: dict[str, Any]) -> None:
    add_weekly(session, setup["expert"], weekdays=(0, 1, 2, 3, 4), starts=time(9), ends=time(12))
    login(client, setup["supervisor"])
    page = f"/staff/schedules/experts/{setup['expert'].id}"
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT', client.get(page).get_data(as_text=True))
    token = csrf_token(client, page)
    response = client.post(f"{page}/weekly/video", data=weekly_data(token, [(0, "12:00", "09:00")]))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="preview-heading"' in html
    assert not re.search(r'<time datetime="\d{4}-\d\d-\d\dT', html)


def test_preview_respects_an_absence(client: Any, session: Any, setup: dict[str, Any]) -> None:
    expert = setup["expert"]
    add_weekly(session, expert, weekdays=(0, 1, 2, 3, 4), starts=time(9), ends=time(12))
    monday = upcoming_monday()
    add_override(session, expert, monday, kind=OverrideKind.ABSENCE)
    login(client, expert.user)
    html = client.get(f"/staff/schedules/experts/{expert.id}").get_data(as_text=True)
    assert f'datetime="{monday.isoformat()}T09:00:00+03:00"' not in html
    tuesday = monday + timedelta(days=1)
    assert f'datetime="{tuesday.isoformat()}T09:00:00+03:00"' in html


# --------------------------------------------------------------------------- reception days


def reception_data(token: str, location: Any, topics: list[Any], experts: list[Any], **kw: Any) -> dict[str, Any]:
    data = {"csrf_token": token, "title": "Technical connection", "location_id": str(location.id),
            "weekdays": ["1", "3"], "starts": "10:00", "ends": "13:00", "valid_from": "", "valid_to": "",
            "topics": [str(t.id) for t in topics], "experts": [str(e.id) for e in experts]}
    data.update(kw)
    return data


@pytest.fixture
def office(session: Any, setup: dict[str, Any]) -> dict[str, Any]:
    department = setup["department"]
    topic = make_topic(session, department, allows_in_person=True, allows_video=False, title="Visit")
    expert = setup["expert"]
    expert.topics = [*expert.topics, topic]
    session.flush()
    return {"location": make_location(session, department), "topic": topic, "expert": expert}


def test_supervisor_creates_edits_and_deletes_a_reception_day(client: Any, session: Any, setup: dict[str, Any],
                                                              office: dict[str, Any]) -> None:
    login(client, setup["supervisor"])
    assert client.get("/staff/schedules/reception").status_code == 200
    token = csrf_token(client, "/staff/schedules/reception/new")
    location, topic, expert = office["location"], office["topic"], office["expert"]

    refused = client.post("/staff/schedules/reception/new",
                          data=reception_data(token, location, [topic], [expert], ends="09:00", weekdays=[]))
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert 'id="ends-error"' in html
    assert 'id="weekdays-error"' in html
    assert session.scalars(select(ReceptionDay)).first() is None

    created = client.post("/staff/schedules/reception/new", data=reception_data(token, location, [topic], [expert]))
    assert created.status_code == 302
    day = session.scalars(select(ReceptionDay)).one()
    assert (day.weekdays, day.starts, day.ends) == ([1, 3], time(10), time(13))
    assert [t.id for t in day.topics] == [topic.id]
    assert [e.id for e in day.experts] == [expert.id]
    assert created.headers["Location"].endswith(f"/staff/schedules/reception/{day.id}")
    assert f'id="reception-day-{day.id}"' in client.get("/staff/schedules/reception").get_data(as_text=True)

    edited = client.post(f"/staff/schedules/reception/{day.id}",
                         data=reception_data(token, location, [topic], [expert], starts="11:00"))
    assert edited.status_code == 302
    session.refresh(day)
    assert day.starts == time(11)
    update = session.scalars(select(AuditEntry).where(AuditEntry.action == "schedule.reception_day_updated")).one()
    assert update.changes == {"starts": ["10:00", "11:00"]}

    deleted = client.post(f"/staff/schedules/reception/{day.id}/delete", data={"csrf_token": token})
    assert deleted.status_code == 302
    assert session.scalars(select(ReceptionDay)).first() is None
    actions = session.scalars(select(AuditEntry.action).where(AuditEntry.entity_type == "reception_day")).all()
    assert sorted(actions) == ["schedule.reception_day_created", "schedule.reception_day_deleted",
                               "schedule.reception_day_updated"]


def exception_data(token: str, day: date, kind: str, starts: str = "", ends: str = "",
                   reason: str = "") -> dict[str, str]:
    return {"exception-csrf_token": token, "exception-day": day.isoformat(), "exception-kind": kind,
            "exception-starts": starts, "exception-ends": ends, "exception-reason": reason}


def test_reception_exceptions_are_added_validated_and_deleted(client: Any, session: Any, setup: dict[str, Any],
                                                              office: dict[str, Any]) -> None:
    day = add_reception_day(session, office["location"], [office["topic"]], [office["expert"]], weekdays=[1, 3])
    login(client, setup["supervisor"])
    path = f"/staff/schedules/reception/{day.id}"
    token = csrf_token(client, path)
    tuesday = upcoming_monday() + timedelta(days=1)

    bad = client.post(f"{path}/exceptions", data=exception_data(token, tuesday, "hours", starts="12:00"))
    assert bad.status_code == 422
    assert 'id="exception-ends-error"' in bad.get_data(as_text=True)

    ok = client.post(f"{path}/exceptions", data=exception_data(token, tuesday, "cancelled", reason="Inventory"))
    assert ok.status_code == 302
    exception = session.scalars(select(ReceptionException)).one()
    assert (exception.day, exception.is_cancelled, exception.reason) == (tuesday, True, "Inventory")
    assert f'id="exception-{exception.id}"' in client.get(path).get_data(as_text=True)

    twice = client.post(f"{path}/exceptions", data=exception_data(token, tuesday, "cancelled"))
    assert twice.status_code == 422
    assert 'id="exception-day-error"' in twice.get_data(as_text=True)

    gone = client.post(f"{path}/exceptions/{exception.id}/delete", data={"csrf_token": token})
    assert gone.status_code == 302
    assert session.scalars(select(ReceptionException)).first() is None


def test_reception_pages_are_closed_to_experts_and_other_departments(client: Any, session: Any,
                                                                     setup: dict[str, Any],
                                                                     office: dict[str, Any]) -> None:
    day = add_reception_day(session, office["location"], [office["topic"]], [office["expert"]], weekdays=[1])
    login(client, office["expert"].user)
    assert client.get(f"/staff/schedules/reception/{day.id}").status_code == 403
    client.post("/staff/logout", data={"csrf_token": csrf_token(client, "/staff/")})

    other_department = make_department(session)
    stranger = make_user(session, role=Role.SUPERVISOR, department_id=other_department.id)
    login(client, stranger)
    assert client.get(f"/staff/schedules/reception/{day.id}").status_code == 403
    token = csrf_token(client, "/staff/schedules/reception")
    assert client.post(f"/staff/schedules/reception/{day.id}/delete", data={"csrf_token": token}).status_code == 403
    assert f'id="reception-day-{day.id}"' not in client.get("/staff/schedules/reception").get_data(as_text=True)
    # Their own form offers neither this department's office nor its experts.
    stolen = client.post("/staff/schedules/reception/new",
                         data=reception_data(token, office["location"], [office["topic"]], [office["expert"]]))
    assert stolen.status_code == 422
    assert session.scalars(select(ReceptionDay)).one().id == day.id
    assert client.get("/staff/schedules/reception/999999").status_code == 404
