"""Cheap endpoints beside a bare Flask endpoint on the same gunicorn: what okno's per-request plumbing costs.

    .venv/bin/python bench/endpoints.py                  # PostgreSQL at 127.0.0.1:5432, 16 connections
    .venv/bin/python bench/endpoints.py --database-url sqlite:// --seconds 5 --rounds 3

What it does, start to end, on its own:

1. creates a throwaway database (``okno_endpoints_<hex>`` on the server ``--database-url`` names, or a
   temporary SQLite file for ``sqlite://``), the schema, and ``--topics`` active topics over five departments;
2. starts two gunicorn servers with the same settings (``--workers`` × ``--threads`` gthread, the
   project's ``gunicorn.conf.py``) on free 127.0.0.1 ports: okno (``wsgi:app``, development mode,
   rate limits on, kept in Redis as production keeps them (``--redis-url``, default database 14 of the
   local server, or ``memory://``), with limits too high to be reached) and a bare Flask app with one
   JSON endpoint and no hooks (``bench/bare_app.py``);
3. loads each endpoint in turn — ``/bare``, ``/healthz``, ``/api/v1/topics`` — with ``--connections``
   client threads, each on its own keep-alive connection, for ``--seconds``, ``--rounds`` times
   (interleaved, so drift on a busy machine touches all three alike), after a warm-up;
4. prints requests per second, latency percentiles, errors (any answer but 200) and each endpoint's
   throughput as a share of the bare endpoint's; stops both servers and drops the database.

The client is the standard library (sockets, threads); everything stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

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
    DEFAULT_DATABASE_URL,
    bench_app,
    free_port,
    percentile,
    start_gunicorn,
    stop,
    wait_until_serving,
)

ENDPOINTS = (("bare", "/bare"), ("okno", "/healthz"), ("okno", "/api/v1/topics"))


@dataclass
class Load:
    requests: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def read_response(sock: socket.socket, buffer: bytearray) -> tuple[int, bool]:
    """Read one HTTP/1.1 response (with Content-Length) off a keep-alive socket: (status, keep the connection)."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed by the server")
        buffer += chunk
    head, _, _rest = bytes(buffer).partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines[1:])}
    length = int(headers.get(b"content-length", b"-1"))
    if length < 0:
        raise ConnectionError("no Content-Length")
    need = len(head) + 4 + length
    while len(buffer) < need:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed by the server")
        buffer += chunk
    del buffer[:need]
    return status, headers.get(b"connection", b"").lower() != b"close"


def client(port: int, path: str, stop_at: float, load: Load, lock: threading.Lock) -> None:
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json\r\n\r\n".encode()
    latencies: list[float] = []
    errors = 0
    sock: socket.socket | None = None
    buffer = bytearray()
    try:
        while time.monotonic() < stop_at:
            if sock is None:
                sock = socket.create_connection(("127.0.0.1", port), timeout=30)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                buffer.clear()
            began = time.perf_counter()
            try:
                sock.sendall(request)
                status, keep = read_response(sock, buffer)
            except OSError:
                errors += 1
                sock.close()
                sock = None
                continue
            latencies.append(time.perf_counter() - began)
            if status != 200:
                errors += 1
            if not keep:
                sock.close()
                sock = None
    finally:
        if sock is not None:
            sock.close()
    with lock:
        load.latencies.extend(latencies)
        load.requests += len(latencies)
        load.errors += errors


def run_load(port: int, path: str, connections: int, seconds: float) -> Load:
    load, lock = Load(), threading.Lock()
    stop_at = time.monotonic() + seconds
    threads = [threading.Thread(target=client, args=(port, path, stop_at, load, lock), daemon=True)
               for _ in range(connections)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 60)
    load.seconds = time.perf_counter() - began
    return load


def seed_topics(count: int) -> None:
    """Five departments and ``count`` active topics between them, committed (the app's context is pushed)."""
    from scheduler.departments.models import Department, Topic
    from scheduler.extensions import db

    db.create_all()
    departments = [Department(slug=f"dept-{n}", title=f"Отдел {n + 1}", timezone="Europe/Moscow",
                              holiday_calendar="RU") for n in range(5)]
    db.session.add_all(departments)
    db.session.add_all(Topic(slug=f"topic-{n}", title=f"Тема консультации {n + 1}", department=departments[n % 5],
                             duration_minutes=30, description="Описание темы " * 5) for n in range(count))
    db.session.commit()
    db.session.remove()


def wait_for(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"endpoints: gunicorn exited:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"endpoints: {url} did not answer in {timeout:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Cheap okno endpoints beside a bare Flask endpoint.")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL,
                        help="server for the throwaway database (default %(default)s; sqlite:// for a file)")
    parser.add_argument("--redis-url", default=os.environ.get("OKNO_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
                        help="rate-limit storage, as production keeps it (default %(default)s; memory:// for none)")
    parser.add_argument("--connections", type=int, default=16, help="client keep-alive connections (default 16)")
    parser.add_argument("--seconds", type=float, default=2.0, help="seconds per endpoint and round (default 2)")
    parser.add_argument("--rounds", type=int, default=6, help="interleaved rounds (default 6)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn processes (default 4)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn process (default 4)")
    parser.add_argument("--topics", type=int, default=30, help="active topics to list (default 30)")
    args = parser.parse_args(argv)
    if not 1 <= args.connections <= 256 or args.seconds <= 0 or args.rounds < 1:
        parser.error("check --connections (1..256), --seconds and --rounds")

    with bench_app(args.database_url, "endpoints") as bench:
        seed_topics(args.topics)
        settings = {**bench.settings, "RATELIMIT_ENABLED": "1", "RATELIMIT_STORAGE_URI": args.redis_url,
                    "API_RATE_LIMIT": "100000000 per minute"}
        env = {**os.environ, **settings}
        okno_log, bare_log = bench.workdir / "okno.log", bench.workdir / "bare.log"
        bare_port = free_port()
        servers = {
            "okno": (bench.port, start_gunicorn(bench.port, env, args.workers, args.threads, okno_log)),
            "bare": (bare_port, start_gunicorn(bare_port, env, args.workers, args.threads, bare_log,
                                               target="bench.bare_app:app")),
        }
        try:
            wait_until_serving(f"http://127.0.0.1:{bench.port}", servers["okno"][1], okno_log)
            wait_for(f"http://127.0.0.1:{bare_port}/bare", servers["bare"][1], bare_log)
            print(f"cheap endpoints: gunicorn {args.workers} processes × {args.threads} threads (gthread) for each "
                  f"app, {args.connections} keep-alive client connections, {args.rounds} rounds × {args.seconds:.0f} s "
                  f"per endpoint; {bench.database.label}; rate limits in {args.redis_url}; {args.topics} topics",
                  flush=True)
            for server, path in ENDPOINTS:  # warm-up: every process and thread
                run_load(servers[server][0], path, args.connections, 1.0)
            loads: dict[str, list[Load]] = {path: [] for _server, path in ENDPOINTS}
            for _round in range(args.rounds):
                for server, path in ENDPOINTS:
                    loads[path].append(run_load(servers[server][0], path, args.connections, args.seconds))
        finally:
            for _port, process in servers.values():
                stop(process)

    bare_rate = statistics.fmean(load.rate for load in loads["/bare"])
    print(f"{'endpoint':<16} {'requests/s':>10}  {'per round':<24} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}  "
          f"{'share of bare':>13}")
    failed = False
    for _server, path in ENDPOINTS:
        runs = loads[path]
        rate = statistics.fmean(load.rate for load in runs)
        ratios = [load.rate / bare.rate for load, bare in zip(runs, loads["/bare"], strict=True) if bare.rate]
        latencies = [x * 1000 for load in runs for x in load.latencies]
        errors = sum(load.errors for load in runs)
        failed |= errors > 0
        print(f"{path:<16} {rate:>10.0f}  {' '.join(f'{r.rate:.0f}' for r in runs):<24} "
              f"{percentile(latencies, .5):>7.1f} {percentile(latencies, .99):>7.1f} {errors:>6}  "
              f"{rate / bare_rate:>12.0%}" + (f" (median of rounds {statistics.median(ratios):.0%}: "
                                               f"{', '.join(f'{r:.0%}' for r in ratios)})" if path != "/bare" else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
