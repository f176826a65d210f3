"""A slot-release rush: N partner clients race for M free slots on a real gunicorn + PostgreSQL server.

    .venv/bin/python bench/rush.py                 # 500 clients, 50 slots, PostgreSQL at 127.0.0.1
    .venv/bin/python bench/rush.py --clients 100 --slots 20 --database-url sqlite://

What it does, start to end, on its own:

1. creates a fresh database next to the one ``--database-url`` names (``okno_rush_<hex>``; a
   temporary file for ``sqlite://``), creates the schema;
2. seeds exactly M free slots: one 30-minute video topic, ceil(M / --per-expert) experts whose
   only hours are an "hours" override on one day two days ahead (so nothing else in the
   horizon is free), and checks through ``GET /api/v1/slots`` that the server shows exactly M;
3. creates a partner API key and starts gunicorn on a free loopback port (rate limits off);
4. releases N client threads at once (a barrier); client i asks for slot i mod M with
   ``POST /api/v1/bookings`` as its own citizen (distinct email and phone, so the per-topic
   limit never interferes) and, on ``409 slot_taken``, tries one of the offered alternatives,
   up to --retries more times;
5. counts answers, looks for double bookings in the database (two active bookings of one
   expert overlapping in time), prints the figures, stops gunicorn and drops the database.

Exit status 1 when a double booking is found or the database disagrees with the 201 answers.
Only the standard library and the project's own virtualenv are used; all traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import random
import secrets
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
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

from sqlalchemy import and_, create_engine, func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import aliased  # noqa: E402

DEFAULT_DATABASE_URL = os.environ.get("OKNO_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
MAX_CLIENTS = 5000
QUESTION = "Хочу заменить старую газовую плиту на новую с газ-контролем."


# --- the database -----------------------------------------------------------------------------

@dataclass
class Database:
    url: str
    label: str
    cleanup: Any = None

    def drop(self) -> None:
        if self.cleanup is not None:
            self.cleanup()


def fresh_database(base_url: str, workdir: Path, prefix: str = "okno_rush") -> Database:
    """A throwaway database of the kind ``base_url`` names: an SQLite file, or ``<prefix>_<hex>``."""
    from scheduler.config import normalise_database_url

    url = make_url(normalise_database_url(base_url))
    if url.get_backend_name() == "sqlite":
        path = workdir / f"{prefix}.sqlite"
        return Database(f"sqlite:///{path}", f"SQLite file {path}")
    if url.get_backend_name() != "postgresql":
        raise SystemExit(f"bench: use a PostgreSQL or SQLite URL, not {url.get_backend_name()}")
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    fresh = url.set(database=name).render_as_string(hide_password=False)
    try:
        probe = create_engine(fresh)
        with probe.connect() as connection:
            version = connection.execute(text("SHOW server_version")).scalar()
        probe.dispose()
    except Exception:  # whatever went wrong, the new database must not be left behind
        drop()
        raise
    return Database(fresh, f"PostgreSQL {version}, database {name}", drop)


def settings_for(database_url: str, workdir: Path, base_url: str) -> dict[str, str]:
    return {
        "OKNO_ENV": "development",
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_urlsafe(48),
        "PUBLIC_BASE_URL": base_url,
        "OKNO_INSTANCE_PATH": str(workdir),
        "MAIL_FILE_DIR": str(workdir / "mail"),
        "JOBS_SQLITE_PATH": str(workdir / "jobs.sqlite"),
        "SMTP_HOST": "",
        "REDIS_URL": "",
        "OUTBOX_NOTIFY_WORKER": "0",  # mail stays in the outbox: this measures booking, not delivery
        "RATELIMIT_ENABLED": "0",
        "RATELIMIT_STORAGE_URI": "memory://",
    }


def interrupted(signum: int, _frame: Any) -> None:
    """SIGTERM as Ctrl-C, so a stopped benchmark still drops its database and folder."""
    raise KeyboardInterrupt(f"signal {signum}")


@dataclass
class BenchApp:
    app: Any  # the Flask app, pushed for the block
    database: Database
    workdir: Path
    settings: dict[str, str]
    port: int


@contextmanager
def bench_app(database_url: str, name: str) -> Iterator[BenchApp]:
    """A throwaway database, folder and app (its context pushed) for one benchmark, gone afterwards."""
    signal.signal(signal.SIGTERM, interrupted)
    workdir = Path(tempfile.mkdtemp(prefix=f"okno-{name}-"))
    database: Database | None = None
    app = None
    try:
        from scheduler.app import create_app

        database = fresh_database(database_url, workdir, prefix=f"okno_{name}")
        port = free_port()
        settings = settings_for(database.url, workdir, f"http://127.0.0.1:{port}")
        app = create_app(dict(settings), instance_path=str(workdir))
        with app.app_context():
            yield BenchApp(app, database, workdir, settings, port)
    finally:
        if app is not None:
            from scheduler.extensions import db

            with app.app_context():
                db.session.remove()
                db.engine.dispose()
        if database is not None:
            database.drop()
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class Seeded:
    topic: str
    day: date
    experts: list[int]
    key: str


def seed(settings: dict[str, str], workdir: Path, slots: int, per_expert: int) -> Seeded:
    """Schema, one topic, and experts whose only hours give exactly ``slots`` 30-minute slots on one day."""
    from booking.apikeys import create_key
    from scheduler.app import create_app
    from scheduler.audit import Actor
    from scheduler.auth.models import Role, User
    from scheduler.db import utcnow
    from scheduler.departments.models import BusinessHours, Department, Topic
    from scheduler.experts.models import Expert
    from scheduler.extensions import db
    from scheduler.schedules.models import Channel, DateOverride, OverrideKind

    app = create_app(dict(settings), instance_path=str(workdir))
    with app.app_context():
        db.create_all()
        session = db.session
        department = Department(slug="rush", title="Одно окно", timezone="Europe/Moscow", holiday_calendar="RU")
        for weekday in range(5):
            department.hours.append(BusinessHours(weekday=weekday, opens=clock(9), closes=clock(18)))
        topic = Topic(slug="rush", title="Замена газовой плиты", department=department, duration_minutes=30,
                      min_notice_minutes=0, horizon_days=30)
        session.add_all([department, topic])
        # Two days ahead: an "hours" override gives slots on any date, working day or not.
        day = utcnow().astimezone(department.zone).date() + timedelta(days=2)
        experts = []
        for n in range(math.ceil(slots / per_expert)):
            count = min(per_expert, slots - n * per_expert)
            user = User(email=f"expert{n}@rush.example.org", full_name=f"Эксперт {n + 1}", role=Role.EXPERT)
            user.set_password(secrets.token_urlsafe(16))
            expert = Expert(user=user, department=department, position="Консультант")
            expert.topics = [topic]
            ends = datetime.combine(day, clock(9)) + timedelta(minutes=30 * count)
            session.add_all([user, expert, DateOverride(
                expert=expert, first_day=day, last_day=day, kind=OverrideKind.HOURS, channel=Channel.VIDEO,
                intervals=[["09:00", ends.strftime("%H:%M")]],
            )])
            experts.append(expert)
        session.flush()
        _row, key = create_key(session, "Rush bench", Actor.system("bench"))
        seeded = Seeded(topic.slug, day, [e.id for e in experts], key)
        session.commit()
        session.remove()
        db.engine.dispose()
    return seeded


# --- the server -----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_gunicorn(port: int, env: dict[str, str], workers: int, threads: int, log: Path,
                   options: tuple[str, ...] = (), target: str = "wsgi:app") -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--worker-class", "gthread",
             "--threads", str(threads), "--bind", f"127.0.0.1:{port}", "--backlog", "2048",
             "--graceful-timeout", "5", "--timeout", "120", *options, target],
            cwd=PROJECT_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_until_serving(base_url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"rush: gunicorn exited:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"rush: gunicorn did not answer in {timeout:.0f} s:\n{log.read_text(errors='replace')[-3000:]}")


def get_json(base_url: str, path: str) -> Any:
    with urllib.request.urlopen(f"{base_url}{path}", timeout=30) as response:
        return json.loads(response.read())


# --- the clients ----------------------------------------------------------------------------------

@dataclass
class Attempt:
    status: int  # 0 for a transport error
    error: str  # "slot_taken", "limit_reached", an exception's name, ...
    seconds: float


@dataclass
class Client:
    n: int
    attempts: list[Attempt] = field(default_factory=list)
    booked: dict[str, Any] | None = None


def citizen(n: int) -> dict[str, str]:
    """Distinct per client: +7 916 1XX-XX-XX are valid Russian mobile numbers."""
    return {"name": f"Гражданин {n}", "email": f"rush{n}@example.org",
            "phone": f"+7 916 {100 + n // 10000:03d}-{n // 100 % 100:02d}-{n % 100:02d}",
            "applicant_type": "individual"}


def post_booking(port: int, key: str, body: dict[str, Any], timeout: float,
                 tls: ssl.SSLContext | None = None, path: str = "/api/v1/bookings") -> tuple[int, dict[str, Any]]:
    """One partner booking request; over HTTPS (a TLS proxy in front) when ``tls`` is given."""
    connection = (http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=tls) if tls
                  else http.client.HTTPConnection("127.0.0.1", port, timeout=timeout))
    try:
        connection.request("POST", path, body=json.dumps(body).encode(),
                           headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        response = connection.getresponse()
        raw = response.read()
    finally:
        connection.close()
    try:
        payload = json.loads(raw)
    except ValueError:
        payload = {"error": f"non-JSON {response.status}"}
    return response.status, payload if isinstance(payload, dict) else {"error": "non-object JSON"}


def run_client(client: Client, port: int, seeded: Seeded, target: dict[str, Any], retries: int,
               barrier: threading.Barrier, deadline: float, timeout: float, tls: ssl.SSLContext | None = None) -> None:
    rng = random.Random(client.n)
    person = citizen(client.n)
    try:
        barrier.wait(timeout=60)
    except threading.BrokenBarrierError:
        return
    slot = target
    for _ in range(retries + 1):
        if time.monotonic() > deadline:
            return
        body = {"topic": seeded.topic, "channel": "video", "start": slot["start"], "expert": slot["expert"]["id"],
                "citizen": person, "question": QUESTION, "consent_personal_data": True}
        began = time.perf_counter()
        try:
            status, payload = post_booking(port, seeded.key, body, timeout, tls)
        except (OSError, http.client.HTTPException) as exc:
            client.attempts.append(Attempt(0, type(exc).__name__, time.perf_counter() - began))
            return
        client.attempts.append(Attempt(status, str(payload.get("error", "")), time.perf_counter() - began))
        if status == 201:
            client.booked = payload
            return
        alternatives = payload.get("alternatives") or []
        if status != 409 or payload.get("error") != "slot_taken" or not alternatives:
            return
        slot = rng.choice(alternatives)


def bare_rush(clients: int, workers: int, threads: int, workdir: Path, timeout: float,
              body: dict[str, Any]) -> tuple[list[float], float, int]:
    """The comparator: as many clients, released at once, each POSTing a booking's body once to a bare
    Flask app (``bench/bare_app.py``) on the same gunicorn settings: what the load generator, gunicorn
    and the sockets cost on this machine before any of okno's work. (latencies, seconds, errors)"""
    port = free_port()
    log = workdir / "bare-gunicorn.log"
    server = start_gunicorn(port, dict(os.environ), workers, threads, log, target="bench.bare_app:app")
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    try:
        wait_until_serving(f"http://127.0.0.1:{port}", server, log)
        barrier = threading.Barrier(clients + 1)

        def client() -> None:
            nonlocal errors
            barrier.wait(timeout=60)
            began = time.perf_counter()
            try:
                status, _ = post_booking(port, "bare", body, timeout, path="/bare")
            except (OSError, http.client.HTTPException):
                status = 0
            with lock:
                latencies.append(time.perf_counter() - began)
                errors += status != 201

        threads_ = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
        for thread in threads_:
            thread.start()
        barrier.wait(timeout=60)
        released = time.perf_counter()
        for thread in threads_:
            thread.join(timeout=timeout)
        return latencies, time.perf_counter() - released, errors
    finally:
        stop(server)


# --- the checks -----------------------------------------------------------------------------------

def database_figures(database_url: str) -> tuple[int, int]:
    """(pairs of overlapping active bookings of one expert, active bookings)."""
    from booking.models import ACTIVE_STATUSES, Booking
    from scheduler.config import normalise_database_url

    active = [s.value for s in ACTIVE_STATUSES]
    first, second = aliased(Booking), aliased(Booking)
    overlapping = select(func.count()).select_from(first).join(second, and_(
        first.expert_id == second.expert_id, first.id < second.id,
        first.starts_at < second.ends_at, second.starts_at < first.ends_at,
    )).where(first.status.in_(active), second.status.in_(active))
    engine = create_engine(normalise_database_url(database_url))
    try:
        with engine.connect() as connection:
            doubles = int(connection.scalar(overlapping) or 0)
            count = int(connection.scalar(select(func.count(Booking.id)).where(Booking.status.in_(active))) or 0)
    finally:
        engine.dispose()
    return doubles, count


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


# --- main -------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    cpus = os.cpu_count() or 2
    parser = argparse.ArgumentParser(description="A slot-release rush against a real okno server.")
    parser.add_argument("--clients", type=int, default=500, help="concurrent clients (default 500)")
    parser.add_argument("--slots", type=int, default=50, help="free slots released (default 50)")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL,
                        help="server to create the throwaway database on (default %(default)s; sqlite:// for a file)")
    parser.add_argument("--per-expert", type=int, default=10, help="slots per expert (default 10, at most 18)")
    parser.add_argument("--retries", type=int, default=2,
                        help="alternatives a client tries after slot_taken (default 2)")
    parser.add_argument("--workers", type=int, default=max(2, 2 * cpus), help="gunicorn processes (default 2 × CPUs)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn process (default 4)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds the rush may take at most (default 120)")
    parser.add_argument("--keep", action="store_true", help="keep the database and the work folder for inspection")
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= MAX_CLIENTS:
        parser.error(f"--clients must be 1..{MAX_CLIENTS}")
    if not 1 <= args.per_expert <= 18:
        parser.error("--per-expert must be 1..18 (09:00-18:00 in 30-minute slots)")
    if not 1 <= args.slots <= 2000:
        parser.error("--slots must be 1..2000")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="okno-rush-"))
    database = fresh_database(args.database_url, workdir)
    server: subprocess.Popen[bytes] | None = None
    log = workdir / "gunicorn.log"
    try:
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        settings = settings_for(database.url, workdir, base_url)
        seeded = seed(settings, workdir, args.slots, args.per_expert)
        server = start_gunicorn(port, {**os.environ, **settings}, args.workers, args.threads, log)
        wait_until_serving(base_url, server, log)

        day = seeded.day.isoformat()
        offered = get_json(base_url, f"/api/v1/slots?topic={seeded.topic}&channel=video&from={day}&to={day}")["slots"]
        if len(offered) != args.slots:
            raise SystemExit(f"rush: the server offers {len(offered)} slots, {args.slots} were seeded")
        for _ in range(args.workers * 2):  # every process opens its first database connection before the rush
            get_json(base_url, "/healthz")

        print(f"okno rush: {args.clients} clients for {args.slots} slots ({len(seeded.experts)} experts), "
              f"up to {args.retries} retries each; gunicorn {args.workers} processes × {args.threads} threads; "
              f"{database.label}", flush=True)

        barrier = threading.Barrier(args.clients + 1)
        clients = [Client(n) for n in range(args.clients)]
        deadline = time.monotonic() + args.timeout
        threads = [threading.Thread(target=run_client, daemon=True, args=(
            c, port, seeded, offered[c.n % len(offered)], args.retries, barrier, deadline, args.timeout))
            for c in clients]
        for thread in threads:
            thread.start()
        barrier.wait(timeout=60)
        released = time.perf_counter()
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()) + 5)
        elapsed = time.perf_counter() - released
        hung = sum(t.is_alive() for t in threads)

        attempts = [a for c in clients for a in c.attempts]
        answers = Counter((a.status, a.error) for a in attempts)
        created = answers[(201, "")]
        taken = answers[(409, "slot_taken")]
        limited = answers[(409, "limit_reached")]
        other = sum(n for k, n in answers.items() if k not in {(201, ""), (409, "slot_taken"), (409, "limit_reached")})
        latencies = [a.seconds for a in attempts]
        doubles, active = database_figures(database.url)
        booked = sum(c.booked is not None for c in clients)

        print(f"requests              {len(attempts):>6}")
        print(f"  201 created         {created:>6}")
        print(f"  409 slot_taken      {taken:>6}")
        print(f"  409 limit_reached   {limited:>6}")
        unexpected = {f"{status} {error}".strip(): n for (status, error), n in answers.items()
                      if (status, error) not in {(201, ""), (409, "slot_taken"), (409, "limit_reached")}}
        print(f"  other errors        {other:>6}" + (f"   {unexpected}" if other else ""))
        print(f"clients booked        {booked:>6} of {args.clients}" + (f" ({hung} still waiting at the deadline)"
                                                                           if hung else ""))
        print(f"double bookings       {doubles:>6}   (pairs of active bookings of one expert overlapping)")
        print(f"active bookings in db {active:>6}   ({'matches' if active == created else 'DIFFERS FROM'} the 201s)")
        if latencies:
            print(f"latency               p50 {percentile(latencies, 0.50) * 1000:.0f} ms, "
                  f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms, "
                  f"mean {statistics.fmean(latencies) * 1000:.0f} ms")
        print(f"throughput            {created / elapsed:.1f} bookings/s, {len(attempts) / elapsed:.1f} requests/s "
              f"({elapsed:.2f} s from release to the last answer)")
        if other:
            print(f"gunicorn log (tail):\n{log.read_text(errors='replace')[-2000:]}")
        if server is not None:
            stop(server)  # the comparator gets the machine to itself
            server = None
        sample = {"topic": seeded.topic, "channel": "video", "start": offered[0]["start"],
                  "expert": offered[0]["expert"]["id"], "citizen": citizen(0), "question": QUESTION,
                  "consent_personal_data": True}
        bare, bare_seconds, bare_errors = bare_rush(args.clients, args.workers, args.threads, workdir,
                                                    args.timeout, sample)
        if bare:
            print(f"comparator: bare Flask, the same {args.clients} clients at once, one POST each, same gunicorn "
                  f"settings: p50 {percentile(bare, 0.50) * 1000:.0f} ms, p99 {percentile(bare, 0.99) * 1000:.0f} ms, "
                  f"{len(bare) / bare_seconds:.1f} requests/s, {bare_errors} errors")
            if latencies:
                print(f"okno / bare           p99 {percentile(latencies, 0.99) / percentile(bare, 0.99):.1f}×, "
                      f"requests/s {len(attempts) / elapsed / (len(bare) / bare_seconds):.2f}×")
        return 1 if doubles or active != created else 0
    finally:
        if server is not None:
            stop(server)
        if args.keep:
            print(f"kept: {database.url} and {workdir}")
        else:
            database.drop()
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
