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
from flask_babel import force_locale
from jsonschema import Draft202012Validator
from sqlalchemy import delete, func, select

from scheduler.audit import Actor, AuditEntry
from scheduler.auth.models import Role, User
from scheduler.departments.models import BusinessHours, Department, Location, Topic
from scheduler.errors import DomainError
from scheduler.experts.models import Expert, expert_topics
from scheduler.schedules import services as schedules
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
from scheduler.setup.document import FIELDS, dump_setup, normalise_setup, schema_text, validate_setup
from scheduler.setup.exporter import export_setup
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


def refused_without_a_trace(session: Any, mutations: list[Callable[[dict[str, Any]], None]]
                            ) -> tuple[dict[str, Any], SetupError]:
    """Import the known setup's export changed by ``mutations`` (and one valid change) over the known setup:
    the import must be refused and write nothing. Returns the document and the refusal (messages in English)."""
    build_known_setup(session)
    before = export_setup(session)
    counts = configuration_counts(session)
    doc = copy.deepcopy(EXPECTED)
    doc["departments"][0]["title"] = "Изменено"  # a valid change that must not be written either
    for mutate in mutations:
        mutate(doc)
    with force_locale("en"), pytest.raises(SetupError) as caught:
        import_setup(session, doc, ACTOR)
    assert caught.value.code == "invalid_setup"
    assert export_setup(session) == before
    assert configuration_counts(session) == counts
    return doc, caught.value


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
    doc, refusal = refused_without_a_trace(session, mutations)
    assert sorted(validate_setup(doc)) == sorted(problems)
    assert sorted(refusal.problems) == sorted(problems)


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


# --------------------------------------------------------------------------- the staff pages' rules

DEPOT = {"slug": "depot", "name": "Склад", "address": "ул. Заводская, 3", "timezone": "Asia/Yekaterinburg",
         "desks": 1, "department": "build"}
KIOSK_RECEPTION = {"location": "kiosk", "title": "Киоск", "weekdays": ["fri"], "starts": "10:00", "ends": "12:00",
                   "topics": ["permits"], "experts": ["ivanova@example.org"]}

# Each case is refused by the same function the schedule pages call, hence with the page's message.
PAGE_RULE_CASES: list[tuple[str, list[Callable[[dict[str, Any]], None]], list[str]]] = [
    ("a reception day without topics", [_set("reception_days.0.topics", [])],
     ["reception_days[0].topics: Choose at least one topic."]),
    ("a reception day without experts", [_set("reception_days.0.experts", [])],
     ["reception_days[0].experts: Choose at least one expert on duty."]),
    ("a new reception day with neither", [_set("reception_days.1", {k: v for k, v in KIOSK_RECEPTION.items()
                                                                     if k not in ("topics", "experts")})],
     ["reception_days[1].topics: Choose at least one topic.",
      "reception_days[1].experts: Choose at least one expert on duty."]),
    ("an override longer than 366 days", [_set("experts.1.overrides.0.first_day", "2026-01-01"),
                                          _set("experts.1.overrides.0.last_day", "2027-01-02")],
     ["experts[1].overrides[0].last_day: An override may cover at most 366 days."]),
    ("an in-person row in another department's office", [_set("locations.2", DEPOT),
                                                          _set("experts.1.weekly.2.location", "depot")],
     ["experts[1].weekly[2].location: Choose an office of the expert's department."]),
    ("reception duty in another department's office", [_set("reception_days.0.experts.1", "ivanova@example.org")],
     ["reception_days[0].experts: Not experts of the office's department: Анна Иванова."]),
    ("a topic of another department at a reception", [_set("reception_days.0.topics.1", "permits")],
     ["reception_days[0].topics: Not topics of the office's department: Разрешения."]),
    ("a topic not offered in person", [_set("reception_days.1", KIOSK_RECEPTION)],
     ["reception_days[1].topics: Not offered in person: Разрешения."]),
    ("an expert on duty for none of the topics", [_set("reception_days.1", KIOSK_RECEPTION | {"topics": ["stoves"]})],
     ["reception_days[1].experts: Consult on none of the chosen topics: Анна Иванова."]),
    ("a blank reception title", [_set("reception_days.0.title", " ")],
     ["reception_days[0].title: Enter a title."]),
    ("an exception outside the reception's period", [_set("reception_days.0.valid_from", "2026-06-01")],
     ["reception_days[0].exceptions[0].day: The date is outside the period when this reception is held."]),
]


@pytest.mark.parametrize(("mutations", "problems"), [case[1:] for case in PAGE_RULE_CASES],
                         ids=[case[0] for case in PAGE_RULE_CASES])
def test_an_import_is_refused_where_the_schedule_pages_refuse(
    session: Any, mutations: list[Callable[[dict[str, Any]], None]], problems: list[str]
) -> None:
    doc, refusal = refused_without_a_trace(session, mutations)
    assert validate_setup(doc) == []  # the file itself is well formed: the pages' rules refuse it
    assert refusal.problems == problems


def test_every_page_rule_problem_of_a_file_is_listed_at_once(session: Any) -> None:
    doc = copy.deepcopy(EXPECTED)
    for case in PAGE_RULE_CASES[:2] + PAGE_RULE_CASES[3:5]:
        for mutate in case[1]:
            mutate(doc)
    with force_locale("en"), pytest.raises(SetupError) as caught:
        import_setup(session, doc, ACTOR)
    assert sorted(caught.value.problems) == sorted(
        problem for case in PAGE_RULE_CASES[:2] + PAGE_RULE_CASES[3:5] for problem in case[2])
    assert set(configuration_counts(session).values()) == {0}


def test_the_pages_refuse_the_same_data_with_the_same_message(session: Any) -> None:
    """The import's message is the page's own: both come from one validator in the schedule services."""
    build_known_setup(session)
    plitov = session.scalar(select(Expert).join(User).where(User.email == "plitov@example.org"))
    with force_locale("en"), pytest.raises(DomainError) as caught:
        schedules.add_override(session, ACTOR, plitov, kind=OverrideKind.ABSENCE, first_day=date(2026, 1, 1),
                               last_day=date(2027, 1, 2))
    assert caught.value.fields == {"last_day": "An override may cover at most 366 days."}
    day = session.scalar(select(ReceptionDay))
    with force_locale("en"), pytest.raises(DomainError) as caught:
        schedules.save_reception_day(session, ACTOR, day, location=day.location, title=day.title,
                                     weekdays=day.weekdays, starts=day.starts, ends=day.ends, valid_from=None,
                                     valid_to=None, topics=[], experts=[])
    assert caught.value.fields == {"topics": "Choose at least one topic.",
                                   "experts": "Choose at least one expert on duty."}


def test_a_shared_office_takes_any_departments_topics_and_experts(session: Any) -> None:
    """A shared office (no department) takes any department's in-person topics and their experts."""
    build_known_setup(session)
    doc = copy.deepcopy(EXPECTED)
    doc["reception_days"].append(KIOSK_RECEPTION | {"topics": ["stoves"], "experts": ["plitov@example.org"]})
    doc["experts"][1]["weekly"][2]["location"] = "kiosk"
    report = import_setup(session, doc, ACTOR)
    assert outcomes(report)["reception_days"] == {"created": 1, "unchanged": 1}


# --------------------------------------------------------------------------- the JSON Schema

REGENERATE = "flask --app wsgi setup schema --output docs/setup.schema.json"


def _schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def schema_errors(instance: Any) -> list[str]:
    """What the committed schema says of ``instance``, each as "$.json.path: message"."""
    validator = Draft202012Validator(_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [f"{error.json_path}: {error.message}" for error in validator.iter_errors(instance)]


def test_the_committed_schema_is_the_one_generated_from_the_models() -> None:
    committed = SCHEMA_PATH.read_text(encoding="utf-8")
    assert committed == schema_text(), f"docs/setup.schema.json has drifted from the models; run: {REGENERATE}"


def test_the_schema_command_writes_the_generated_schema(app: Flask, tmp_path: Path) -> None:
    target = tmp_path / "setup.schema.json"
    result = app.test_cli_runner().invoke(args=["setup", "schema", "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_text(encoding="utf-8") == schema_text()


def test_the_schema_is_a_documented_draft_2020_12_schema() -> None:
    schema = _schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == "urn:okno:schema:setup:1" and schema["title"] and schema["description"]
    for name, definition in schema["$defs"].items():
        assert definition.get("description"), name


@pytest.mark.parametrize("section", list(FIELDS))
def test_the_schema_lists_exactly_the_fields_an_export_writes(section: str) -> None:
    schema = _schema()
    reference = schema["properties"][section]["items"]["$ref"]
    entity = schema["$defs"][reference.removeprefix("#/$defs/")]
    assert list(entity["properties"]) == list(EXPECTED[section][0]) == list(FIELDS[section])
    assert entity["additionalProperties"] is False


def test_the_exported_document_conforms_to_the_schema(session: Any) -> None:
    build_known_setup(session)
    assert schema_errors(export_setup(session)) == []
    assert schema_errors(EXPECTED) == []


def test_the_example_in_the_format_documentation_is_valid_and_imports(session: Any) -> None:
    text = (SCHEMA_PATH.parent / "setup-format.md").read_text(encoding="utf-8")
    example = json.loads(re.search(r"```json\n(.*?)```", text, re.DOTALL).group(1))
    assert validate_setup(example) == []
    assert schema_errors(example) == []
    report = import_setup(session, example, ACTOR)
    assert outcomes(report) == {kind: {"created": 1} for kind in FIELDS}


@pytest.mark.parametrize(("mutate", "error"), [
    (_set("topics.1.duration_minutes", 0), "$.topics[1].duration_minutes: 0 is less than the minimum of 1"),
    (_set("experts.1.weekly.0.starts", "9:00"), "$.experts[1].weekly[0].starts: '9:00' does not match"),
    (_set("locations.0.adress", "x"), "$.locations[0]: Additional properties are not allowed ('adress'"),
    (_set("version", 2), "$.version: 1 was expected"),
    (_set("topics", None), "$.topics: None is not of type 'array'"),
    (_set("experts.0.email", "ivanova at example.org"), "$.experts[0].email: 'ivanova at example.org' is not a"),
])
def test_the_schema_refuses_what_the_importer_refuses(mutate: Callable[[dict[str, Any]], None], error: str) -> None:
    doc = copy.deepcopy(EXPECTED)
    mutate(doc)
    assert validate_setup(doc)
    assert any(e.startswith(error) for e in schema_errors(doc)), schema_errors(doc)


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


def test_cli_import_refused_by_a_page_rule_names_the_item_and_field(
    app: Flask, session: Any, tmp_path: Path
) -> None:
    doc = copy.deepcopy(EXPECTED)
    doc["reception_days"][0]["topics"] = []
    doc["experts"][1]["overrides"][0]["last_day"] = "2027-06-01"
    source = tmp_path / "setup.json"
    source.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")

    for dry_run in (["--dry-run"], []):
        result = app.test_cli_runner().invoke(args=["setup", "import", *dry_run, str(source)])
        assert result.exit_code == 1
        assert f"{source} was not imported, nothing was changed (2 problems):" in result.stderr
        assert "  experts[1].overrides[0].last_day: An override may cover at most 366 days." in result.stderr
        assert "  reception_days[0].topics: Choose at least one topic." in result.stderr
    assert set(configuration_counts(session).values()) == {0}


def test_cli_import_of_a_file_that_is_not_json(app: Flask, session: Any, tmp_path: Path) -> None:
    source = tmp_path / "setup.json"
    source.write_text('{"format": "okno-setup",', encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["setup", "import", str(source)])
    assert result.exit_code == 1
    assert "is not valid JSON: Expecting property name enclosed in double quotes: line 1 column 25" in result.stderr
