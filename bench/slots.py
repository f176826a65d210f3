"""Slot search speed: 50 experts on one topic, 5,000 bookings, a 14-day window.

    .venv/bin/python bench/slots.py                     # SQLite file in a temporary folder
    .venv/bin/python bench/slots.py --database-url postgresql://postgres@127.0.0.1:5432/test --repeat 30

What it does, start to end, on its own:

1. creates a fresh database (a temporary SQLite file, or ``okno_bench_<hex>`` next to the
   PostgreSQL database ``--database-url`` names) and the schema;
2. seeds one department (Europe/Moscow, RU calendar, Mon-Fri 8-20), one 30-minute video topic,
   50 experts with weekly video hours Mon-Fri 9-13 and 14-18, and 5,000 confirmed bookings on
   the slot grid of the next 28 days (100 per expert, never overlapping);
3. times the search for the 14 days from tomorrow, ``--repeat`` runs each after a warm-up:
   the pure engine (``find_slots`` on inputs prepared once, exactly as ``search_slots`` builds
   them), ``booking.availability.search_slots`` (queries + engine, a fresh session per run,
   uncached), and ``GET /api/v1/slots`` on gunicorn servers on a free 127.0.0.1 port (rate limits
   off; one worker, one thread, the project's gunicorn.conf.py): with the slot cache off
   (``SLOT_CACHE_SECONDS=0``), with it on (the default 10 s; the shared stamp in Redis when
   ``--redis-url`` names one) but each answer built afresh (``SLOT_ANSWER_SECONDS=0``), and
   ``&shape=compact`` so; then as configured, where the same question within a second gets the
   answer already made ("same question");
4. times, on the same gunicorn settings in the same run, the comparators: a bare Flask app
   (``bench/bare_app.py``) answering the search's own JSON body, byte for byte, and the same
   document through ``jsonify`` on each request (the "x bare" column divides by this one);
5. prints runs, median and p95 in milliseconds, the slots and bytes returned, each HTTP line's
   median as a multiple of the bare Flask one, and the number of SQL statements one
   ``search_slots`` call issues (for 1, 14 and 62 days: it must not grow);
6. stops gunicorn, drops the database and removes the temporary folder, also on error.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent

try:
    import flask  # noqa: F401
except ImportError:  # run with a Python outside the virtualenv: hand over to the project's
    venv_python = PROJECT_ROOT / ".venv" / "bin" / "python"
    if venv_python.exists() and Path(sys.executable).resolve() != venv_python.resolve():
        os.execv(str(venv_python), [str(venv_python), *sys.argv])
    raise

sys.path.insert(0, str(PROJECT_ROOT))

from sqlalchemy import event, insert, select  # noqa: E402

from bench.rush import (  # noqa: E402
    bench_app,
    percentile,
    stop,
    wait_until_serving,
)

DEFAULT_DATABASE_URL = "sqlite://"
EXPERTS = 50
BOOKINGS = 5000
BOOKING_DAYS = 28
WINDOW_DAYS = 14
TOPIC = "bench-slots"
# Weekly video hours of every expert, Mon-Fri; 30-minute slots on this grid.
HOURS = ((clock(9), clock(13)), (clock(14), clock(18)))


# --- the database -----------------------------------------------------------------------------



# --- the dataset --------------------------------------------------------------------------------

def seed_people(hours: tuple[tuple[clock, clock], ...], experts: int,
                timezone: str = "Europe/Moscow") -> tuple[Any, list[Any]]:
    """Schema, the department (RU calendar, Mon-Fri 8-20), the video topic and ``experts`` experts with
    weekly video ``hours`` Mon-Fri, inside the current app context (flushed, not committed)."""
    from scheduler.auth.models import Role, User
    from scheduler.departments.models import BusinessHours, Department, Topic
    from scheduler.experts.models import Expert
    from scheduler.extensions import db
    from scheduler.schedules.models import Channel, WeeklyAvailability

    db.create_all()
    session = db.session
    department = Department(slug="bench", title="Одно окно", timezone=timezone, holiday_calendar="RU")
    for weekday in range(5):
        department.hours.append(BusinessHours(weekday=weekday, opens=clock(8), closes=clock(20)))
    topic = Topic(slug=TOPIC, title="Технологическое присоединение", department=department, duration_minutes=30,
                  allows_video=True, allows_in_person=False, horizon_days=30)
    session.add_all([department, topic])
    people = []
    for n in range(experts):
        # A placeholder hash: nobody signs in, and 50 argon2 hashes would only slow the set-up.
        user = User(email=f"expert{n}@bench.example.org", full_name=f"Эксперт {n + 1}", role=Role.EXPERT,
                    password_hash="!bench")
        expert = Expert(user=user, department=department, position="Консультант")
        expert.topics = [topic]
        session.add_all([user, expert])
        for weekday in range(5):
            for starts, ends in hours:
                session.add(WeeklyAvailability(expert=expert, channel=Channel.VIDEO, weekday=weekday,
                                               starts=starts, ends=ends))
        people.append(expert)
    session.flush()
    return topic, people


def booking_row(n: int, topic: Any, expert: Any, start: datetime, now: datetime) -> dict[str, Any]:
    from booking.models import ApplicantType, BookingStatus
    from scheduler.schedules.models import Channel

    return {
        "code": f"BENCH{n:06d}", "topic_id": topic.id, "channel": Channel.VIDEO, "expert_id": expert.id,
        "starts_at": start, "ends_at": start + timedelta(minutes=30), "seat": 1,
        "status": BookingStatus.CONFIRMED, "created_at": now, "confirmed_at": now, "source": "web",
        "citizen_name": f"Гражданин {n}", "citizen_email": f"citizen{n}@bench.example.org",
        "citizen_phone": f"+7916{n:07d}", "applicant_type": ApplicantType.INDIVIDUAL,
        "consent_at": now, "manage_token_salt": secrets.token_hex(16),
        "manage_token_hash": secrets.token_hex(32),
    }


def seed(seed_value: int) -> tuple[date, int, int]:
    """Schema and data inside the current app context; returns (tomorrow, bookings made, window days)."""
    from booking.models import Booking
    from scheduler.db import utcnow
    from scheduler.extensions import db

    topic, experts = seed_people(HOURS, EXPERTS)
    department = topic.department
    zone = department.zone
    calendar = department.working_calendar
    now = utcnow()
    tomorrow = now.astimezone(zone).date() + timedelta(days=1)
    grid = []  # every slot start on the grid of the next BOOKING_DAYS days, local wall time
    for offset in range(BOOKING_DAYS):
        day = tomorrow + timedelta(days=offset)
        if calendar.effective_weekday(day) is None:
            continue
        for starts, ends in HOURS:
            moment = datetime.combine(day, starts)
            while moment + timedelta(minutes=30) <= datetime.combine(day, ends):
                grid.append(moment)
                moment += timedelta(minutes=30)
    per_expert, extra = divmod(BOOKINGS, EXPERTS)
    if per_expert + (1 if extra else 0) > len(grid):
        raise SystemExit(f"slots: only {len(grid)} grid slots per expert in {BOOKING_DAYS} days")
    rng = random.Random(seed_value)
    rows: list[dict[str, Any]] = []
    for index, expert in enumerate(experts):
        for starts in rng.sample(grid, per_expert + (1 if index < extra else 0)):
            rows.append(booking_row(len(rows), topic, expert, starts.replace(tzinfo=zone).astimezone(UTC), now))
    db.session.execute(insert(Booking), rows)
    db.session.commit()
    db.session.remove()
    return tomorrow, len(rows), WINDOW_DAYS


def seed_dataset(path: Path) -> tuple[date, int, int]:
    """The peer benchmark's data set (its ``dataset.json``): the same staff, hours (Mon-Fri 9-18), days
    off, hours of unavailability (an "hours" override keeping the rest of the day) and appointments
    (confirmed bookings); returns (window start, bookings, window days)."""
    from booking.models import Booking
    from scheduler.db import utcnow
    from scheduler.extensions import db
    from scheduler.schedules.models import DateOverride, OverrideKind

    data = json.loads(path.read_text())
    hours = data["working_hours"]
    if hours.get("days") != "Mon-Fri" or data["service"]["minutes"] != 30:
        raise SystemExit(f"slots: {path} is not a data set this bench can load (Mon-Fri, 30-minute slots)")
    opens, closes = clock.fromisoformat(hours["start"]), clock.fromisoformat(hours["end"])
    topic, experts = seed_people(((opens, closes),), len(data["staff"]), data["time_zone"])
    zone = topic.department.zone
    session = db.session
    for off in data["day_offs"]:
        session.add(DateOverride(expert=experts[off["staff"]], first_day=date.fromisoformat(off["start"]),
                                 last_day=date.fromisoformat(off["end"]), kind=OverrideKind.ABSENCE))
    gaps: dict[tuple[int, str], list[tuple[str, str]]] = {}
    for gap in data["unavailabilities"]:
        gaps.setdefault((gap["staff"], gap["date"]), []).append((gap["start"], gap["end"]))
    for (staff, day), taken in gaps.items():
        kept, moment = [], hours["start"]
        for starts, ends in sorted(taken):
            if starts > moment:
                kept.append([moment, starts])
            moment = max(moment, ends)
        if moment < hours["end"]:
            kept.append([moment, hours["end"]])
        session.add(DateOverride(expert=experts[staff], first_day=date.fromisoformat(day),
                                 last_day=date.fromisoformat(day), kind=OverrideKind.HOURS, intervals=kept))
    now = utcnow()
    rows = []
    for n, appointment in enumerate(data["appointments"]):
        local = datetime.combine(date.fromisoformat(appointment["date"]), clock.fromisoformat(appointment["start"]))
        start = local.replace(tzinfo=zone).astimezone(UTC)
        rows.append(booking_row(n, topic, experts[appointment["staff"]], start, now))
    session.execute(insert(Booking), rows)
    session.commit()
    session.remove()
    first = date.fromisoformat(data["window_start"])
    if first <= now.astimezone(zone).date():
        raise SystemExit(f"slots: the data set's window starts {first}, not after today: seed it again")
    return first, len(rows), int(data["window_days"])


# --- the measurements -----------------------------------------------------------------------------

@dataclass
class Figures:
    name: str
    seconds: list[float]
    slots: int
    size: int | None = None  # bytes of one answer (HTTP)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def line(self, comparator: Figures | None = None) -> str:
        ms = [s * 1000 for s in self.seconds]
        size = "" if self.size is None else f"{self.size:>10,}"
        ratio = "" if comparator is None else f"{self.median / comparator.median:>9.1f}x"
        return (f"{self.name:<22}{len(ms):>6}{statistics.median(ms):>12.1f}{percentile(ms, 0.95):>10.1f}"
                f"{self.slots:>8}{size:>10}{ratio}")


def load_topic() -> Any:
    from scheduler.departments.models import Topic
    from scheduler.extensions import db

    topic = db.session.scalar(select(Topic).where(Topic.slug == TOPIC))
    assert topic is not None
    return topic


@contextmanager
def counting_statements() -> Iterator[list[str]]:
    """The SQL statements the app's engine sends while the block runs."""
    from scheduler.extensions import db

    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def time_engine(first: date, last: date, repeat: int) -> Figures:
    """``find_slots`` alone, on the very inputs ``search_slots`` hands it (captured once)."""
    import booking.availability as availability
    from scheduler.db import utcnow
    from scheduler.extensions import db

    engine_find_slots = availability.find_slots
    captured: dict[str, Any] = {}

    def capture(**kwargs: Any) -> Any:
        captured.update(kwargs)
        return engine_find_slots(**kwargs)

    availability.find_slots = capture  # type: ignore[assignment]
    try:
        availability.search_slots(db.session, load_topic(), "video", first, last, utcnow())
    finally:
        availability.find_slots = engine_find_slots
    db.session.remove()
    if not captured:
        raise SystemExit("slots: search_slots no longer calls booking.availability.find_slots; update the bench")
    slots = engine_find_slots(**captured)  # warm-up (calendar years, zone data)
    seconds = []
    for _ in range(repeat):
        began = time.perf_counter()
        slots = engine_find_slots(**captured)
        seconds.append(time.perf_counter() - began)
    return Figures("engine", seconds, len(slots))


def time_search(first: date, last: date, repeat: int) -> tuple[Figures, list[int]]:
    """``search_slots`` in a fresh session per run (the topic loaded outside the timing)."""
    from booking.availability import search_slots
    from scheduler.db import utcnow
    from scheduler.extensions import db

    search_slots(db.session, load_topic(), "video", first, last, utcnow())  # warm-up
    db.session.remove()
    seconds, counts, found = [], [], []
    for _ in range(repeat):
        topic = load_topic()
        with counting_statements() as statements:
            began = time.perf_counter()
            found = search_slots(db.session, topic, "video", first, last, utcnow())
            seconds.append(time.perf_counter() - began)
        counts.append(len(statements))
        db.session.remove()
    return Figures("search_slots", seconds, len(found)), counts


def statements_for(first: date, days: int) -> int:
    from booking.availability import search_slots
    from scheduler.db import utcnow
    from scheduler.extensions import db

    topic = load_topic()
    with counting_statements() as statements:
        search_slots(db.session, topic, "video", first, first + timedelta(days=days - 1), utcnow())
    db.session.remove()
    return len(statements)


def get(port: int, path: str) -> tuple[float, bytes]:
    """(seconds from connect to the last byte, the body)."""
    began = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        raw = response.read()
    finally:
        connection.close()
    elapsed = time.perf_counter() - began
    if response.status != 200:
        raise SystemExit(f"slots: GET {path} answered {response.status}: {raw[:500]!r}")
    return elapsed, raw


def slots_path(first: date, last: date, shape: str = "") -> str:
    path = f"/api/v1/slots?topic={TOPIC}&channel=video&from={first.isoformat()}&to={last.isoformat()}"
    return f"{path}&shape={shape}" if shape else path


def time_http(name: str, port: int, path: str, repeat: int, warmup: int = 3) -> tuple[Figures, bytes]:
    for _ in range(warmup):
        get(port, path)
    seconds, raw = [], b""
    for _ in range(repeat):
        elapsed, raw = get(port, path)
        seconds.append(elapsed)
    body = json.loads(raw) if raw.startswith(b"{") else {}
    return Figures(name, seconds, len(body.get("slots", [])), len(raw)), raw


@contextmanager
def serving(bench: Any, env: dict[str, str], app: str, name: str) -> Iterator[None]:
    """``app`` on gunicorn, one worker and one thread (sequential requests, the warm-up reaches the
    only worker), started in the project folder so that its gunicorn.conf.py applies."""
    log = bench.workdir / f"gunicorn-{name}.log"
    with log.open("ab") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", "1", "--worker-class", "gthread", "--threads", "1",
             "--bind", f"127.0.0.1:{bench.port}", "--graceful-timeout", "5", "--timeout", "120", app],
            cwd=PROJECT_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        wait_until_serving(f"http://127.0.0.1:{bench.port}", server, log)
        yield
    finally:
        stop(server)


def time_servers(bench: Any, first: date, last: date, repeat: int, redis_url: str) -> list[Figures]:
    """The search over HTTP (cache off, on, compact) and the bare Flask comparator, one server at a time."""
    env = {**os.environ, **bench.settings, "REDIS_URL": redis_url}
    if redis_url:
        import redis

        redis.Redis.from_url(redis_url).delete("okno:slots:version")
    with serving(bench, {**env, "SLOT_CACHE_SECONDS": "0"}, "wsgi:app", "uncached"):
        uncached, body = time_http("HTTP, no cache", bench.port, slots_path(first, last), repeat)
    # The slot cache alone: every request builds its answer (an app without the answer cache ignores this).
    with serving(bench, {**env, "SLOT_ANSWER_SECONDS": "0"}, "wsgi:app", "cached"):
        cached, _ = time_http("HTTP, cached", bench.port, slots_path(first, last), repeat)
        compact, _ = time_http("HTTP, compact, cached", bench.port, slots_path(first, last, "compact"), repeat)
    # As configured: the same question within SLOT_ANSWER_SECONDS gets the answer already made.
    with serving(bench, env, "wsgi:app", "answers"):
        same, _ = time_http("HTTP, same question", bench.port, slots_path(first, last), repeat)
    body_file = bench.workdir / "body.json"
    body_file.write_bytes(body)
    with serving(bench, {**env, "OKNO_BENCH_BODY_FILE": str(body_file)}, "bench.bare_app:app", "bare"):
        body_only, _ = time_http("bare Flask, bytes", bench.port, "/body", repeat)
        bare, _ = time_http("bare Flask, jsonify", bench.port, "/data", repeat)
    return [uncached, cached, compact, same, body_only, bare]


# --- main -------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Time free-slot search: engine, search_slots and the HTTP API.")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL,
                        help="sqlite:// (default, a temporary file) or a PostgreSQL server to create "
                             "a throwaway database on, e.g. postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--repeat", type=int, default=30, help="timed runs of each kind (default 30, at most 1000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed for the bookings (default 1)")
    parser.add_argument("--dataset", type=Path, default=None,
                        help="load the peer benchmark's dataset.json (its staff, hours, days off and appointments) "
                             "instead of the random bookings, and search its window")
    parser.add_argument("--redis-url", default="",
                        help="a Redis database for the slot cache's shared version stamp (default: none); "
                             "the bench deletes only its key okno:slots:version")
    args = parser.parse_args(argv)
    if not 1 <= args.repeat <= 1000:
        parser.error("--repeat must be 1..1000")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with bench_app(args.database_url, "slots") as bench:
        from scheduler.extensions import db

        began = time.perf_counter()
        first, bookings, window_days = seed_dataset(args.dataset) if args.dataset else seed(args.seed)
        seeded_in = time.perf_counter() - began
        last = first + timedelta(days=window_days - 1)
        engine = time_engine(first, last, args.repeat)
        search, counts = time_search(first, last, args.repeat)
        by_range = {days: statements_for(first, days) for days in (1, WINDOW_DAYS, 62)}
        db.session.remove()  # nothing of this process holds the database while the servers are timed
        *web, bare = time_servers(bench, first, last, args.repeat, args.redis_url)

        source = f"the data set {args.dataset.name}" if args.dataset else f"{EXPERTS} experts over {BOOKING_DAYS} days"
        print(f"okno slot search: {source}, {bookings} confirmed bookings "
              f"(seeded in {seeded_in:.1f} s); window {first}..{last} ({window_days} days); {bench.database.label}; "
              f"slot cache stamp: {'Redis' if args.redis_url else 'this process only'}")
        print(f"{'':<22}{'runs':>6}{'median ms':>12}{'p95 ms':>10}{'slots':>8}{'bytes':>10}{'x bare':>10}")
        for figures in (engine, search):
            print(figures.line())
        for figures in (*web, bare):
            print(figures.line(bare))
        spread = f"{min(counts)}" if min(counts) == max(counts) else f"{min(counts)}-{max(counts)}"
        print(f"SQL statements per search_slots call: {spread} "
              f"(1 day: {by_range[1]}, {WINDOW_DAYS} days: {by_range[WINDOW_DAYS]}, 62 days: {by_range[62]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
