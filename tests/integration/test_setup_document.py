"""Set-up as a file: the whole configuration exported, validated and imported as one JSON document."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from datetime import date, time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, func, select

from scheduler.audit import Actor, AuditEntry
from scheduler.auth.models import Role, User
from scheduler.departments.models import BusinessHours, Department, Location, Topic
from scheduler.experts.models import Expert, expert_topics
from scheduler.schedules.models import (
    Channel,
    DateOverride,
    OverrideKind,
    ReceptionDay,
    ReceptionException,
    WeeklyAvailability,
    reception_experts,
    reception_topics,
)
from scheduler.setup import importer
from scheduler.setup.document import FIELDS, dump_setup, export_setup, normalise_setup, validate_setup
from scheduler.setup.importer import SetupError, import_setup
from tests.factories import add_override, add_reception_day, add_weekly, make_department, make_location, make_topic
from tests.helpers import TEST_PASSWORD, make_user

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "setup.schema.json"
ACTOR = Actor.system("setup import")

EXPECTED: dict[str, Any] = {
    "format": "okno-setup",
    "version": 1,
    "departments": [
        {"slug": "build", "title": "Стройкомплекс", "timezone": "Asia/Yekaterinburg", "holiday_calendar": "",
         "email": "", "is_active": True, "business_hours": {}},
        {"slug": "gas", "title": "Газовая служба", "timezone": "Europe/Moscow", "holiday_calendar": "RU",
         "email": "gas@example.org", "is_active": True,
         "business_hours": {"mon": [["09:00", "13:00"], ["14:00", "18:00"]], "tue": [["09:00", "18:00"]]}},
    ],
    "locations": [
        {"slug": "kiosk", "name": "Киоск", "address": "пл. Мира", "timezone": "Asia/Yekaterinburg", "desks": 1,
         "department": None},
        {"slug": "office", "name": "Офис", "address": "ул. Ленина, 1", "timezone": "Europe/Moscow", "desks": 2,
         "department": "gas"},
    ],
    "topics": [
        {"slug": "permits", "department": "build", "title": "Разрешения", "description": "", "duration_minutes": 45,
         "slot_interval_minutes": None, "buffer_minutes": 0, "min_notice_minutes": 0, "horizon_days": 30, "seats": 1,
         "channels": ["video"], "applicant_types": ["legal_entity"], "followup_working_days": 4, "is_active": True},
        {"slug": "stoves", "department": "gas", "title": "Газовые плиты", "description": "Замена и ремонт",
         "duration_minutes": 30, "slot_interval_minutes": 15, "buffer_minutes": 5, "min_notice_minutes": 0,
         "horizon_days": 30, "seats": 1, "channels": ["video", "in_person"], "applicant_types": ["individual"],
         "followup_working_days": 4, "is_active": True},
    ],
    "experts": [
        {"email": "ivanova@example.org", "full_name": "Анна Иванова", "department": "build",
         "position": "Консультант", "is_active": False, "topics": ["permits"], "weekly": [], "overrides": []},
        {"email": "plitov@example.org", "full_name": "Сергей Плитов", "department": "gas", "position": "Инженер",
         "is_active": True, "topics": ["stoves"],
         "weekly": [
             {"channel": "video", "weekday": "mon", "starts": "09:00", "ends": "12:00", "valid_from": None,
              "valid_to": None, "location": None},
             {"channel": "video", "weekday": "tue", "starts": "09:00", "ends": "12:00", "valid_from": None,
              "valid_to": None, "location": None},
             {"channel": "in_person", "weekday": "thu", "starts": "10:00", "ends": "13:00",
              "valid_from": "2026-01-01", "valid_to": None, "location": "office"},
         ],
         "overrides": [
             {"first_day": "2026-05-04", "last_day": "2026-05-08", "kind": "absence", "channel": None,
              "intervals": [], "reason": "отпуск"},
             {"first_day": "2026-06-13", "last_day": "2026-06-13", "kind": "hours", "channel": "video",
              "intervals": [["10:00", "12:00"]], "reason": ""},
         ]},
    ],
    "reception_days": [
        {"location": "office", "title": "Техприсоединение", "weekdays": ["tue", "thu"], "starts": "10:00",
         "ends": "13:00", "valid_from": None, "valid_to": None, "topics": ["stoves"],
         "experts": ["plitov@example.org"],
         "exceptions": [
             {"day": "2026-05-12", "cancelled": True, "starts": None, "ends": None, "reason": "санитарный день"},
             {"day": "2026-06-11", "cancelled": False, "starts": "11:00", "ends": "12:00", "reason": ""},
         ]},
    ],
}


def build_known_setup(session: Any) -> None:
    """The configuration EXPECTED describes, built row by row (in a deliberately scrambled order)."""
    gas = make_department(session, slug="gas", title="Газовая служба", email="gas@example.org",
                          hours={1: [(time(9), time(18))], 0: [(time(14), time(18)), (time(9), time(13))]})
    build = make_department(session, slug="build", title="Стройкомплекс", timezone="Asia/Yekaterinburg",
                            holiday_calendar="", hours={})
    stoves = make_topic(session, gas, slug="stoves", title="Газовые плиты", description="Замена и ремонт",
                        allows_in_person=True, allows_legal_entities=False, slot_interval_minutes=15, buffer_minutes=5)
    permits = make_topic(session, build, slug="permits", title="Разрешения", allows_individuals=False,
                         duration_minutes=45)
    office = make_location(session, gas, slug="office", name="Офис", address="ул. Ленина, 1")
    make_location(session, None, slug="kiosk", name="Киоск", address="пл. Мира", desks=1,
                  timezone="Asia/Yekaterinburg")
    plitov = add_expert(session, "plitov@example.org", "Сергей Плитов", gas, [stoves], position="Инженер")
    add_expert(session, "ivanova@example.org", "Анна Иванова", build, [permits], position="Консультант",
               is_active=False)
    add_weekly(session, plitov, (1, 0), time(9), time(12))
    add_weekly(session, plitov, (3,), time(10), time(13), channel=Channel.IN_PERSON, location=office,
               valid_from=date(2026, 1, 1))
    add_override(session, plitov, date(2026, 6, 13), kind=OverrideKind.HOURS, intervals=[["10:00", "12:00"]],
                 channel=Channel.VIDEO)
    add_override(session, plitov, date(2026, 5, 4), date(2026, 5, 8)).reason = "отпуск"
    reception = add_reception_day(session, office, [stoves], [plitov], [3, 1], title="Техприсоединение")
    reception.exceptions = [
        ReceptionException(day=date(2026, 6, 11), is_cancelled=False, starts=time(11), ends=time(12)),
        ReceptionException(day=date(2026, 5, 12), reason="санитарный день"),
    ]
    session.flush()


def add_expert(session: Any, email: str, full_name: str, department: Department, topics: list[Topic],
               **kw: Any) -> Expert:
    user = make_user(session, email=email, full_name=full_name, department_id=department.id)
    expert = Expert(user=user, department=department, **kw)
    expert.topics = topics
    session.add(expert)
    session.flush()
    return expert


def wipe_configuration(session: Any) -> None:
    """Delete every configuration row (and staff account) inside the test's transaction."""
    session.flush()
    for table in (reception_experts, reception_topics, ReceptionException.__table__, ReceptionDay.__table__,
                  WeeklyAvailability.__table__, DateOverride.__table__, expert_topics, Expert.__table__,
                  User.__table__, Topic.__table__, Location.__table__, BusinessHours.__table__,
                  Department.__table__, AuditEntry.__table__):
        session.execute(delete(table))
    session.expunge_all()


def count(session: Any, model: Any) -> int:
    return session.scalar(select(func.count()).select_from(model))


def configuration_counts(session: Any) -> dict[str, int]:
    models = (Department, BusinessHours, Location, Topic, User, Expert, WeeklyAvailability, DateOverride,
              ReceptionDay, ReceptionException, AuditEntry)
    return {model.__name__: count(session, model) for model in models}


def outcomes(report: importer.ImportReport) -> dict[str, dict[str, int]]:
    return {kind: {o: n for o, n in counter.items() if n} for kind, counter in report.counts.items() if +counter}


# --------------------------------------------------------------------------- export


def test_export_of_a_known_setup_has_exactly_the_expected_content(session: Any) -> None:
    build_known_setup(session)
    doc = export_setup(session)
    assert doc == EXPECTED
    assert list(doc) == ["format", "version", "departments", "locations", "topics", "experts", "reception_days"]
    assert list(doc["topics"][0]) == list(FIELDS["topics"])
    assert validate_setup(doc) == []


def test_export_text_is_stable_readable_json_without_passwords(session: Any) -> None:
    build_known_setup(session)
    text = dump_setup(export_setup(session))
    assert text == dump_setup(export_setup(session))
    assert json.loads(text) == EXPECTED
    assert '"title": "Газовая служба"' in text  # not \u-escaped
    assert '"weekdays": ["tue", "thu"]' in text
    assert text.startswith('{\n  "format": "okno-setup",\n') and text.endswith("}\n")
    assert "password" not in text and "$argon2" not in text


# --------------------------------------------------------------------------- import


def test_export_imported_into_an_empty_schema_reproduces_the_same_export(session: Any) -> None:
    build_known_setup(session)
    doc = export_setup(session)
    wipe_configuration(session)
    assert configuration_counts(session) == dict.fromkeys(configuration_counts(session), 0)

    report = import_setup(session, copy.deepcopy(doc), ACTOR)

    assert outcomes(report) == {"departments": {"created": 2}, "locations": {"created": 2}, "topics": {"created": 2},
                                "experts": {"created": 2}, "reception_days": {"created": 1}}
    assert report.new_accounts == ["ivanova@example.org", "plitov@example.org"]
    session.expunge_all()
    assert export_setup(session) == doc
    for user in session.scalars(select(User)):
        assert user.role == Role.EXPERT
        assert user.password_hash.startswith("$argon2")  # a random secret: nobody can sign in yet
        assert not user.check_password(TEST_PASSWORD) and not user.check_password("")
    plitov = session.scalar(select(User).where(User.email == "plitov@example.org"))
    assert plitov.department_id == session.scalar(select(Department.id).where(Department.slug == "gas"))
    actions = sorted(session.scalars(select(AuditEntry.action)))
    assert actions == sorted(["department.created"] * 2 + ["location.created"] * 2 + ["topic.created"] * 2
                             + ["user.created"] * 2 + ["expert.created"] * 2 + ["reception_day.created"])
    created = session.scalar(select(AuditEntry).where(AuditEntry.action == "topic.created",
                                                      AuditEntry.changes["slug"][1].as_string() == "stoves"))
    assert created.actor_type == "system" and created.actor_label == "setup import"
    assert created.changes["channels"] == [None, ["video", "in_person"]]


def test_importing_the_same_file_twice_changes_nothing_the_second_time(session: Any) -> None:
    first = import_setup(session, copy.deepcopy(EXPECTED), ACTOR)
    assert first.changed
    session.commit()
    before = configuration_counts(session)
    ids = sorted(session.scalars(select(WeeklyAvailability.id)))

    second = import_setup(session, copy.deepcopy(EXPECTED), ACTOR)

    assert not second.changed and second.new_accounts == []
    assert outcomes(second) == {"departments": {"unchanged": 2}, "locations": {"unchanged": 2},
                                "topics": {"unchanged": 2}, "experts": {"unchanged": 2},
                                "reception_days": {"unchanged": 1}}
    assert configuration_counts(session) == before  # no audit entries either
    assert sorted(session.scalars(select(WeeklyAvailability.id))) == ids  # rows were not rewritten
    assert export_setup(session) == EXPECTED


def test_an_existing_configuration_is_unchanged_by_its_own_export(session: Any) -> None:
    build_known_setup(session)
    report = import_setup(session, export_setup(session), ACTOR)
    assert not report.changed
    assert count(session, AuditEntry) == 0


def test_import_changes_only_what_differs_and_audits_it(session: Any) -> None:
    import_setup(session, copy.deepcopy(EXPECTED), ACTOR)
    session.execute(delete(AuditEntry))
    doc = copy.deepcopy(EXPECTED)
    doc["topics"][1]["title"] = "Газовые плиты и колонки"
    doc["experts"][1]["weekly"] = doc["experts"][1]["weekly"][2:]  # the video rows go
    doc["experts"][1]["full_name"] = "Сергей Плитов-Газов"
    doc["reception_days"][0]["exceptions"] = []
    doc["departments"][1]["business_hours"] = {"fri": [["08:00", "16:00"]]}
    doc["locations"][1]["department"] = None

    report = import_setup(session, doc, ACTOR)

    assert outcomes(report) == {"departments": {"updated": 1, "unchanged": 1},
                                "locations": {"updated": 1, "unchanged": 1},
                                "topics": {"updated": 1, "unchanged": 1},
                                "experts": {"updated": 1, "unchanged": 1}, "reception_days": {"updated": 1}}
    entries = {e.action: e.changes for e in session.scalars(select(AuditEntry))}
    assert entries["topic.updated"] == {"title": ["Газовые плиты", "Газовые плиты и колонки"]}
    assert set(entries["expert.updated"]) == {"full_name", "weekly"}
    assert set(entries["reception_day.updated"]) == {"exceptions"}
    assert entries["location.updated"] == {"department": ["gas", None]}
    assert count(session, BusinessHours) == 1
    assert export_setup(session) == normalise_setup(doc)
    assert count(session, WeeklyAvailability) == 1
    assert count(session, ReceptionException) == 0


def test_an_entity_with_only_its_required_keys_keeps_its_other_stored_values(session: Any) -> None:
    build_known_setup(session)
    doc = {"format": "okno-setup", "version": 1,
           "departments": [{"slug": "gas", "title": "Газовая служба", "timezone": "Europe/Moscow"}],
           "topics": [{"slug": "stoves", "department": "gas", "title": "Плиты"}]}

    report = import_setup(session, doc, ACTOR)

    assert outcomes(report) == {"departments": {"unchanged": 1}, "topics": {"updated": 1}}
    expected = copy.deepcopy(EXPECTED)
    expected["topics"][1]["title"] = "Плиты"
    assert export_setup(session) == expected


def test_a_new_entity_takes_the_documented_defaults(session: Any) -> None:
    doc = {"format": "okno-setup", "version": 1,
           "departments": [{"slug": "water", "title": "Водоканал", "timezone": "Europe/Samara"}],
           "topics": [{"slug": "meters", "department": "water", "title": "Счётчики"}],
           "experts": [{"email": "Petrov@Example.org", "full_name": "Пётр Петров", "department": "water"}]}
    import_setup(session, doc, ACTOR)
    exported = export_setup(session)
    assert exported["departments"] == [{"slug": "water", "title": "Водоканал", "timezone": "Europe/Samara",
                                        "holiday_calendar": "RU", "email": "", "is_active": True,
                                        "business_hours": {}}]
    assert exported["topics"][0] | {"title": "x"} == {
        "slug": "meters", "department": "water", "title": "x", "description": "", "duration_minutes": 30,
        "slot_interval_minutes": None, "buffer_minutes": 0, "min_notice_minutes": 5, "horizon_days": 30, "seats": 1,
        "channels": ["video"], "applicant_types": ["individual", "legal_entity"], "followup_working_days": 4,
        "is_active": True}
    assert exported["experts"] == [{"email": "petrov@example.org", "full_name": "Пётр Петров", "department": "water",
                                    "position": "", "is_active": True, "topics": [], "weekly": [],
                                    "overrides": []}]


def test_an_existing_staff_account_becomes_the_expert_without_a_new_password(session: Any) -> None:
    build_known_setup(session)
    supervisor = make_user(session, role=Role.SUPERVISOR, email="boss@example.org", full_name="Ольга")
    password_hash = supervisor.password_hash
    doc = copy.deepcopy(EXPECTED)
    doc["experts"].append({"email": "BOSS@example.org", "full_name": "Ольга", "department": "gas"})

    report = import_setup(session, doc, ACTOR)

    assert report.new_accounts == []
    assert outcomes(report)["experts"] == {"created": 1, "unchanged": 2}
    expert = session.scalar(select(Expert).where(Expert.user_id == supervisor.id))
    assert expert.department.slug == "gas"
    assert supervisor.role == Role.SUPERVISOR and supervisor.password_hash == password_hash
    assert supervisor.check_password(TEST_PASSWORD)


def test_reception_days_are_matched_by_location_and_title_and_replaced_per_listed_location(session: Any) -> None:
    build_known_setup(session)
    office = session.scalar(select(Location).where(Location.slug == "office"))
    kiosk = session.scalar(select(Location).where(Location.slug == "kiosk"))
    old = add_reception_day(session, office, [], [], [0], title="Старый приём")
    kept = add_reception_day(session, kiosk, [], [], [4], title="Киоск по пятницам")
    matched_id = session.scalar(select(ReceptionDay.id).where(ReceptionDay.title == "Техприсоединение"))
    doc = copy.deepcopy(EXPECTED)
    doc["locations"] = [doc["locations"][1]]  # only the office: the kiosk's days are not touched
    doc["reception_days"][0]["ends"] = "14:00"

    report = import_setup(session, doc, ACTOR)

    assert outcomes(report)["reception_days"] == {"updated": 1, "deleted": 1}
    assert session.get(ReceptionDay, old.id) is None
    assert session.get(ReceptionDay, kept.id) is not None
    assert session.get(ReceptionDay, matched_id).ends == time(14)
    deleted = session.scalar(select(AuditEntry).where(AuditEntry.action == "reception_day.deleted"))
    assert deleted.entity_id == str(old.id)


def test_a_document_without_reception_days_leaves_them_alone(session: Any) -> None:
    build_known_setup(session)
    doc = copy.deepcopy(EXPECTED)
    del doc["reception_days"]
    report = import_setup(session, doc, ACTOR)
    assert not report.changed
    assert count(session, ReceptionDay) == 1


def test_a_failure_while_writing_leaves_nothing_written(session: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*_args: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(importer._Importer, "import_reception_days", explode)
    with pytest.raises(RuntimeError, match="disk full"):
        import_setup(session, copy.deepcopy(EXPECTED), ACTOR)
    assert set(configuration_counts(session).values()) == {0}


# --------------------------------------------------------------------------- validation

def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation setting ``a.b[0].c`` in a document (``value`` deep-copied)."""
    def mutate(doc: dict[str, Any]) -> None:
        *parents, last = re.findall(r"[^.\[\]]+", path)
        target: Any = doc
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if last.isdigit() and int(last) == len(target):
            target.append(copy.deepcopy(value))
        else:
            target[int(last) if last.isdigit() else last] = copy.deepcopy(value)
    return mutate


def _remove(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = doc
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        del target[last]
    return mutate


WEEKLY_VIDEO_MON = {"channel": "video", "weekday": 0, "starts": "11:00", "ends": "13:00"}

INVALID_CASES: list[tuple[str, list[Callable[[dict[str, Any]], None]], list[str]]] = [
    ("not positive", [_set("topics.1.duration_minutes", 0)],
     ["topics[1].duration_minutes: must be a positive whole number"]),
    ("several problems at once", [
        _set("departments.0.timezone", "Europe/Atlantis"),
        _set("departments.1.holiday_calendar", "XX"),
        _set("departments.1.email", "gas at example.org"),
        _set("topics.0.seats", "2"),
        _set("topics.0.channels", ["phone"]),
        _set("topics.1.applicant_types", []),
    ], [
        "departments[0].timezone: unknown time zone 'Europe/Atlantis': use an IANA name such as Europe/Moscow",
        "departments[1].holiday_calendar: unknown holiday calendar 'XX': no public-holiday data for country 'XX'",
        "departments[1].email: not a valid email address: An email address must have an @-sign.",
        "topics[0].seats: must be a positive whole number",
        "topics[0].channels[0]: must be one of: video, in_person",
        "topics[1].applicant_types: must not be empty",
    ]),
    ("references", [
        _set("topics.0.department", "water"),
        _set("experts.1.topics", ["stoves", "meters"]),
        _set("experts.1.weekly.2.location", "kiosk-2"),
        _set("reception_days.0.location", "depot"),
        _set("reception_days.0.experts", ["nobody@example.org"]),
        _set("locations.1.department", "nowhere"),
    ], [
        "locations[1].department: unknown department 'nowhere' (not in departments)",
        "topics[0].department: unknown department 'water' (not in departments)",
        "experts[1].topics[1]: unknown topic 'meters' (not in topics)",
        "experts[1].weekly[2].location: unknown location 'kiosk-2' (not in locations)",
        "reception_days[0].location: unknown location 'depot' (not in locations)",
        "reception_days[0].experts[0]: unknown expert 'nobody@example.org' (not in experts)",
    ]),
    ("a reference to a section that is absent", [_remove("departments")], [
        "locations[1].department: unknown department 'gas' (not in departments)",
        "topics[0].department: unknown department 'build' (not in departments)",
        "topics[1].department: unknown department 'gas' (not in departments)",
        "experts[0].department: unknown department 'build' (not in departments)",
        "experts[1].department: unknown department 'gas' (not in departments)",
    ]),
    ("times", [
        _set("departments.1.business_hours.mon.1", ["12:00", "15:00"]),
        _set("departments.1.business_hours.tue.0", ["18:00", "09:00"]),
        _set("departments.1.business_hours.sat", [["9:00", "12:00"]]),
        _set("reception_days.0.ends", "09:30"),
        _set("reception_days.0.exceptions.1.ends", None),
        _set("reception_days.0.exceptions.0.starts", "10:00"),
    ], [
        "departments[1].business_hours.mon[1]: overlaps departments[1].business_hours.mon[0] (09:00-13:00)",
        'departments[1].business_hours.tue[0]: must end after it starts (18:00 to 09:00)',
        'departments[1].business_hours.sat[0][0]: must be a time "HH:MM" from 00:00 to 23:59',
        "reception_days[0].ends: must be after starts (10:00)",
        "reception_days[0].exceptions[0].starts: must be null when the day is cancelled",
        "reception_days[0].exceptions[1].ends: is required when the day is not cancelled",
    ]),
    ("weekly rows that overlap, weekdays and dates", [
        _set("experts.1.weekly.3", WEEKLY_VIDEO_MON),
        _set("experts.1.weekly.2.weekday", 7),
        _set("experts.1.overrides.0.last_day", "2026-02-30"),
        _set("experts.1.overrides.1.first_day", "2026-06-14"),
        _set("reception_days.0.weekdays", ["tue", "thursday", "tue"]),
    ], [
        "experts[1].weekly[2].weekday: must be a weekday: mon, tue, wed, thu, fri, sat, sun "
        "(or 0 = Monday .. 6 = Sunday)",
        "experts[1].overrides[0].last_day: must be a date \"YYYY-MM-DD\"",
        "experts[1].overrides[1].last_day: must be on or after first_day (2026-06-14)",
        "experts[1].weekly[3]: overlaps experts[1].weekly[0] (mon video 09:00-12:00)",
        "reception_days[0].weekdays[1]: must be a weekday: mon, tue, wed, thu, fri, sat, sun "
        "(or 0 = Monday .. 6 = Sunday)",
        "reception_days[0].weekdays[2]: 'tue' is listed twice",
    ]),
    ("overrides and channels", [
        _set("experts.1.overrides.0.intervals", [["10:00", "12:00"]]),
        _set("experts.1.overrides.1.intervals", []),
        _set("experts.1.overrides.1.channel", "phone"),
        _set("experts.1.weekly.0.location", "office"),
    ], [
        "experts[1].weekly[0].location: only in_person rows have a location",
        "experts[1].overrides[0].intervals: must be empty for an absence",
        "experts[1].overrides[1].channel: must be one of: video, in_person",
        'experts[1].overrides[1].intervals: must list at least one interval for kind "hours"',
    ]),
    ("duplicates", [
        _set("topics.2", EXPECTED["topics"][0]),
        _set("experts.2", EXPECTED["experts"][0] | {"email": "IVANOVA@example.org"}),
        _set("reception_days.1", EXPECTED["reception_days"][0]),
    ], [
        "topics[2]: duplicate slug 'permits' (also topics[0])",
        "experts[2]: duplicate email 'ivanova@example.org' (also experts[0])",
        "reception_days[1]: duplicate (location, title) ('office', 'Техприсоединение') (also reception_days[0])",
    ]),
    ("keys, slugs and types", [
        _remove("locations.0.address"),
        _set("locations.0.adress", "пл. Мира"),
        _set("topics.0.slug", "Permits!"),
        _set("topics.0.is_active", "yes"),
        _set("experts.0.weekly", {"mon": []}),
        _set("experts.1.full_name", " "),
    ], [
        "locations[0].adress: unknown key (did you mean 'address'?)",
        "locations[0].address: is required",
        "topics[0].slug: must be a slug: lowercase Latin letters, digits, '-' and '_' (e.g. gas-connection)",
        "topics[0].is_active: must be true or false",
        "experts[0].weekly: must be a list",
        "experts[1].full_name: must not be empty",
    ]),
    ("the envelope", [_set("format", "other"), _set("version", 2), _set("topics", {}), _set("extra", 1)], [
        "extra: unknown key",
        'format: must be "okno-setup"',
        "version: must be 1 (the only version this okno reads)",
        "topics: must be a list",
    ]),
]


@pytest.mark.parametrize(("mutations", "problems"), [case[1:] for case in INVALID_CASES],
                         ids=[case[0] for case in INVALID_CASES])
def test_an_invalid_document_is_refused_entirely_with_every_problem(
    session: Any, mutations: list[Callable[[dict[str, Any]], None]], problems: list[str]
) -> None:
    build_known_setup(session)
    before = export_setup(session)
    counts = configuration_counts(session)
    doc = copy.deepcopy(EXPECTED)
    doc["departments"][0]["title"] = "Изменено"  # a valid change that must not be written either
    for mutate in mutations:
        mutate(doc)

    assert sorted(validate_setup(doc)) == sorted(problems)
    with pytest.raises(SetupError) as caught:
        import_setup(session, doc, ACTOR)

    assert sorted(caught.value.problems) == sorted(problems)
    assert caught.value.code == "invalid_setup"
    assert export_setup(session) == before
    assert configuration_counts(session) == counts


@pytest.mark.parametrize("doc", [[], "okno", None, 1])
def test_a_document_that_is_not_an_object_is_refused(session: Any, doc: Any) -> None:
    with pytest.raises(SetupError) as caught:
        import_setup(session, doc, ACTOR)
    assert caught.value.problems == ["document: must be a JSON object"]


def test_weekday_numbers_are_read_and_rows_in_disjoint_periods_do_not_overlap() -> None:
    doc = copy.deepcopy(EXPECTED)
    plitov = doc["experts"][1]
    plitov["weekly"] = [
        {"channel": "video", "weekday": 0, "starts": "09:00", "ends": "12:00", "valid_to": "2026-03-31"},
        {"channel": "video", "weekday": "mon", "starts": "10:00", "ends": "14:00", "valid_from": "2026-04-01"},
        {"channel": "in_person", "weekday": 0, "starts": "11:00", "ends": "12:00"},  # another channel
        {"channel": "video", "weekday": 0, "starts": "14:00", "ends": "15:00", "valid_from": "2026-04-01"},  # touches
    ]
    doc["reception_days"][0]["weekdays"] = [3, 1]
    assert validate_setup(doc) == []
    normal = normalise_setup(doc)
    assert [row["weekday"] for row in normal["experts"][1]["weekly"]] == ["mon"] * 4
    assert normal["reception_days"][0]["weekdays"] == ["tue", "thu"]
    assert normal["experts"][1]["weekly"][0] == {"channel": "video", "weekday": "mon", "starts": "09:00",
                                                 "ends": "12:00", "valid_from": None, "valid_to": "2026-03-31",
                                                 "location": None}


# --------------------------------------------------------------------------- the JSON Schema


def _schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


ANNOTATIONS = {"$schema", "$id", "title", "description", "default", "format", "examples", "$comment", "$defs"}


def schema_errors(instance: Any, schema: Any, root: dict[str, Any], path: str = "$") -> list[str]:
    """A minimal draft 2020-12 validator for the keywords docs/setup.schema.json uses.

    `jsonschema` is not a dependency; this refuses any keyword it does not know, so the schema
    cannot silently grow beyond what the test checks.
    """
    if schema is True:
        return []
    if schema is False:
        return [f"{path}: not allowed"]
    errors: list[str] = []
    for keyword, value in schema.items():
        if keyword in ANNOTATIONS:
            continue
        check = _KEYWORDS.get(keyword)
        if check is None:
            raise AssertionError(f"the test validator does not know the keyword {keyword!r}")
        errors += check(instance, value, schema, root, path)
    return errors


def _is_type(instance: Any, name: str) -> bool:
    return {
        "object": isinstance(instance, dict), "array": isinstance(instance, list),
        "string": isinstance(instance, str), "boolean": isinstance(instance, bool), "null": instance is None,
        "integer": isinstance(instance, int) and not isinstance(instance, bool),
    }[name]


def _properties(instance: Any, value: Any, schema: Any, root: Any, path: str) -> list[str]:
    if not isinstance(instance, dict):
        return []
    return [e for key, sub in value.items() if key in instance
            for e in schema_errors(instance[key], sub, root, f"{path}.{key}")]


def _additional(instance: Any, value: Any, schema: Any, root: Any, path: str) -> list[str]:
    if not isinstance(instance, dict):
        return []
    known = schema.get("properties", {})
    return [e for key in instance if key not in known
            for e in schema_errors(instance[key], value, root, f"{path}.{key}")]


def _items(instance: Any, value: Any, schema: Any, root: Any, path: str) -> list[str]:
    if not isinstance(instance, list):
        return []
    start = len(schema.get("prefixItems", []))
    return [e for i, item in enumerate(instance[start:], start)
            for e in schema_errors(item, value, root, f"{path}[{i}]")]


def _prefix(instance: Any, value: Any, schema: Any, root: Any, path: str) -> list[str]:
    if not isinstance(instance, list):
        return []
    return [e for i, (item, sub) in enumerate(zip(instance, value, strict=False))
            for e in schema_errors(item, sub, root, f"{path}[{i}]")]


def _ref(instance: Any, value: str, schema: Any, root: Any, path: str) -> list[str]:
    assert value.startswith("#/$defs/"), value
    return schema_errors(instance, root["$defs"][value.removeprefix("#/$defs/")], root, path)


def _fail(condition: bool, path: str, message: str) -> list[str]:
    return [f"{path}: {message}"] if condition else []


_KEYWORDS: dict[str, Callable[[Any, Any, Any, Any, str], list[str]]] = {
    "type": lambda i, v, s, r, p: _fail(not any(_is_type(i, t) for t in ([v] if isinstance(v, str) else v)),
                                         p, f"not of type {v}"),
    "properties": _properties,
    "additionalProperties": _additional,
    "required": lambda i, v, s, r, p: [f"{p}.{k}: required" for k in v if isinstance(i, dict) and k not in i],
    "items": _items,
    "prefixItems": _prefix,
    "$ref": _ref,
    "anyOf": lambda i, v, s, r, p: _fail(all(schema_errors(i, sub, r, p) for sub in v), p, "matches no alternative"),
    "enum": lambda i, v, s, r, p: _fail(i not in v, p, f"not one of {v}"),
    "const": lambda i, v, s, r, p: _fail(i != v or type(i) is not type(v), p, f"is not {v!r}"),
    "pattern": lambda i, v, s, r, p: _fail(isinstance(i, str) and not re.search(v, i), p, f"does not match {v}"),
    "minLength": lambda i, v, s, r, p: _fail(isinstance(i, str) and len(i) < v, p, "too short"),
    "maxLength": lambda i, v, s, r, p: _fail(isinstance(i, str) and len(i) > v, p, "too long"),
    "minimum": lambda i, v, s, r, p: _fail(_is_type(i, "integer") and i < v, p, f"below {v}"),
    "maximum": lambda i, v, s, r, p: _fail(_is_type(i, "integer") and i > v, p, f"above {v}"),
    "minItems": lambda i, v, s, r, p: _fail(isinstance(i, list) and len(i) < v, p, "too few items"),
    "uniqueItems": lambda i, v, s, r, p: _fail(
        v and isinstance(i, list) and len({json.dumps(x, sort_keys=True) for x in i}) != len(i), p, "repeated item"),
}


def test_the_schema_is_a_documented_draft_2020_12_schema() -> None:
    schema = _schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] and schema["title"] and schema["description"]
    for name, definition in schema["$defs"].items():
        assert definition.get("title") or definition.get("description") or name.startswith("nullable"), name


@pytest.mark.parametrize(("section", "definition"), [
    ("departments", "department"), ("locations", "location"), ("topics", "topic"), ("experts", "expert"),
    ("reception_days", "receptionDay"),
])
def test_the_schema_lists_exactly_the_fields_the_importer_reads(section: str, definition: str) -> None:
    schema = _schema()
    entity = schema["$defs"][definition]
    assert schema["properties"][section]["items"] == {"$ref": f"#/$defs/{definition}"}
    assert list(entity["properties"]) == list(FIELDS[section])
    assert entity["required"] == [name for name, spec in FIELDS[section].items() if spec.required]
    assert entity["additionalProperties"] is False
    for name, spec in FIELDS[section].items():
        if not spec.required and name not in ("department", "last_day"):
            assert entity["properties"][name].get("default") == spec.default, (section, name)


def test_the_exported_document_conforms_to_the_schema(session: Any) -> None:
    build_known_setup(session)
    schema = _schema()
    assert schema_errors(export_setup(session), schema, schema) == []
    assert schema_errors(EXPECTED, schema, schema) == []


def test_the_example_in_the_format_documentation_is_valid_and_imports(session: Any) -> None:
    text = (SCHEMA_PATH.parent / "setup-format.md").read_text(encoding="utf-8")
    example = json.loads(re.search(r"```json\n(.*?)```", text, re.DOTALL).group(1))
    schema = _schema()
    assert validate_setup(example) == []
    assert schema_errors(example, schema, schema) == []
    report = import_setup(session, example, ACTOR)
    assert outcomes(report) == {kind: {"created": 1} for kind in FIELDS}


@pytest.mark.parametrize(("mutate", "error"), [
    (_set("topics.1.duration_minutes", 0), "$.topics[1].duration_minutes: below 1"),
    (_set("experts.1.weekly.0.starts", "9:00"), "$.experts[1].weekly[0].starts: does not match"),
    (_set("locations.0.adress", "x"), "$.locations[0].adress: not allowed"),
    (_set("version", 2), "$.version: is not 1"),
])
def test_the_schema_refuses_what_the_importer_refuses(mutate: Callable[[dict[str, Any]], None], error: str) -> None:
    schema = _schema()
    doc = copy.deepcopy(EXPECTED)
    mutate(doc)
    assert validate_setup(doc)
    assert any(e.startswith(error) for e in schema_errors(doc, schema, schema))


# --------------------------------------------------------------------------- the command line


def test_cli_export_writes_the_document_to_stdout_or_a_file(app: Flask, session: Any, tmp_path: Path) -> None:
    build_known_setup(session)
    session.commit()
    runner = app.test_cli_runner()

    result = runner.invoke(args=["setup", "export"])
    assert result.exit_code == 0, result.output
    assert result.stdout == dump_setup(EXPECTED)

    target = tmp_path / "setup.json"
    result = runner.invoke(args=["setup", "export", "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_text(encoding="utf-8") == dump_setup(EXPECTED)


def test_cli_import_reports_what_it_did_and_is_idempotent(app: Flask, session: Any, tmp_path: Path) -> None:
    source = tmp_path / "setup.json"
    source.write_text(dump_setup(EXPECTED), encoding="utf-8")
    runner = app.test_cli_runner()

    result = runner.invoke(args=["setup", "import", str(source)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "departments: 2 created, 0 updated, 0 unchanged",
        "locations: 2 created, 0 updated, 0 unchanged",
        "topics: 2 created, 0 updated, 0 unchanged",
        "experts: 2 created, 0 updated, 0 unchanged",
        "reception days: 1 created, 0 updated, 0 unchanged",
        "new staff accounts without a password (an admin must set one): 2",
    ]
    assert export_setup(session) == EXPECTED

    result = runner.invoke(args=["setup", "import", str(source)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "nothing to change"
    assert "0 created, 0 updated, 1 unchanged" in result.stdout


def test_cli_dry_run_writes_nothing(app: Flask, session: Any, tmp_path: Path) -> None:
    source = tmp_path / "setup.json"
    source.write_text(dump_setup(EXPECTED), encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["setup", "import", "--dry-run", str(source)])
    assert result.exit_code == 0, result.output
    assert "departments: 2 created" in result.stdout and "dry run: nothing was written" in result.stdout
    assert set(configuration_counts(session).values()) == {0}


def test_cli_import_of_an_invalid_file_exits_non_zero_with_every_message(
    app: Flask, session: Any, tmp_path: Path
) -> None:
    doc = copy.deepcopy(EXPECTED)
    doc["topics"][1]["duration_minutes"] = 0
    doc["experts"][0]["department"] = "water"
    source = tmp_path / "setup.json"
    source.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")

    result = app.test_cli_runner().invoke(args=["setup", "import", str(source)])

    assert result.exit_code == 1
    assert f"{source} was not imported, nothing was changed (2 problems):" in result.stderr
    assert "  topics[1].duration_minutes: must be a positive whole number" in result.stderr
    assert "  experts[0].department: unknown department 'water' (not in departments)" in result.stderr
    assert set(configuration_counts(session).values()) == {0}


def test_cli_import_of_a_file_that_is_not_json(app: Flask, session: Any, tmp_path: Path) -> None:
    source = tmp_path / "setup.json"
    source.write_text('{"format": "okno-setup",', encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["setup", "import", str(source)])
    assert result.exit_code == 1
    assert "is not valid JSON: Expecting property name enclosed in double quotes: line 1 column 25" in result.stderr
