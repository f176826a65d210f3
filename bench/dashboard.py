"""Analytics dashboard speed: a large centre's year — 100,000 bookings and 10,000 follow-up tickets.

    .venv/bin/python bench/dashboard.py                     # SQLite file in a temporary folder
    .venv/bin/python bench/dashboard.py --database-url postgresql://postgres@127.0.0.1:5432/postgres --repeat 10

What it does, start to end, on its own:

1. creates a fresh database (a temporary SQLite file, or ``okno_bench_<hex>`` on the PostgreSQL
   server ``--database-url`` names; as ``bench/slots.py`` does) and the schema;
2. seeds 5 departments in different zones (Mon-Fri 8-20), 4 topics each, 20 experts each with weekly
   hours, one office each, then with bulk inserts 100,000 bookings over the 365 days up to yesterday
   (mixed statuses, channels, applicant types, walk-ins with reception waits) and 10,000 tickets
   (mixed statuses, a quarter answered late);
3. with ``--proposed-indexes``, adds the indexes the analytics would like (see ``PROPOSED_INDEXES``);
4. times each of the dashboard's queries (``booking.analytics.queries``; the booking figures as one scan
   where the app has ``booking_figures``, else its five queries) for two views: an admin's
   whole year over every department, and a supervisor's last 30 days of one department, ``--repeat``
   runs each after a warm-up, and prints runs, median and p95 in milliseconds;
5. times the whole dashboard as the admin sees it, through the app: signed in with Flask's test client,
   ``GET /staff/analytics/`` for the year (every department), and for a supervisor's 30 days, in
   interleaved rounds with the comparator ``GET /healthz`` on the same app, with ratios;
6. drops the database and removes the temporary folder, also on error.
"""

from __future__ import annotations

import argparse
import contextvars
import random
import re
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

# bench.slots re-executes this script under the project's virtualenv when needed: import it first.
from bench.rush import bench_app, percentile  # noqa: E402

BOOKINGS = 100_000
TICKETS = 10_000
ZONES = ("Europe/Moscow", "Asia/Yekaterinburg", "Europe/Samara", "Asia/Novosibirsk", "Europe/Kaliningrad")
TOPICS_PER_DEPARTMENT = 4
EXPERTS_PER_DEPARTMENT = 20
DAYS = 365
# Indexes the dashboard's range scans want; created only with --proposed-indexes (the app has had both
# since migration d9e0f1a2b3c4, so this adds them to an older app only).
PROPOSED_INDEXES = (
    "CREATE INDEX IF NOT EXISTS ix_bookings_starts_at ON bookings (starts_at)",
    "CREATE INDEX IF NOT EXISTS ix_tickets_opened_at ON tickets (opened_at)",
)


def seed(seed_value: int) -> tuple[date, list[int]]:
    """Schema and data inside the current app context; returns (yesterday, department ids)."""
    from sqlalchemy import insert

    from booking.models import Booking
    from booking.tickets.models import Ticket
    from scheduler.auth.models import Role, User
    from scheduler.db import utcnow
    from scheduler.departments.models import BusinessHours, Department, Location, Topic
    from scheduler.experts.models import Expert
    from scheduler.extensions import db
    from scheduler.schedules.models import Channel, WeeklyAvailability

    db.create_all()
    session = db.session
    rng = random.Random(seed_value)
    departments, topics, experts, offices = [], [], [], []
    for d, zone in enumerate(ZONES):
        department = Department(slug=f"bench-{d}", title=f"Служба {d + 1}", timezone=zone, holiday_calendar="RU")
        for weekday in range(5):
            department.hours.append(BusinessHours(weekday=weekday, opens=clock(8), closes=clock(20)))
        office = Location(slug=f"office-{d}", name=f"Офис {d + 1}", address="ул. Тестовая", timezone=zone, desks=4,
                          department=department)
        own_topics = [Topic(slug=f"bench-{d}-{t}", title=f"Тема {d + 1}.{t + 1}", department=department,
                            allows_video=True, allows_in_person=True) for t in range(TOPICS_PER_DEPARTMENT)]
        session.add_all([department, office, *own_topics])
        for n in range(EXPERTS_PER_DEPARTMENT):
            user = User(email=f"expert{d}-{n}@bench.example.org", full_name=f"Эксперт {n}", role=Role.EXPERT,
                        password_hash="!bench")
            expert = Expert(user=user, department=department, position="Консультант")
            expert.topics = own_topics
            session.add_all([user, expert])
            for weekday in range(5):
                session.add(WeeklyAvailability(expert=expert, channel=Channel.VIDEO, weekday=weekday,
                                               starts=clock(9), ends=clock(13)))
                session.add(WeeklyAvailability(expert=expert, channel=Channel.IN_PERSON, weekday=weekday,
                                               starts=clock(14), ends=clock(18), location=office))
            experts.append((expert, department, own_topics, office))
        departments.append(department)
        topics.extend(own_topics)
        offices.append(office)
    session.flush()

    now = utcnow()
    yesterday = now.date() - timedelta(days=1)
    days = [yesterday - timedelta(days=n) for n in range(DAYS) if (yesterday - timedelta(days=n)).weekday() < 5]
    # Every expert's 30-minute grid, 9:00-13:00 video and 14:00-18:00 in person (local wall time).
    grid = [(day, h, m) for day in days for h in (9, 10, 11, 12, 14, 15, 16, 17) for m in (0, 30)]
    per_expert = BOOKINGS // len(experts)
    statuses = ["completed"] * 70 + ["cancelled"] * 12 + ["no_show"] * 8 + ["confirmed"] * 10
    rows: list[dict[str, Any]] = []
    for expert, department, own_topics, office in experts:
        zone = department.zone
        for day, hour, minute in rng.sample(grid, per_expert):
            n = len(rows)
            start = datetime.combine(day, clock(hour, minute), tzinfo=zone).astimezone(UTC)
            in_person = hour >= 14
            status = rng.choice(statuses)
            row: dict[str, Any] = {
                "code": f"B{n:07d}", "topic_id": rng.choice(own_topics).id,
                "channel": "in_person" if in_person else "video", "expert_id": expert.id,
                "location_id": office.id if in_person else None, "starts_at": start,
                "ends_at": start + timedelta(minutes=30), "seat": 1, "status": status,
                "created_at": start - timedelta(days=rng.randint(1, 20)), "source": "web",
                "citizen_name": f"Гражданин {n}", "citizen_email": f"c{n}@bench.example.org",
                "citizen_phone": f"+7916{n:07d}", "consent_at": start - timedelta(days=20),
                "applicant_type": "legal_entity" if rng.random() < 0.3 else "individual",
                "is_walk_in": in_person and rng.random() < 0.1, "manage_token_salt": "s" * 16,
                "manage_token_hash": secrets.token_hex(32), "checked_in_at": None, "called_at": None,
                "completed_at": start + timedelta(minutes=30) if status == "completed" else None,
                "cancelled_at": start - timedelta(days=1) if status == "cancelled" else None,
            }
            if in_person and status == "completed":
                row["checked_in_at"] = start - timedelta(minutes=rng.randint(0, 15))
                row["called_at"] = start + timedelta(minutes=rng.randint(0, 20))
            rows.append(row)
    for chunk in range(0, len(rows), 10_000):
        session.execute(insert(Booking), rows[chunk:chunk + 10_000])
    session.flush()

    completed = [(n + 1, r) for n, r in enumerate(rows) if r["status"] == "completed"]
    department_of_topic = {t.id: t.department_id for t in topics}
    try:  # the app counts a ticket's working hours as it is answered; bulk rows get them here
        from booking.tickets.answer_hours import working_hours_between
    except ImportError:  # an app from before that column (the rating counted them each time)
        working_hours_between = None  # type: ignore[assignment]
    department_by_id = {d.id: d for d in departments}
    ticket_statuses = ["closed"] * 50 + ["answered"] * 15 + ["closed_unconfirmed"] * 10 + ["open"] * 15 \
        + ["in_progress"] * 5 + ["reopened"] * 5
    tickets = []
    for n, (booking_id, booking) in enumerate(rng.sample(completed, TICKETS)):
        opened = booking["completed_at"]
        status = rng.choice(ticket_statuses)
        answered = opened + timedelta(hours=rng.randint(2, 150)) if status not in ("open", "in_progress") else None
        tickets.append({
            "number": f"B-{n:06d}", "booking_id": booking_id, "department_id": department_of_topic[booking["topic_id"]],
            "origin_department_id": department_of_topic[booking["topic_id"]], "summary": "Ответ", "status": status,
            "working_days": 4, "opened_at": opened, "due_at": opened + timedelta(days=4),
            "first_answered_at": answered, "answered_at": answered, "reopen_count": 1 if status == "reopened" else 0,
            "citizen_token_salt": "s" * 16, "citizen_token_hash": secrets.token_hex(32), "answer_text": "",
            "extended_reason": "",
        })
        if working_hours_between is not None:
            tickets[-1]["answer_working_hours"] = None if answered is None else working_hours_between(
                opened, answered, department_by_id[tickets[-1]["department_id"]])
    session.execute(insert(Ticket), tickets)
    session.commit()
    ids = [d.id for d in departments]
    session.remove()
    return yesterday, ids


def time_query(name: str, run: Callable[[], Any], repeat: int) -> str:
    from scheduler.extensions import db

    run()  # warm-up
    db.session.remove()
    seconds = []
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - began)
        db.session.remove()
    ms = [s * 1000 for s in seconds]
    return f"{name:<34}{len(ms):>6}{statistics.median(ms):>12.1f}{percentile(ms, 0.95):>10.1f}"


def measure(label: str, filters: Any, repeat: int) -> list[str]:
    from booking.analytics import queries
    from scheduler.db import utcnow
    from scheduler.extensions import db

    now = utcnow()
    s = db.session
    runs: list[tuple[str, Callable[[], Any]]]
    if hasattr(queries, "booking_figures"):  # one scan gives the totals and every grouping
        runs = [("bookings, all groupings (1 scan)", lambda: queries.booking_figures(s, filters))]
    else:  # an app from before that: one query each
        runs = [
            ("booking totals (+ minutes, waits)", lambda: queries.booking_totals(s, filters)),
            ("by topic", lambda: queries.by_topic(s, filters)),
            ("by channel", lambda: queries.by_channel(s, filters)),
            ("by month (seasonality)", lambda: queries.by_month(s, filters)),
            ("by day", lambda: queries.by_day(s, filters)),
        ]
    runs += [
        ("follow-ups opened", lambda: queries.followups_opened(s, filters)),
        ("available minutes (schedules)", lambda: queries.available_minutes(s, filters)),
        ("rating, period + daily", lambda: queries.rating(s, filters, now)),
        ("whole dashboard (+ a year earlier)", lambda: queries.dashboard(s, filters, now)),
    ]
    board = queries.dashboard(s, filters, now)
    db.session.remove()
    lines = [f"{label}: {board.summary.counts.made} bookings, {board.summary.followups_due} tickets due",
             f"{'':<34}{'runs':>6}{'median ms':>12}{'p95 ms':>10}"]
    lines += [time_query(name, run, repeat) for name, run in runs]
    return lines


def time_pages(app: Any, yesterday: date, department_ids: list[int], repeat: int) -> list[str]:
    """The dashboard page as the admin (and a supervisor) opens it, beside ``GET /healthz``, through the app."""
    from scheduler.auth.models import Role, User
    from scheduler.extensions import db

    password = secrets.token_urlsafe(16)
    people = {"admin": User(email="admin@bench.example.org", full_name="Админ", role=Role.ADMIN),
              "supervisor": User(email="supervisor@bench.example.org", full_name="Руководитель",
                                 role=Role.SUPERVISOR)}
    for user in people.values():
        user.set_password(password)
    people["supervisor"].department_id = department_ids[0]
    emails = {name: user.email for name, user in people.items()}
    db.session.add_all(people.values())
    db.session.commit()
    # Ended here, not left to begin again: on SQLite a transaction outside a request takes the write
    # lock (scheduler.transaction), and the sign-ins below must write.
    db.session.remove()
    clients = {}
    for name, email in emails.items():
        client = app.test_client()
        page = fresh(client.get, "/staff/login").get_data(as_text=True)
        found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
        answer = fresh(client.post, "/staff/login", data={"email": email, "password": password,
                                                   "csrf_token": found.group(1) if found else ""})
        if answer.status_code != 302:
            raise SystemExit(f"bench: {name} could not sign in ({answer.status_code})")
        clients[name] = client
    year = f"/staff/analytics/?from={yesterday - timedelta(days=DAYS - 1)}&to={yesterday}"
    month = f"/staff/analytics/?from={yesterday - timedelta(days=29)}&to={yesterday}"
    kinds: dict[str, Callable[[], Any]] = {
        "GET /healthz (comparator)": lambda: fresh(clients["admin"].get, "/healthz"),
        "admin: dashboard page, 365 days": lambda: fresh(clients["admin"].get, year),
        "supervisor: dashboard page, 30 days": lambda: fresh(clients["supervisor"].get, month),
    }
    ms: dict[str, list[float]] = {name: [] for name in kinds}
    for round_ in range(repeat + 1):
        for name, request in kinds.items():
            began = time.perf_counter()
            response = request()
            elapsed = (time.perf_counter() - began) * 1000
            if response.status_code != 200:
                raise SystemExit(f"bench: {name} answered {response.status_code}")
            if round_:  # the first round warms up
                ms[name].append(elapsed)
    base = statistics.median(ms["GET /healthz (comparator)"])
    lines = ["through the app (test client, signed in, each request in its own context), interleaved rounds:",
             f"{'':<38}{'runs':>6}{'median ms':>12}{'p95 ms':>10}{'× healthz':>11}"]
    for name, values in ms.items():
        median = statistics.median(values)
        lines.append(f"{name:<38}{len(values):>6}{median:>12.1f}{percentile(values, 0.95):>10.1f}"
                     f"{median / base:>11.1f}")
    return lines


def fresh(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A request in fresh context variables, as a server runs it: its own app context, ``g`` and session
    (the benchmark's own app context would otherwise be reused by every request)."""
    return contextvars.Context().run(call, *args, **kwargs)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Time the analytics dashboard's queries on a year of data.")
    parser.add_argument("--database-url", default="sqlite://",
                        help="sqlite:// (default, a temporary file) or a PostgreSQL server to create a throwaway "
                             "database on")
    parser.add_argument("--repeat", type=int, default=10, help="timed runs of each query (default 10, at most 200)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--proposed-indexes", action="store_true", help="add PROPOSED_INDEXES before timing")
    args = parser.parse_args(argv)
    if not 1 <= args.repeat <= 200:
        parser.error("--repeat must be 1..200")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with bench_app(args.database_url, "dashboard") as bench:
        from sqlalchemy import text

        from booking.analytics.queries import StatsFilter
        from scheduler.extensions import db

        began = time.perf_counter()
        yesterday, department_ids = seed(args.seed)
        if args.proposed_indexes:
            with db.engine.begin() as connection:
                for statement in PROPOSED_INDEXES:
                    connection.execute(text(statement))
        with db.engine.begin() as connection:
            connection.execute(text("ANALYZE"))
        seeded_in = time.perf_counter() - began
        print(f"okno dashboard: {BOOKINGS} bookings, {TICKETS} tickets, {len(ZONES)} departments over {DAYS} "
              f"days to {yesterday} (seeded in {seeded_in:.1f} s); {bench.database.label}; proposed indexes: "
              f"{'yes' if args.proposed_indexes else 'no'}")
        year = StatsFilter(yesterday - timedelta(days=DAYS - 1), yesterday)
        month = StatsFilter(yesterday - timedelta(days=29), yesterday, department_ids=(department_ids[0],))
        for label, filters in (("admin, every department, 365 days", year),
                               ("supervisor, one department, 30 days", month)):
            print("\n".join(measure(label, filters, args.repeat)))
        print("\n".join(time_pages(bench.app, yesterday, department_ids, args.repeat)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
