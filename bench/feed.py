"""The expert's calendar feed: 2,000 events in the window and 100,000 bookings of history.

    .venv/bin/python bench/feed.py                                   # PostgreSQL at 127.0.0.1
    .venv/bin/python bench/feed.py --database-url sqlite:// --repeat 50

What it does, start to end, on its own:

1. creates a throwaway database (``okno_feed_<hex>`` on the server ``--database-url`` names, or a
   temporary SQLite file) and the schema;
2. seeds one department with two experts; the measured expert has 2,000 confirmed consultations in
   the feed's window (30 days back to 180 days ahead) and 100,000 completed ones of history before
   it, the colleague another 20,000; every booking has its "confirmed" history entry;
3. turns the expert's feed on and, through the app (Flask's test client, the whole request:
   token lookup, ETag, body; each request in its own context, as a server runs it), times
   interleaved rounds of:
   ``first`` (the process's rendered-feed cache emptied: the calendar is built),
   ``cached`` (no conditional headers, the body comes from that cache),
   ``304`` (``If-None-Match`` with the current ETag), and the comparator ``GET /healthz`` (a
   request that reads the database once) on the same app;
4. prints runs, median and p95 in milliseconds and each figure's ratio to the comparator, then
   drops the database and the temporary folder, also on error.
"""

from __future__ import annotations

import argparse
import contextvars
import random
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

# bench.rush re-executes this script under the project's virtualenv when needed: import it first.
from bench.rush import DEFAULT_DATABASE_URL, bench_app, percentile  # noqa: E402

EVENTS = 2_000
HISTORY = 100_000
COLLEAGUE_HISTORY = 20_000


def _booking_rows(expert_id: int, topic_id: int, location_id: int, starts: list[datetime], status: str,
                  prefix: str) -> list[dict[str, Any]]:
    return [{
        "code": f"{prefix}{n:07d}", "topic_id": topic_id, "channel": "in_person" if n % 2 else "video",
        "expert_id": expert_id, "location_id": location_id if n % 2 else None, "starts_at": start,
        "ends_at": start + timedelta(minutes=30), "seat": 1, "status": status, "sequence": 1,
        "created_at": start - timedelta(days=3), "source": "web", "citizen_name": f"Гражданин {n}",
        "citizen_email": f"{prefix.lower()}{n}@bench.example.org", "citizen_phone": f"+7916{n:07d}",
        "applicant_type": "individual", "question": "Вопрос", "consent_at": start - timedelta(days=3),
        "manage_token_salt": "s" * 16, "manage_token_hash": secrets.token_hex(32),
        "completed_at": start + timedelta(minutes=30) if status == "completed" else None,
    } for n, start in enumerate(starts)]


def _grid(first: datetime, count: int, rng: random.Random) -> list[datetime]:
    """``count`` distinct half-hour starts from ``first`` on, 16 a day, in a shuffled order."""
    return rng.sample([first + timedelta(days=n // 16, minutes=30 * (n % 16)) for n in range(count)], count)


def seed(rng: random.Random) -> str:
    """Schema and data inside the current app context; returns the measured expert's feed path."""
    from flask import current_app
    from sqlalchemy import insert, select

    from booking.models import Booking, BookingEvent
    from booking.workspace.feed import feed_url, issue_feed_token
    from scheduler.audit import Actor
    from scheduler.auth.models import Role, User
    from scheduler.db import utcnow
    from scheduler.departments.models import BusinessHours, Department, Location, Topic
    from scheduler.experts.models import Expert
    from scheduler.extensions import db

    db.create_all()
    session = db.session
    department = Department(slug="feed", title="Газовая служба", timezone="Europe/Moscow", holiday_calendar="RU")
    for weekday in range(5):
        department.hours.append(BusinessHours(weekday=weekday, opens=clock(8), closes=clock(20)))
    office = Location(slug="office", name="Офис на Ленина", address="ул. Ленина, 1", timezone="Europe/Moscow",
                      desks=4, department=department)
    topic = Topic(slug="feed", title="Замена газовой плиты", department=department, allows_video=True,
                  allows_in_person=True)
    experts = []
    for n in range(2):
        user = User(email=f"expert{n}@bench.example.org", full_name=f"Эксперт {n}", role=Role.EXPERT,
                    password_hash="!bench")
        expert = Expert(user=user, department=department, position="Консультант")
        expert.topics = [topic]
        experts.append(expert)
    session.add_all([department, office, topic, *experts])
    session.flush()

    today = datetime.combine(utcnow().date(), clock(6), tzinfo=UTC)
    window_first = today - timedelta(days=29)
    # 2,000 events over ~125 days of the window; the history ends before the window starts.
    feed = _grid(window_first, EVENTS, rng)
    history = _grid(window_first - timedelta(days=HISTORY // 16 + 2), HISTORY, rng)
    colleague = _grid(window_first - timedelta(days=COLLEAGUE_HISTORY // 16 + 2), COLLEAGUE_HISTORY, rng)
    rows = (_booking_rows(experts[0].id, topic.id, office.id, feed, "confirmed", "F")
            + _booking_rows(experts[0].id, topic.id, office.id, history, "completed", "H")
            + _booking_rows(experts[1].id, topic.id, office.id, colleague, "completed", "C"))
    for chunk in range(0, len(rows), 10_000):
        session.execute(insert(Booking), rows[chunk:chunk + 10_000])
    session.flush()
    ids = session.execute(select(Booking.id, Booking.created_at)).all()
    events = [{"booking_id": booking_id, "at": created, "kind": "confirmed", "from_status": "pending",
               "to_status": "confirmed", "actor_type": "citizen", "actor_label": "", "details": {}}
              for booking_id, created in ids]
    for chunk in range(0, len(events), 10_000):
        session.execute(insert(BookingEvent), events[chunk:chunk + 10_000])
    issue_feed_token(session, experts[0], current_app.config, Actor("system", None, "bench"))
    session.commit()
    path = urlsplit(feed_url(experts[0], current_app.config) or "").path
    session.remove()
    return path


def timed(request: Callable[[], Any], expect: int) -> float:
    began = time.perf_counter()
    response = request()
    elapsed = (time.perf_counter() - began) * 1000
    if response.status_code != expect:
        raise SystemExit(f"bench: expected {expect}, got {response.status_code}")
    return elapsed


def fresh(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A request in fresh context variables, as a server runs it: its own app context, ``g`` and session
    (the benchmark's own app context would otherwise be reused by every request)."""
    return contextvars.Context().run(call, *args, **kwargs)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Time the expert's calendar feed: first, cached and 304.")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL,
                        help="a PostgreSQL server to create a throwaway database on (default), or sqlite://")
    parser.add_argument("--repeat", type=int, default=30, help="timed rounds (default 30, at most 500)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    args = parser.parse_args(argv)
    if not 1 <= args.repeat <= 500:
        parser.error("--repeat must be 1..500")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with bench_app(args.database_url, "feed") as bench:
        from sqlalchemy import text

        from booking.workspace.feed import rendered_feeds
        from scheduler.extensions import db

        began = time.perf_counter()
        path = seed(random.Random(args.seed))
        with db.engine.begin() as connection:
            connection.execute(text("ANALYZE"))
        seeded_in = time.perf_counter() - began
        client = bench.app.test_client()
        full = fresh(client.get, path)
        body = full.get_data()
        etag = full.headers["ETag"]
        print(f"okno feed: {body.count(b'BEGIN:VEVENT')} events of {EVENTS + HISTORY} bookings of the expert "
              f"(+{COLLEAGUE_HISTORY} of a colleague), {len(body) // 1024} KB (seeded in {seeded_in:.1f} s); "
              f"{bench.database.label};\ntest client (each request in its own context), {args.repeat} interleaved "
              "rounds after a warm-up")

        def first() -> Any:
            rendered_feeds.clear()
            return fresh(client.get, path)

        kinds: dict[str, tuple[Callable[[], Any], int]] = {
            "GET /healthz (comparator)": (lambda: fresh(client.get, "/healthz"), 200),
            "feed, first (calendar built)": (first, 200),
            "feed, cached (no conditional)": (lambda: fresh(client.get, path), 200),
            "feed, 304 (If-None-Match)": (lambda: fresh(client.get, path, headers={"If-None-Match": etag}), 304),
        }
        for request, expect in kinds.values():  # warm-up
            timed(request, expect)
        ms: dict[str, list[float]] = {name: [] for name in kinds}
        for _ in range(args.repeat):
            for name, (request, expect) in kinds.items():
                ms[name].append(timed(request, expect))
        base = statistics.median(ms["GET /healthz (comparator)"])
        print(f"{'':<32}{'runs':>6}{'median ms':>12}{'p95 ms':>10}{'× healthz':>11}")
        for name, values in ms.items():
            median = statistics.median(values)
            print(f"{name:<32}{len(values):>6}{median:>12.1f}{percentile(values, 0.95):>10.1f}"
                  f"{median / base:>11.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
