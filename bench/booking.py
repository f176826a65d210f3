"""One uncontended booking, in-process: what a single partner booking costs, and what a loser of a race costs.

    .venv/bin/python bench/booking.py                          # PostgreSQL at 127.0.0.1 (a throwaway database)
    .venv/bin/python bench/booking.py --database-url sqlite:// # a temporary SQLite file

What it does, start to end, on its own:

1. creates a throwaway database and seeds it as the rush does (``bench.rush.seed``: one 30-minute
   video topic, experts whose only hours are one day two days ahead) with enough free slots for
   every timed booking, and a partner API key;
2. times, interleaved round by round so that the machine's load falls on every row alike:

   * ``POST /api/v1/bookings`` through the app's test client with the partner key, each time a
     free slot and a new citizen (the whole request: key, body checks, booking, reply, commit);
   * the booking services the endpoint calls (``hold_slot`` confirmed at once, ``send_confirmed``,
     commit) called directly;
   * a loser: ``POST /api/v1/bookings`` for a slot already booked (409 ``slot_taken`` with the
     nearest free times), and the refusal alone (``hold_slot`` raising ``SlotTaken``, rolled back);
   * two comparators in the same run: the floor, one bare INSERT of a booking row through SQLAlchemy
     Core in its own transaction, and ``GET /healthz`` through the same test client;

3. prints runs, median and p95 in milliseconds, the ratio of each median to the floor's, the median
   CPU time of this process (less swayed than wall time by other work on the machine), the SQL
   statements (``cursor.execute`` calls) and the database round trips (statements plus each
   transaction's begin and end) per operation;
4. drops the database and removes the temporary folder, also on error.
"""

from __future__ import annotations

import argparse
import inspect
import os
import secrets
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
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

from bench.rush import DEFAULT_DATABASE_URL, QUESTION, bench_app, citizen, percentile, seed  # noqa: E402

PER_EXPERT = 18  # 09:00-18:00 in 30-minute slots: every slot of the day


@dataclass
class Row:
    """The timings and database traffic of one kind of operation."""

    name: str
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)  # this process's CPU: less swayed by the machine's load
    statements: list[int] = field(default_factory=list)
    round_trips: list[int] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1000

    def line(self, floor: Row) -> str:
        ms = [s * 1000 for s in self.seconds]

        def spread(values: list[int]) -> str:
            return f"{min(values)}" if min(values) == max(values) else f"{min(values)}-{max(values)}"

        cpu = statistics.median(self.cpu_seconds) * 1000
        return (f"{self.name:<36}{len(ms):>5}{statistics.median(ms):>11.2f}{percentile(ms, 0.95):>9.2f}"
                f"{self.median_ms / floor.median_ms:>9.1f}×{cpu:>9.2f}{spread(self.statements):>12}"
                f"{spread(self.round_trips):>13}")


@contextmanager
def database_traffic() -> Iterator[dict[str, int]]:
    """Statements the app's engine sends while the block runs, and round trips (statements, begins, ends)."""
    from scheduler.extensions import db

    counts = {"statements": 0, "transactions": 0}

    def statement(*_args: Any) -> None:
        counts["statements"] += 1

    def transaction(*_args: Any) -> None:
        counts["transactions"] += 1

    listeners: list[tuple[str, Callable[..., None]]] = [
        ("before_cursor_execute", statement), ("begin", transaction), ("commit", transaction),
        ("rollback", transaction)]
    for name, listener in listeners:
        event.listen(db.engine, name, listener)
    try:
        yield counts
    finally:
        for name, listener in listeners:
            event.remove(db.engine, name, listener)


def measured(row: Row, run: Callable[[], None]) -> None:
    with database_traffic() as counts:
        began, cpu = time.perf_counter(), time.process_time()
        run()
        row.seconds.append(time.perf_counter() - began)
        row.cpu_seconds.append(time.process_time() - cpu)
    row.statements.append(counts["statements"])
    row.round_trips.append(counts["statements"] + counts["transactions"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time one uncontended booking in-process, beside the floor.")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL,
                        help="server to create the throwaway database on (default %(default)s; sqlite:// for a file)")
    parser.add_argument("--repeat", type=int, default=100, help="timed runs of each kind (default 100, at most 500)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs of each kind first (default 5)")
    args = parser.parse_args(argv)
    if not 1 <= args.repeat <= 500 or not 0 <= args.warmup <= 50:
        parser.error("--repeat must be 1..500 and --warmup 0..50")

    with bench_app(args.database_url, "booking") as bench:
        from booking.models import Booking
        from booking.notifications import send_confirmed
        from booking.services import BookingPolicy, confirm_booking, hold_slot
        from scheduler.audit import Actor
        from scheduler.db import utcnow
        from scheduler.departments.models import Topic
        from scheduler.extensions import db

        runs = args.repeat + args.warmup
        needed = 2 * runs + 1  # one slot per booking, through the API and through the services; one left over
        seeded = seed(bench.settings, bench.workdir, needed, PER_EXPERT)
        app_client = bench.app.test_client()

        class client:
            """The test client, each request in a fresh app context (so a fresh ``g`` and session)."""

            @staticmethod
            def get(*args: Any, **kwargs: Any) -> Any:
                with bench.app.app_context():
                    return app_client.get(*args, **kwargs)

            @staticmethod
            def post(*args: Any, **kwargs: Any) -> Any:
                with bench.app.app_context():
                    return app_client.post(*args, **kwargs)

        headers = {"Authorization": f"Bearer {seeded.key}"}
        day = seeded.day.isoformat()
        answer = client.get(f"/api/v1/slots?topic={seeded.topic}&channel=video&from={day}&to={day}")
        free = [(datetime.fromisoformat(s["start"]), s["expert"]["id"]) for s in answer.get_json()["slots"]]
        if len(free) != needed:
            raise SystemExit(f"booking: {len(free)} free slots, {needed} were seeded")
        db.session.remove()
        people = iter(range(10**6))

        def body(start: datetime, expert_id: int) -> dict[str, Any]:
            return {"topic": seeded.topic, "channel": "video", "start": start.isoformat(), "expert": expert_id,
                    "citizen": citizen(next(people)), "question": QUESTION, "consent_personal_data": True}

        taken: list[tuple[datetime, int]] = []

        def api_booking() -> None:
            start, expert_id = free.pop()
            response = client.post("/api/v1/bookings", json=body(start, expert_id), headers=headers)
            if response.status_code != 201:
                raise SystemExit(f"booking: the API answered {response.status_code}: {response.get_data(True)[:500]}")
            taken.append((start, expert_id))

        policy = BookingPolicy.from_config(bench.app.config)
        actor = Actor("partner", None, "bench")

        def service_booking() -> None:
            start, expert_id = free.pop()
            person = body(start, expert_id)["citizen"]
            from booking.citizens import validate_citizen

            details = validate_citizen(**person)
            topic = db.session.scalar(select(Topic).where(Topic.slug == seeded.topic))
            now = utcnow()
            with bench.app.test_request_context():
                # As the API books: confirmed at once (older code: a hold, then its confirmation).
                at_once = {"confirmed": True} if "confirmed" in inspect.signature(hold_slot).parameters else {}
                held = hold_slot(db.session, topic=topic, channel="video", start=start, citizen=details,
                                 question=QUESTION, now=now, policy=policy, actor=actor, expert_id=expert_id,
                                 source="api", **at_once)
                if not at_once:
                    confirm_booking(db.session, held.booking, now, actor)
                send_confirmed(db.session, held.booking, bench.app.config, now)
                db.session.commit()
            db.session.remove()

        def loser() -> None:
            # A time taken earlier of an expert who still has free times, so that there are alternatives.
            still_free = {e for _, e in free}
            start, expert_id = next(t for t in reversed(taken) if t[1] in still_free)
            response = client.post("/api/v1/bookings", json=body(start, expert_id), headers=headers)
            payload = response.get_json()
            if response.status_code != 409 or payload.get("error") != "slot_taken" or not payload.get("alternatives"):
                raise SystemExit(f"booking: a loser got {response.status_code}: {response.get_data(True)[:500]}")

        def loser_refused() -> None:
            still_free = {e for _, e in free}
            start, expert_id = next(t for t in reversed(taken) if t[1] in still_free)
            from booking.citizens import validate_citizen
            from booking.services import SlotTaken

            details = validate_citizen(**body(start, expert_id)["citizen"])
            topic = db.session.scalar(select(Topic).where(Topic.slug == seeded.topic))
            try:
                with bench.app.test_request_context():
                    hold_slot(db.session, topic=topic, channel="video", start=start, citizen=details,
                              question=QUESTION, now=utcnow(), policy=policy, actor=actor, expert_id=expert_id,
                              source="api")
            except SlotTaken:
                pass
            else:
                raise SystemExit("booking: hold_slot took a time already booked")
            finally:
                db.session.rollback()
                db.session.remove()

        row_values: dict[str, Any] = {}
        floor_start = datetime.fromisoformat("2000-01-01T00:00:00+00:00")

        def floor() -> None:
            nonlocal floor_start
            if not row_values:  # a copy of a real booking row (one was just made), outside the timing
                template = db.session.scalar(select(Booking).limit(1))
                assert template is not None
                row_values.update({c.key: getattr(template, c.key) for c in Booking.__table__.columns
                                   if c.key != "id"})
                db.session.remove()
            floor_start = floor_start.replace(year=floor_start.year + 1)  # its own seat: nothing collides
            with db.engine.begin() as connection:
                connection.execute(insert(Booking).values(
                    {**row_values, "code": secrets.token_hex(5).upper()[:10], "starts_at": floor_start,
                     "ends_at": floor_start.replace(hour=1), "manage_token_hash": secrets.token_hex(16),
                     "video_room": secrets.token_hex(13)}))

        def healthz() -> None:
            response = client.get("/healthz")
            if response.status_code != 200:
                raise SystemExit(f"booking: /healthz answered {response.status_code}")

        rows = {name: Row(name) for name in ("POST /api/v1/bookings (201)", "services directly",
                                             "loser: POST (409, alternatives)", "loser: hold_slot refuses",
                                             "floor: one bare INSERT", "GET /healthz")}
        kinds = list(zip(rows.values(), (api_booking, service_booking, loser, loser_refused, floor, healthz),
                         strict=True))
        for round_ in range(runs):
            for row, run in kinds:
                if round_ < args.warmup:
                    run()
                else:
                    measured(row, run)

        floor_row = rows["floor: one bare INSERT"]
        print(f"okno one booking, in-process ({len(seeded.experts)} experts, one video topic, a day of "
              f"{PER_EXPERT} slots each; the bookings fill it); {bench.database.label}")
        print(f"{'':<36}{'runs':>5}{'median ms':>11}{'p95 ms':>9}{'× floor':>10}{'CPU ms':>9}{'statements':>12}"
              f"{'round trips':>13}")
        for row in rows.values():
            print(row.line(floor_row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
