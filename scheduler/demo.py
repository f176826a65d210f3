"""Demo data drawn from the field notes in the seed articles.

- A gas utility's one-window office in Moscow (stove replacement, switching to an electric
  stove after a redevelopment, connection to the gas network with in-person reception twice a
  week, project approvals for legal entities).
- A city construction complex's contact centre (online consultations; the hardest questions go
  to the competent authority and are answered within four working days).
- A housing and utilities contact centre (gas, electricity, water, heating) working 9:00-19:00
  six days a week, and a land relations centre working 8:00-20:00 with no days off (South
  Kazakhstan).
- A housing-quality request centre in Usinsk, Komi Republic (regional calendar RU-KO).

Loading is idempotent: what exists (matched by slug or email) is left as it is.
"""

from __future__ import annotations

from datetime import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.auth.models import Role, User
from scheduler.departments.models import BusinessHours, Department, Location, Topic
from scheduler.experts.models import Expert
from scheduler.schedules.models import Channel, ReceptionDay, WeeklyAvailability

# Development-only credentials, printed by `flask demo-data`; production never loads demo data.
DEMO_PASSWORD = "okno-demo-2026"  # noqa: S105 - documented development-only login

MON_FRI = (0, 1, 2, 3, 4)
MON_SAT = (0, 1, 2, 3, 4, 5)
EVERY_DAY = (0, 1, 2, 3, 4, 5, 6)


def _hours(days: tuple[int, ...], *intervals: tuple[time, time]) -> dict[int, list[tuple[time, time]]]:
    return {day: list(intervals) for day in days}


DEPARTMENTS: list[dict[str, Any]] = [
    {
        "slug": "mosgaz-one-window",
        "title": "Служба «Одно окно» АО «МОСГАЗ»",
        "timezone": "Europe/Moscow",
        "holiday_calendar": "RU",
        "hours": _hours(MON_FRI, (time(8), time(20))),
    },
    {
        "slug": "moscow-construction-contact-centre",
        "title": "Единый контакт-центр Стройкомплекса Москвы",
        "timezone": "Europe/Moscow",
        "holiday_calendar": "RU",
        "hours": {**_hours((0, 1, 2, 3), (time(8), time(17))), 4: [(time(8), time(15, 45))]},
    },
    {
        "slug": "uko-housing-utilities",
        "title": "Единый контакт-центр ЖКХ (Южно-Казахстанская область)",
        "timezone": "Asia/Almaty",
        "holiday_calendar": "KZ",
        "hours": _hours(MON_SAT, (time(9), time(19))),
    },
    {
        "slug": "uko-land-relations",
        "title": "Управление земельных отношений: колл-центр",
        "timezone": "Asia/Almaty",
        "holiday_calendar": "",
        "hours": _hours(EVERY_DAY, (time(8), time(20))),
    },
    {
        "slug": "usinsk-requests-centre",
        "title": "Единый центр обработки заявок «Открытый Усинск»",
        "timezone": "Europe/Moscow",
        "holiday_calendar": "RU-KO",
        "hours": _hours(MON_FRI, (time(9), time(17))),
    },
]

TOPICS: list[dict[str, Any]] = [
    {"slug": "gas-stove-replacement", "department": "mosgaz-one-window", "title": "Замена газовой плиты",
     "description": "Как заменить устаревшую плиту на новую с автоматикой «газ-контроль»: документы, сроки, "
                    "кто подключает.",
     "duration_minutes": 20, "allows_video": True, "allows_in_person": False},
    {"slug": "switch-to-electric-stove", "department": "mosgaz-one-window",
     "title": "Переход на электроплиту после перепланировки",
     "description": "Когда газ после ремонта использовать нельзя и как поэтапно перейти на электрическую плиту.",
     "duration_minutes": 30, "allows_video": True, "allows_in_person": False},
    {"slug": "gas-network-connection", "department": "mosgaz-one-window",
     "title": "Подключение дома к газовым сетям (технологическое присоединение)",
     "description": "Очный приём два раза в неделю: вторник и четверг, 10:00–13:00.",
     "duration_minutes": 20, "allows_video": False, "allows_in_person": True, "min_notice_minutes": 60},
    {"slug": "project-documentation-approval", "department": "mosgaz-one-window",
     "title": "Согласование проектной документации (для юридических лиц)",
     "duration_minutes": 45, "allows_video": True, "allows_in_person": False, "allows_individuals": False,
     "buffer_minutes": 15},
    {"slug": "urban-planning-consultation", "department": "moscow-construction-contact-centre",
     "title": "Градостроительные вопросы: ГПЗУ, разрешение на строительство",
     "duration_minutes": 30, "allows_video": True, "allows_in_person": False},
    {"slug": "construction-commissioning", "department": "moscow-construction-contact-centre",
     "title": "Ввод объекта в эксплуатацию", "duration_minutes": 30, "allows_video": True,
     "allows_in_person": False, "allows_individuals": False},
    {"slug": "utilities-gas", "department": "uko-housing-utilities", "title": "Газоснабжение",
     "duration_minutes": 15, "allows_video": True, "allows_in_person": False},
    {"slug": "utilities-electricity", "department": "uko-housing-utilities", "title": "Электроснабжение",
     "duration_minutes": 15, "allows_video": True, "allows_in_person": False},
    {"slug": "utilities-water", "department": "uko-housing-utilities", "title": "Водоснабжение",
     "duration_minutes": 15, "allows_video": True, "allows_in_person": False},
    {"slug": "utilities-heating", "department": "uko-housing-utilities", "title": "Теплоснабжение",
     "duration_minutes": 15, "allows_video": True, "allows_in_person": False},
    {"slug": "land-code-moratorium", "department": "uko-land-relations",
     "title": "Земельные вопросы: мораторий и изменения Земельного кодекса",
     "duration_minutes": 20, "allows_video": True, "allows_in_person": False},
    {"slug": "management-company-quality", "department": "usinsk-requests-centre",
     "title": "Качество услуг управляющей организации",
     "duration_minutes": 20, "allows_video": True, "allows_in_person": False},
]

LOCATIONS: list[dict[str, Any]] = [
    {"slug": "mosgaz-mruzovsky", "name": "Служба «Одно окно» АО «МОСГАЗ»", "address": "Москва, Мрузовский пер., 11",
     "timezone": "Europe/Moscow", "desks": 3, "department": "mosgaz-one-window"},
]

# (email, full name, role, department, location, position, topics, weekly video hours)
LUNCH_BREAK = ((time(9), time(13)), (time(14), time(18)))
STAFF: list[dict[str, Any]] = [
    {"email": "admin@okno.example.org", "name": "Администратор системы", "role": Role.ADMIN},
    {"email": "supervisor.gas@okno.example.org", "name": "Ольга Викторовна Руководитель", "role": Role.SUPERVISOR,
     "department": "mosgaz-one-window"},
    {"email": "supervisor.construction@okno.example.org", "name": "Игорь Сергеевич Левкин",
     "role": Role.SUPERVISOR, "department": "moscow-construction-contact-centre"},
    {"email": "reception.gas@okno.example.org", "name": "Ирина Павловна Приёмова", "role": Role.RECEPTION,
     "location": "mosgaz-mruzovsky"},
    {"email": "expert.stoves@okno.example.org", "name": "Сергей Николаевич Плитов", "role": Role.EXPERT,
     "department": "mosgaz-one-window", "position": "Ведущий специалист службы сервиса",
     "topics": ["gas-stove-replacement", "switch-to-electric-stove"], "weekly": (MON_FRI, LUNCH_BREAK)},
    {"email": "expert.connection@okno.example.org", "name": "Анна Михайловна Газова", "role": Role.EXPERT,
     "department": "mosgaz-one-window", "position": "Специалист по технологическому присоединению",
     "topics": ["gas-network-connection", "project-documentation-approval"], "weekly": (MON_FRI, LUNCH_BREAK)},
    {"email": "expert.network@okno.example.org", "name": "Павел Андреевич Сетевой", "role": Role.EXPERT,
     "department": "mosgaz-one-window", "position": "Инженер",
     "topics": ["gas-network-connection", "project-documentation-approval"], "weekly": (MON_FRI, LUNCH_BREAK)},
    {"email": "expert.planning@okno.example.org", "name": "Мария Олеговна Градова", "role": Role.EXPERT,
     "department": "moscow-construction-contact-centre", "position": "Эксперт контакт-центра",
     "topics": ["urban-planning-consultation", "construction-commissioning"],
     "weekly": ((0, 1, 2, 3), ((time(8), time(12)), (time(12, 45), time(17))))},
    {"email": "expert.utilities@okno.example.org", "name": "Ерлан Болатович Сейтказиев", "role": Role.EXPERT,
     "department": "uko-housing-utilities", "position": "Специалист колл-центра",
     "topics": ["utilities-gas", "utilities-electricity", "utilities-water", "utilities-heating"],
     "weekly": (MON_SAT, ((time(9), time(13)), (time(14), time(19))))},
    {"email": "expert.land@okno.example.org", "name": "Айгуль Нурлановна Жерова", "role": Role.EXPERT,
     "department": "uko-land-relations", "position": "Специалист по земельным отношениям",
     "topics": ["land-code-moratorium"], "weekly": (EVERY_DAY, ((time(8), time(14)), (time(15), time(20))))},
    {"email": "expert.usinsk@okno.example.org", "name": "Татьяна Владимировна Анисимова", "role": Role.EXPERT,
     "department": "usinsk-requests-centre", "position": "Специалист ЕЦОЗ",
     "topics": ["management-company-quality"], "weekly": (MON_FRI, ((time(9), time(13)), (time(14), time(17))))},
]

RECEPTION_DAYS: list[dict[str, Any]] = [
    {"location": "mosgaz-mruzovsky", "title": "Технологическое присоединение: очный приём",
     "weekdays": [1, 3], "starts": time(10), "ends": time(13), "topics": ["gas-network-connection"],
     "experts": ["expert.connection@okno.example.org", "expert.network@okno.example.org"]},
]


def demo_logins() -> list[tuple[str, str, str]]:
    return [(person["email"], DEMO_PASSWORD, person["role"].value) for person in STAFF]


def load_demo_data(session: Session) -> list[tuple[str, str, str]]:
    """Create what is missing and leave what exists; returns (email, password, role) logins."""
    departments = {d.slug: d for d in session.scalars(select(Department))}
    for spec in DEPARTMENTS:
        if spec["slug"] not in departments:
            department = Department(slug=spec["slug"], title=spec["title"], timezone=spec["timezone"],
                                    holiday_calendar=spec["holiday_calendar"])
            for weekday, intervals in spec["hours"].items():
                for opens, closes in intervals:
                    department.hours.append(BusinessHours(weekday=weekday, opens=opens, closes=closes))
            session.add(department)
            departments[spec["slug"]] = department
    session.flush()

    topics = {t.slug: t for t in session.scalars(select(Topic))}
    for spec in TOPICS:
        if spec["slug"] not in topics:
            fields = {k: v for k, v in spec.items() if k != "department"}
            topic = Topic(department=departments[spec["department"]], **fields)
            session.add(topic)
            topics[spec["slug"]] = topic

    locations = {loc.slug: loc for loc in session.scalars(select(Location))}
    for spec in LOCATIONS:
        if spec["slug"] not in locations:
            fields = {k: v for k, v in spec.items() if k != "department"}
            location = Location(department=departments[spec["department"]], **fields)
            session.add(location)
            locations[spec["slug"]] = location
    session.flush()

    experts_by_email: dict[str, Expert] = {}
    for spec in STAFF:
        user = session.scalar(select(User).where(User.email == spec["email"]))
        if user is None:
            user = User(email=spec["email"], full_name=spec["name"], role=spec["role"])
            user.set_password(DEMO_PASSWORD)
            if "department" in spec:
                user.department_id = departments[spec["department"]].id
            if "location" in spec:
                user.location_id = locations[spec["location"]].id
            session.add(user)
            session.flush()
        if spec["role"] != Role.EXPERT:
            continue
        expert = session.scalar(select(Expert).where(Expert.user_id == user.id))
        if expert is None:
            expert = Expert(user=user, department=departments[spec["department"]], position=spec["position"])
            expert.topics = [topics[slug] for slug in spec["topics"]]
            weekdays, intervals = spec["weekly"]
            for weekday in weekdays:
                for starts, ends in intervals:
                    session.add(WeeklyAvailability(expert=expert, channel=Channel.VIDEO, weekday=weekday,
                                                   starts=starts, ends=ends))
            session.add(expert)
        experts_by_email[spec["email"]] = expert
    session.flush()

    existing_days = {(d.location_id, d.title) for d in session.scalars(select(ReceptionDay))}
    for spec in RECEPTION_DAYS:
        location = locations[spec["location"]]
        if (location.id, spec["title"]) in existing_days:
            continue
        day = ReceptionDay(location=location, title=spec["title"], weekdays=spec["weekdays"], starts=spec["starts"],
                           ends=spec["ends"])
        day.topics = [topics[slug] for slug in spec["topics"]]
        day.experts = [experts_by_email[email] for email in spec["experts"]]
        session.add(day)
        for expert in day.experts:
            for weekday in spec["weekdays"]:
                session.add(WeeklyAvailability(expert=expert, channel=Channel.IN_PERSON, weekday=weekday,
                                               starts=spec["starts"], ends=spec["ends"], location_id=location.id))
    session.flush()
    return demo_logins()
