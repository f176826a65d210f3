"""SQLite concurrency: readers (slot searches, page views) beside a writer (bookings) on one SQLite file.

    .venv/bin/python bench/sqlite.py                     # 8 readers, 1 writer, 8 s per phase
    .venv/bin/python bench/sqlite.py --readers 16 --seconds 15

What it does, start to end, on its own, once for each mode:

* ``serialised`` — the comparator: every transaction begins IMMEDIATE, reads included, as okno did
  before read-only requests began deferred (``bench/sqlite_serialised.py``);
* ``concurrent`` — the app as it is (``wsgi:app``): read-only requests begin deferred and read a WAL
  snapshot side by side; only transactions that may write take the write lock.

For each mode: a fresh SQLite file in a temporary folder with one 30-minute video topic and
``--experts`` experts with 18 free slots each on one day (``bench.rush.seed``), a partner API key,
and gunicorn (``--workers`` × ``--threads`` gthread, rate limits off) on a free 127.0.0.1 port. Then
two phases of ``--seconds`` each on the same server:

1. ``readers`` — ``--readers`` client threads, each on its own keep-alive connection, alternate
   ``GET /api/v1/slots`` for the day and ``GET /topics/<slug>`` (the citizen's topic page);
2. ``readers + writer`` — the same readers, and one writer that books a free slot
   (``POST /api/v1/bookings``) and cancels it (``POST /api/v1/bookings/<code>/cancel``), over and over.

It prints, per mode and phase, requests per second, latency percentiles and errors (any answer
other than 200/201, or a transport error), and how many times "database is locked" appeared in the
gunicorn log during the phase; then the ratios of the concurrent mode to the serialised one. The
exit status is 1 if the concurrent mode had any error. Everything stays on 127.0.0.1 and the
temporary folder is removed afterwards (``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
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

from bench.rush import (  # noqa: E402
    QUESTION,
    Seeded,
    citizen,
    free_port,
    get_json,
    interrupted,
    percentile,
    seed,
    settings_for,
    start_gunicorn,
    stop,
    wait_until_serving,
)

MODES = {"serialised": "bench.sqlite_serialised:app", "concurrent": "wsgi:app"}
LOCKED = b"database is locked"


@dataclass
class Tally:
    """What one kind of client saw during one phase."""

    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)

    def add(self, other: Tally) -> None:
        self.latencies.extend(other.latencies)
        self.errors.update(other.errors)


@dataclass
class Phase:
    mode: str
    name: str
    seconds: float
    readers: Tally
    writer: Tally | None
    locked_in_log: int


def request(connection: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    return response.status, response.read()


def reader(port: int, paths: list[str], stop_at: float, tally: Tally) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    n = 0
    try:
        while time.monotonic() < stop_at:
            path = paths[n % len(paths)]
            n += 1
            began = time.perf_counter()
            try:
                status, _body = request(connection, "GET", path)
            except (OSError, http.client.HTTPException) as exc:
                tally.errors[type(exc).__name__] += 1
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                continue
            tally.latencies.append(time.perf_counter() - began)
            if status != 200:
                tally.errors[f"HTTP {status}"] += 1
    finally:
        connection.close()


def writer(port: int, seeded: Seeded, slots: list[dict[str, Any]], stop_at: float, tally: Tally) -> None:
    """Book a slot and cancel it, again and again (one citizen: one active booking at a time)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {seeded.key}", "Content-Type": "application/json"}
    person = citizen(1)

    def call(path: str, body: bytes, expected: int) -> bytes | None:
        nonlocal connection
        began = time.perf_counter()
        try:
            status, raw = request(connection, "POST", path, body, headers)
        except (OSError, http.client.HTTPException) as exc:
            tally.errors[type(exc).__name__] += 1
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            return None
        tally.latencies.append(time.perf_counter() - began)
        if status != expected:
            tally.errors[f"HTTP {status}"] += 1
            return None
        return raw

    n = 0
    try:
        while time.monotonic() < stop_at:
            slot = slots[n % len(slots)]
            n += 1
            booked = call("/api/v1/bookings", json.dumps({
                "topic": seeded.topic, "channel": "video", "start": slot["start"], "expert": slot["expert"]["id"],
                "citizen": person, "question": QUESTION, "consent_personal_data": True}).encode(), 201)
            if booked is not None:
                call(f"/api/v1/bookings/{json.loads(booked)['code']}/cancel", b"", 200)
    finally:
        connection.close()


def run_phase(mode: str, name: str, port: int, paths: list[str], readers: int, seconds: float, log: Path,
              seeded: Seeded | None, slots: list[dict[str, Any]]) -> Phase:
    log_start = log.stat().st_size
    stop_at = time.monotonic() + seconds
    tallies = [Tally() for _ in range(readers)]
    threads = [threading.Thread(target=reader, args=(port, paths, stop_at, t), daemon=True) for t in tallies]
    writer_tally = Tally() if seeded is not None else None
    if seeded is not None and writer_tally is not None:
        threads.append(threading.Thread(target=writer, args=(port, seeded, slots, stop_at, writer_tally), daemon=True))
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 120)
    elapsed = time.perf_counter() - began
    total = Tally()
    for tally in tallies:
        total.add(tally)
    with log.open("rb") as output:
        output.seek(log_start)
        locked = output.read().count(LOCKED)
    return Phase(mode, name, elapsed, total, writer_tally, locked)


def serve_and_measure(mode: str, args: argparse.Namespace, workdir: Path) -> list[Phase]:
    folder = workdir / mode
    folder.mkdir()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    settings = settings_for(f"sqlite:///{folder / 'okno.sqlite'}", folder, base_url)
    seeded = seed(settings, folder, args.experts * 18, 18)
    log = folder / "gunicorn.log"
    server = start_gunicorn(port, {**os.environ, **settings}, args.workers, args.threads, log, target=MODES[mode])
    try:
        wait_until_serving(base_url, server, log)
        day = seeded.day.isoformat()
        search = f"/api/v1/slots?topic={seeded.topic}&channel=video&from={day}&to={day}"
        slots = get_json(base_url, search)["slots"]
        if len(slots) != args.experts * 18:
            raise SystemExit(f"sqlite bench: the server offers {len(slots)} slots, {args.experts * 18} were seeded")
        paths = [search, f"/topics/{seeded.topic}"]
        for _ in range(args.workers * args.threads):  # every process and thread connects before the clock starts
            get_json(base_url, search)
        return [
            run_phase(mode, "readers", port, paths, args.readers, args.seconds, log, None, slots),
            run_phase(mode, "readers + writer", port, paths, args.readers, args.seconds, log, seeded, slots),
        ]
    finally:
        stop(server)


def describe(tally: Tally, seconds: float) -> str:
    if not tally.latencies and not tally.errors:
        return "-"
    ms = [x * 1000 for x in tally.latencies]
    errors = sum(tally.errors.values())
    return (f"{len(ms) / seconds:7.1f}/s  p50 {percentile(ms, .5):6.1f}  p95 {percentile(ms, .95):6.1f}  "
            f"p99 {percentile(ms, .99):7.1f} ms  errors {errors}" + (f" {dict(tally.errors)}" if errors else ""))


def main(argv: list[str] | None = None) -> int:
    cpus = os.cpu_count() or 2
    parser = argparse.ArgumentParser(description="SQLite: readers beside a writer, serialised vs concurrent.")
    parser.add_argument("--readers", type=int, default=8, help="reader threads (default 8)")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each phase (default 8)")
    parser.add_argument("--experts", type=int, default=10, help="experts, 18 free slots each (default 10)")
    parser.add_argument("--workers", type=int, default=max(2, 2 * cpus), help="gunicorn processes (default 2 × CPUs)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn process (default 4)")
    parser.add_argument("--modes", default="serialised,concurrent", help="comma-separated, of: " + ", ".join(MODES))
    parser.add_argument("--keep", action="store_true", help="keep the work folder (databases, gunicorn logs)")
    args = parser.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    if not modes or any(m not in MODES for m in modes) or not 1 <= args.readers <= 200 or args.seconds <= 0:
        parser.error("check --modes, --readers (1..200) and --seconds")
    signal.signal(signal.SIGTERM, interrupted)
    workdir = Path(tempfile.mkdtemp(prefix=f"okno-sqlite-{secrets.token_hex(2)}-"))
    try:
        print(f"okno on SQLite (WAL): {args.readers} readers (GET /api/v1/slots, GET /topics/<slug>) and 1 writer "
              f"(book + cancel); gunicorn {args.workers} processes × {args.threads} threads; {args.seconds:.0f} s "
              f"per phase", flush=True)
        phases = [phase for mode in modes for phase in serve_and_measure(mode, args, workdir)]
        print(f"{'mode':<11} {'phase':<17} {'who':<8} throughput, latency, errors   ('database is locked' in log)")
        for phase in phases:
            print(f"{phase.mode:<11} {phase.name:<17} {'readers':<8} {describe(phase.readers, phase.seconds)}"
                  f"   (locked: {phase.locked_in_log})")
            if phase.writer is not None:
                print(f"{'':<11} {'':<17} {'writer':<8} {describe(phase.writer, phase.seconds)}")
        by = {(p.mode, p.name): p for p in phases}
        if {"serialised", "concurrent"} <= set(modes):
            print("concurrent / serialised:")
            for name in ("readers", "readers + writer"):
                old, new = by[("serialised", name)], by[("concurrent", name)]
                ratio = (len(new.readers.latencies) / new.seconds) / max(len(old.readers.latencies) / old.seconds, 1e-9)
                p95 = percentile(new.readers.latencies, .95) / max(percentile(old.readers.latencies, .95), 1e-9)
                line = f"  {name:<17} reader throughput × {ratio:.2f}, reader p95 × {p95:.2f}"
                if new.writer is not None and old.writer is not None:
                    w = (len(new.writer.latencies) / new.seconds) / max(len(old.writer.latencies) / old.seconds, 1e-9)
                    line += f", writer requests × {w:.2f}"
                print(line)
        failed = any(sum(p.readers.errors.values()) or (p.writer and sum(p.writer.errors.values()))
                     for p in phases if p.mode == "concurrent")
        return 1 if failed else 0
    finally:
        if args.keep:
            print(f"kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
