"""Schedule services against the database: validation per rule, audit entries, permission predicates, preview."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask import session as http_session
from sqlalchemy import select

from booking.schedule_preview import slot_preview
from scheduler.audit import Actor, AuditEntry
from scheduler.auth.access import Action, Scope, may
from scheduler.auth.models import Role
from scheduler.errors import DomainError
from scheduler.schedules import services
from scheduler.schedules.models import Channel, DateOverride, OverrideKind, ReceptionException, WeeklyAvailability
from scheduler.schedules.services import WeeklyRow
from tests.factories import add_reception_day, add_weekly, make_department, make_expert, make_location, make_topic
from tests.helpers import make_user

MONDAY = date(2030, 1, 7)  # a fixed date for rules that do not depend on "now"


@pytest.fixture
def english(app: Flask, session: Any) -> Iterator[None]:
    """Messages are translated per request; read them in English here."""
    with app.test_request_context():
        http_session["lang"] = "en"
        yield


@pytest.fixture
def world(session: Any, english: None) -> dict[str, Any]:
    department = make_department(session, holiday_calendar="")
    video = make_topic(session, department, duration_minutes=60, title="Video topic")
    visit = make_topic(session, department, allows_in_person=True, allows_video=False, title="Visit topic")
    expert = make_expert(session, department, [video, visit], full_name="Anna")
    supervisor = make_user(session, role=Role.SUPERVISOR, department_id=department.id)
    return {"department": department, "video": video, "visit": visit, "expert": expert, "supervisor": supervisor,
            "actor": Actor.staff(supervisor), "location": make_location(session, department)}


def refused(call: Any, *args: Any, **kwargs: Any) -> dict[str, str]:
    with pytest.raises(DomainError) as caught:
        call(*args, **kwargs)
    return caught.value.fields


def audit(session: Any, action: str) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


# --------------------------------------------------------------------------- weekly availability


def test_weekly_rules_each_name_a_field(session: Any, world: dict[str, Any]) -> None:
    expert, actor = world["expert"], world["actor"]
    set_weekly = services.set_weekly_availability

    assert refused(set_weekly, session, actor, expert, "video", [WeeklyRow(0, time(12), time(9))]) == {
        "rows-0-ends": "The end must be after the start."}
    assert refused(set_weekly, session, actor, expert, "video", [WeeklyRow(0, time(12), None)]) == {
        "rows-0-ends": "Enter the end time."}
    assert refused(set_weekly, session, actor, expert, "video", [WeeklyRow(9, time(9), time(10))]) == {
        "rows-0-weekday": "Choose a day of the week."}
    assert refused(set_weekly, session, actor, expert, "video",
                   [WeeklyRow(0, time(9), time(10), date(2030, 2, 1), date(2030, 1, 1))]) == {
        "rows-0-valid_to": "The last day must not be before the first day."}
    assert refused(set_weekly, session, actor, expert, "video",
                   [WeeklyRow(2, time(9), time(12)), WeeklyRow(2, time(11, 30), time(13))]) == {
        "rows-1-starts": "Overlaps 09:00–12:00 on the same day of the week."}
    assert refused(set_weekly, session, actor, expert, "video",
                   [WeeklyRow(2, time(9), time(12), location_id=world["location"].id)]) == {
        "rows-0-location_id": "Video hours are not tied to an office."}
    foreign = make_location(session, make_department(session))
    assert refused(set_weekly, session, actor, expert, "in_person",
                   [WeeklyRow(2, time(9), time(12), location_id=foreign.id)]) == {
        "rows-0-location_id": "Choose an office of the expert's department."}
    assert session.scalars(select(WeeklyAvailability)).first() is None
    assert audit(session, "schedule.weekly_set") == []


def test_weekly_pattern_is_replaced_per_channel_and_audited(session: Any, world: dict[str, Any]) -> None:
    expert, actor = world["expert"], world["actor"]
    add_weekly(session, expert, weekdays=(0,), starts=time(14), ends=time(16))
    add_weekly(session, expert, weekdays=(1,), starts=time(10), ends=time(12), channel=Channel.IN_PERSON)

    rows = [WeeklyRow(0, time(9), time(12)), WeeklyRow(0, time(12), time(13)), WeeklyRow(3, None, None)]
    created = services.set_weekly_availability(session, actor, expert, Channel.VIDEO, rows)

    assert [(r.weekday, r.starts, r.ends) for r in created] == [(0, time(9), time(12)), (0, time(12), time(13))]
    stored = services.weekly_rows(session, expert)
    assert sorted((r.channel.value, r.weekday, r.starts) for r in stored) == [
        ("in_person", 1, time(10)), ("video", 0, time(9)), ("video", 0, time(12))]
    (entry,) = audit(session, "schedule.weekly_set")
    assert (entry.entity_type, entry.entity_id, entry.actor_id) == ("expert", str(expert.id), world["supervisor"].id)
    assert entry.changes == {"weekly_video": [["mon 14:00-16:00"], ["mon 09:00-12:00", "mon 12:00-13:00"]]}

    services.set_weekly_availability(session, actor, expert, "video", list(reversed(rows)))
    assert len(audit(session, "schedule.weekly_set")) == 1  # nothing changed, nothing recorded

    in_person = [WeeklyRow(1, time(10), time(12), location_id=world["location"].id)]
    services.set_weekly_availability(session, actor, expert, "in_person", in_person)
    assert services.weekly_rows(session, expert, Channel.IN_PERSON)[0].location_id == world["location"].id

    services.set_weekly_availability(session, actor, expert, "video", [])
    assert services.weekly_rows(session, expert, Channel.VIDEO) == []


# --------------------------------------------------------------------------- overrides


def test_override_rules_each_name_a_field(session: Any, world: dict[str, Any]) -> None:
    expert, actor = world["expert"], world["actor"]
    add = services.add_override

    assert refused(add, session, actor, expert, kind="absence", first_day=MONDAY,
                   last_day=MONDAY - timedelta(days=1)) == {
        "last_day": "The last day must not be before the first day."}
    assert refused(add, session, actor, expert, kind="absence", first_day=MONDAY,
                   last_day=MONDAY + timedelta(days=400)) == {"last_day": "An override may cover at most 366 days."}
    assert refused(add, session, actor, expert, kind="hours", first_day=MONDAY, intervals=[(None, None)]) == {
        "intervals-0-starts": "Enter at least one interval of hours."}
    assert refused(add, session, actor, expert, kind="hours", first_day=MONDAY,
                   intervals=[(time(10), time(9))]) == {"intervals-0-ends": "The end must be after the start."}
    assert refused(add, session, actor, expert, kind="hours", first_day=MONDAY,
                   intervals=[(time(9), time(12)), (None, None), (time(8), time(10))]) == {
        "intervals-2-starts": "Overlaps 09:00–12:00."}
    assert refused(add, session, actor, expert, kind="absence", first_day=MONDAY, reason="x" * 201) == {
        "reason": "At most 200 characters."}
    assert session.scalars(select(DateOverride)).first() is None


def test_overrides_are_stored_and_audited(session: Any, world: dict[str, Any]) -> None:
    expert, actor = world["expert"], world["actor"]
    hours = services.add_override(session, actor, expert, kind="hours", first_day=MONDAY, channel="video",
                                  intervals=[(time(13), time(15)), (None, None), (time(9), time(11))],
                                  reason=" Extra day ")
    assert (hours.last_day, hours.channel, hours.reason) == (MONDAY, Channel.VIDEO, "Extra day")
    assert hours.intervals == [["09:00", "11:00"], ["13:00", "15:00"]]
    absence = services.add_override(session, actor, expert, kind=OverrideKind.ABSENCE, first_day=MONDAY,
                                    last_day=MONDAY + timedelta(days=4), intervals=[(time(9), time(8))])
    assert (absence.intervals, absence.channel) == ([], None)  # times are ignored for an absence

    (added, _second) = audit(session, "schedule.override_added")
    assert added.entity_type == "date_override"
    assert added.entity_id == str(hours.id)
    assert added.changes["kind"] == [None, "hours"]
    assert added.changes["intervals"] == [None, [["09:00", "11:00"], ["13:00", "15:00"]]]

    services.delete_override(session, actor, absence)
    assert session.get(DateOverride, absence.id) is None
    (deleted,) = audit(session, "schedule.override_deleted")
    assert deleted.changes["first_day"] == [MONDAY.isoformat(), None]
    assert deleted.changes["last_day"] == [(MONDAY + timedelta(days=4)).isoformat(), None]

    assert services.current_overrides(session, expert, MONDAY + timedelta(days=1)) == []
    assert services.current_overrides(session, expert, MONDAY) == [hours]


# --------------------------------------------------------------------------- reception days


def reception_kwargs(world: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    kwargs = {"location": world["location"], "title": "Technical connection", "weekdays": [3, 1], "starts": time(10),
              "ends": time(13), "valid_from": None, "valid_to": None, "topics": [world["visit"]],
              "experts": [world["expert"]]}
    kwargs.update(overrides)
    return kwargs


def test_reception_day_rules_each_name_a_field(session: Any, world: dict[str, Any]) -> None:
    save, actor = services.save_reception_day, world["actor"]
    other = make_department(session)
    foreign_topic = make_topic(session, other, allows_in_person=True, title="Foreign")
    foreign_expert = make_expert(session, other, [foreign_topic], full_name="Stranger")
    idle = make_expert(session, world["department"], [world["video"]], full_name="Video only")

    cases = [
        ({"location": None}, {"location_id": "Choose an office."}),
        ({"title": "  "}, {"title": "Enter a title."}),
        ({"weekdays": []}, {"weekdays": "Choose at least one day of the week."}),
        ({"weekdays": [1, 8]}, {"weekdays": "Choose a day of the week."}),
        ({"ends": time(10)}, {"ends": "The end must be after the start."}),
        ({"starts": None}, {"starts": "Enter the start time."}),
        ({"valid_from": MONDAY, "valid_to": MONDAY - timedelta(days=1)},
         {"valid_to": "The last day must not be before the first day."}),
        ({"topics": []}, {"topics": "Choose at least one topic."}),
        ({"topics": [world["visit"], foreign_topic]}, {"topics": "Not topics of the office's department: Foreign."}),
        ({"topics": [world["video"]]}, {"topics": "Not offered in person: Video topic."}),
        ({"experts": []}, {"experts": "Choose at least one expert on duty."}),
        ({"experts": [foreign_expert]}, {"experts": "Not experts of the office's department: Stranger."}),
        ({"experts": [world["expert"], idle]}, {"experts": "Consult on none of the chosen topics: Video only."}),
    ]
    for overrides, expected in cases:
        assert refused(save, session, actor, None, **reception_kwargs(world, **overrides)) == expected, overrides
    assert audit(session, "schedule.reception_day_created") == []


def test_reception_days_are_created_updated_deleted_and_audited(session: Any, world: dict[str, Any]) -> None:
    actor = world["actor"]
    day = services.save_reception_day(session, actor, None, **reception_kwargs(world))
    assert (day.weekdays, day.location_id, [t.id for t in day.topics]) == ([1, 3], world["location"].id,
                                                                           [world["visit"].id])
    (created,) = audit(session, "schedule.reception_day_created")
    assert created.changes["weekdays"] == [None, [1, 3]]
    assert created.changes["expert_ids"] == [None, [world["expert"].id]]

    services.save_reception_day(session, actor, day, **reception_kwargs(world, ends=time(14), title="Connection"))
    (updated,) = audit(session, "schedule.reception_day_updated")
    assert updated.changes == {"ends": ["13:00", "14:00"], "title": ["Technical connection", "Connection"]}
    services.save_reception_day(session, actor, day, **reception_kwargs(world, ends=time(14), title="Connection"))
    assert len(audit(session, "schedule.reception_day_updated")) == 1

    services.add_reception_exception(session, actor, day, day=MONDAY + timedelta(days=1), is_cancelled=True)
    services.delete_reception_day(session, actor, day)
    assert session.scalars(select(ReceptionException)).first() is None
    (deleted,) = audit(session, "schedule.reception_day_deleted")
    assert deleted.changes["title"] == ["Connection", None]


def test_reception_exception_rules_and_audit(session: Any, world: dict[str, Any]) -> None:
    actor = world["actor"]
    day = add_reception_day(session, world["location"], [world["visit"]], [world["expert"]], weekdays=[1],
                            valid_from=MONDAY, valid_to=MONDAY + timedelta(days=60))
    add = services.add_reception_exception
    tuesday = MONDAY + timedelta(days=1)

    assert refused(add, session, actor, day, day=MONDAY - timedelta(days=6), is_cancelled=True) == {
        "day": "The date is outside the period when this reception is held."}
    assert refused(add, session, actor, day, day=tuesday, is_cancelled=False, starts=time(11)) == {
        "ends": "Enter the end time."}
    assert refused(add, session, actor, day, day=tuesday, is_cancelled=False, starts=time(11), ends=time(11)) == {
        "ends": "The end must be after the start."}

    shorter = add(session, actor, day, day=tuesday, is_cancelled=False, starts=time(10), ends=time(11),
                  reason="Training")
    assert (shorter.starts, shorter.ends, shorter.is_cancelled) == (time(10), time(11), False)
    assert refused(add, session, actor, day, day=tuesday, is_cancelled=True) == {
        "day": "This date already has an exception; delete it first."}
    cancelled = add(session, actor, day, day=tuesday + timedelta(days=7), is_cancelled=True, starts=time(9),
                    ends=time(10))
    assert (cancelled.starts, cancelled.ends) == (None, None)
    (entry, _other) = audit(session, "schedule.reception_exception_added")
    assert entry.changes["starts"] == [None, "10:00"]

    services.delete_reception_exception(session, actor, shorter)
    assert [e.id for e in day.exceptions] == [cancelled.id]
    assert len(audit(session, "schedule.reception_exception_deleted")) == 1


# --------------------------------------------------------------------------- permissions


def test_can_manage_experts(session: Any, world: dict[str, Any]) -> None:
    expert = world["expert"]
    department = world["department"]
    colleague = make_expert(session, department, full_name="Colleague")
    other_department = make_department(session)
    cases = [
        (make_user(session, role=Role.ADMIN), True, True),
        (world["supervisor"], True, True),
        (make_user(session, role=Role.SUPERVISOR, department_id=other_department.id), False, False),
        (make_user(session, role=Role.SUPERVISOR), False, False),  # no department: nobody
        (expert.user, True, False),
        (make_user(session, role=Role.RECEPTION, department_id=department.id), False, False),
    ]
    for user, own, other in cases:
        assert may(user, Action.MANAGE_SCHEDULE, Scope.of_expert(expert)) is own, user
        assert may(user, Action.MANAGE_SCHEDULE, Scope.of_expert(colleague)) is other, user

    assert services.manageable_experts(session, expert.user) == [expert]
    assert {e.id for e in services.manageable_experts(session, world["supervisor"])} == {expert.id, colleague.id}
    assert services.manageable_experts(session, cases[5][0]) == []


def test_can_manage_locations(session: Any, world: dict[str, Any]) -> None:
    location = world["location"]
    shared = make_location(session, None)
    other = make_department(session)
    cases = [
        (make_user(session, role=Role.ADMIN), True, True),
        (world["supervisor"], True, False),
        (make_user(session, role=Role.SUPERVISOR, department_id=other.id), False, False),
        (world["expert"].user, False, False),  # experts never manage reception days
        (make_user(session, role=Role.RECEPTION, department_id=world["department"].id), False, False),
    ]
    for user, own, shared_office in cases:
        assert may(user, Action.MANAGE_RECEPTION_DAYS, Scope.of_location(location)) is own, user
        assert may(user, Action.MANAGE_RECEPTION_DAYS, Scope.of_location(shared)) is shared_office, user
    assert services.manageable_locations(session, world["supervisor"]) == [location]
    assert services.manageable_locations(session, world["expert"].user) == []


# --------------------------------------------------------------------------- preview


def test_preview_groups_slots_by_local_date_per_topic_and_channel(session: Any, world: dict[str, Any]) -> None:
    expert = world["expert"]
    zone = ZoneInfo("Europe/Moscow")
    add_weekly(session, expert, weekdays=(0,), starts=time(9), ends=time(11))
    add_weekly(session, expert, weekdays=(1,), starts=time(9), ends=time(13), channel=Channel.IN_PERSON)
    add_reception_day(session, world["location"], [world["visit"]], [expert], weekdays=[1], starts=time(10),
                      ends=time(11))
    inactive = make_topic(session, world["department"], is_active=False)
    expert.topics = [*expert.topics, inactive]
    now = datetime(2030, 1, 4, 12, tzinfo=UTC)  # Friday 15:00 in Moscow

    preview = slot_preview(session, expert, now)

    assert [(p.topic.id, p.channel) for p in preview] == [(world["video"].id, Channel.VIDEO),
                                                          (world["visit"].id, Channel.IN_PERSON)]
    video, visit = preview
    assert [d.day for d in video.days] == [date(2030, 1, 7), date(2030, 1, 14)]
    assert [s.starts.strftime("%H:%M") for s in video.days[0].slots] == ["09:00", "10:00"]
    assert video.days[0].slots[0].starts.utcoffset() == zone.utcoffset(datetime(2030, 1, 7))
    assert video.count == 4
    assert [d.day for d in visit.days] == [date(2030, 1, 8), date(2030, 1, 15)]
    assert [s.found.location.id for d in visit.days for s in d.slots] == [world["location"].id] * 4
    friday_to_monday = slot_preview(session, expert, now, days=4)
    assert friday_to_monday[0].days == [video.days[0]]
