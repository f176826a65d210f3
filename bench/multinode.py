"""A rush across two nodes: two gunicorn nodes and two workers on one PostgreSQL and one Redis.

    .venv/bin/python bench/multinode.py            # 160 clients, 40 slots, PostgreSQL and Redis on 127.0.0.1
    make bench-multinode

The deployment of docs/deploy/, on one machine, in production mode (``OKNO_ENV=production``):

1. a fresh database (as bench/rush.py makes one); ``flask db upgrade`` runs once, as the one-shot
   migration job does before any node starts; then bench/rush.py's seed: exactly M free slots;
2. a real SMTP server (aiosmtpd) in this process, recording every message it accepts;
3. two application nodes (gunicorn, each its own processes) and two workers (``flask worker``),
   all with one ``SECRET_KEY``, ``REDIS_URL`` (rate limits and the job queue) and ``DATABASE_URL``;
   a short ``OUTBOX_LEASE_SECONDS``, so that a dead worker's claimed mail is taken over soon;
4. with nginx installed (``--proxy``, the default then), nginx in front, configured by
   docs/deploy/nginx's own files (pointed at these ports and a self-signed certificate),
   terminating TLS and balancing over the nodes, which trust one proxy hop;
5. N partner clients released at once (through nginx, or alternating between the two nodes) race
   for the M slots (``POST /api/v1/bookings``, trying offered alternatives after ``409 slot_taken``);
6. once the SMTP server (which takes 0.1 s per message, as a real one takes a while) has accepted
   a quarter of the slots' confirmations and mail is claimed, the first worker is killed (SIGKILL,
   no chance to release its claims); the other one delivers the rest, the dead one's claims once
   their lease has run out;
7. waits until every confirmation is delivered, then counts: answers by status, double bookings
   in the database, emails received per confirmation (an at-least-once repeat carries the same
   Message-ID and is counted as a duplicate), and prints the figures.

Exit status 1 when a check fails: a double booking, a 5xx or transport error, a confirmation
missing or received under a Message-ID the outbox does not hold, or a database that disagrees
with the 201 answers. tests/integration/test_multinode.py runs the same function and asserts the same.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from bench.rush import (  # noqa: E402  (after the path: runnable as a script)
    Client,
    citizen,
    fresh_database,
    get_json,
    run_client,
    seed,
    settings_for,
    start_gunicorn,
    stop,
    wait_until_serving,
)
from bench.rush import database_figures as double_bookings  # noqa: E402
from bench.rush import free_port as free_tcp_port  # noqa: E402

DEFAULT_DATABASE_URL = os.environ.get("OKNO_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
DEFAULT_REDIS_URL = os.environ.get("OKNO_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
NODES = 2
WORKERS = 2
# A Python process imports the whole app before it serves; on a busy two-core machine that has
# taken over 20 s. A bound, not an expectation.
STARTUP_SECONDS = 90.0
# As docs/deploy runs gunicorn behind nginx: idle keep-alive connections outlive nginx's (60 s), so
# nginx never sends a request on a connection gunicorn is closing; a POST that met one would get a
# 502, since nginx does not replay it on another node.
NODE_OPTIONS = ("--keep-alive", "75")


@dataclass
class Figures:
    """What the rush did and what arrived; ``problems`` lists every failed check (empty: all good)."""

    clients: int = 0
    slots: int = 0
    front: str = "clients straight to the nodes"
    requests: int = 0
    per_node: list[int] = field(default_factory=list)
    created: int = 0
    slot_taken: int = 0
    limit_reached: int = 0
    other: Counter[str] = field(default_factory=Counter)
    double_bookings: int = 0
    active_bookings: int = 0
    confirmations: int = 0  # booking confirmations written to the outbox
    emails: int = 0  # messages the SMTP server accepted
    duplicates: int = 0  # accepted again under a Message-ID already received
    missing: int = 0  # confirmations never received
    strays: int = 0  # received under a Message-ID the outbox does not hold
    killed_after_emails: int = -1  # emails received when the first worker was killed (-1: not killed)
    leased_at_kill: int = 0  # messages claimed ("sending") by some worker at that moment
    orphaned: int = 0  # of those, sent only after their lease ran out: the killed worker's, taken over
    rush_seconds: float = 0.0
    delivery_seconds: float = 0.0  # from the kill to the last confirmation received
    problems: list[str] = field(default_factory=list)

    @property
    def other_total(self) -> int:
        return sum(self.other.values())

    def line(self) -> str:
        """The one-line summary the README's closing note quotes."""
        return (f"multinode rush ({self.front}): {self.requests} requests "
                f"({' + '.join(map(str, self.per_node))} by node), "
                f"201 {self.created}, 409 {self.slot_taken + self.limit_reached}, other {self.other_total}; "
                f"double bookings {self.double_bookings}; emails {self.emails} for {self.confirmations} "
                f"confirmations, duplicates {self.duplicates}, missing {self.missing}; a worker killed after "
                f"{self.killed_after_emails} emails, {self.orphaned} of its claims taken over")

    def report(self) -> str:
        other = f"   {dict(self.other)}" if self.other else ""
        return "\n".join([
            f"requests              {self.requests:>6}   ({', '.join(map(str, self.per_node))} by node)",
            f"  201 created         {self.created:>6}",
            f"  409 slot_taken      {self.slot_taken:>6}",
            f"  409 limit_reached   {self.limit_reached:>6}",
            f"  other (5xx, errors) {self.other_total:>6}{other}",
            f"double bookings       {self.double_bookings:>6}   (pairs of active bookings of one expert overlapping)",
            f"active bookings in db {self.active_bookings:>6}",
            f"confirmations queued  {self.confirmations:>6}",
            f"emails received       {self.emails:>6}   (duplicates {self.duplicates}, missing {self.missing}, "
            f"unknown Message-ID {self.strays})",
            f"worker killed         after {self.killed_after_emails} emails; {self.leased_at_kill} messages "
            f"leased then, {self.orphaned} of them the killed worker's (taken over after the lease)",
            f"timing                rush {self.rush_seconds:.1f} s; all mail in {self.delivery_seconds:.1f} s "
            f"after the kill",
            self.line(),
        ])


def production_settings(database_url: str, redis_url: str, smtp_port: int, workdir: Path,
                        lease_seconds: int, proxies: int) -> dict[str, str]:
    """What every node and worker shares, as docs/deploy/ sets it (test values where a city has real ones)."""
    return {
        "OKNO_ENV": "production",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": "multinode-bench-shared-secret-key-0123456789abcdef",  # one key for all nodes
        "PUBLIC_BASE_URL": "https://okno.example.org",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "SMTP_STARTTLS": "0",
        "MAIL_FROM": "okno <no-reply@okno.example.org>",
        "OUTBOX_LEASE_SECONDS": str(lease_seconds),
        "TRUSTED_PROXY_COUNT": str(proxies),  # nginx in front, or clients straight to the nodes
        "EMAIL_CHECK_DELIVERABILITY": "0",  # the citizens' domains are not looked up in DNS
        "OKNO_INSTANCE_PATH": str(workdir),
        "RATELIMIT_STORAGE_URI": "",  # the limits live in REDIS_URL, shared by both nodes
    }


def process_env(settings: dict[str, str]) -> dict[str, str]:
    """The caller's environment without any okno setting of its own, plus ``settings``."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("OKNO_", "SMTP_", "OUTBOX_", "RATELIMIT_"))
                 and k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "PUBLIC_BASE_URL"}}
    return {**inherited, **settings}


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        return subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--workers", "2"],
                                cwd=PROJECT_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
                                start_new_session=True)


def wait_for(condition: Callable[[], object], timeout: float, what: str,
             alive: list[tuple[subprocess.Popen[bytes], Path]] = ()) -> None:  # type: ignore[assignment]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process, log in alive:
            if process.poll() is not None:
                raise RuntimeError(f"{log.stem} exited while waiting for {what}:\n"
                                   f"{log.read_text(errors='replace')[-3000:]}")
        if condition():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what}: not within {timeout:.0f} s")


def migrate(env: dict[str, str], log: Path) -> None:
    """The one-shot migration job of the deployment: ``flask db upgrade`` before any node starts."""
    with log.open("ab") as output:
        result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=PROJECT_ROOT,
                                env=env, stdout=output, stderr=subprocess.STDOUT, timeout=STARTUP_SECONDS)
    if result.returncode != 0:
        raise RuntimeError(f"flask db upgrade failed:\n{log.read_text(errors='replace')[-3000:]}")


# --- the TLS proxy: docs/deploy/nginx's files, with this machine's ports and paths --------------

DEPLOY = PROJECT_ROOT / "docs" / "deploy" / "nginx"
PROXY_HOST = "okno.example.org"


def self_signed_certificate(directory: Path) -> ssl.SSLContext:
    """A certificate for PROXY_HOST and 127.0.0.1 in nginx's files; returns a client context trusting it."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, PROXY_HOST)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(PROXY_HOST),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "fullchain.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (directory / "privkey.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return ssl.create_default_context(cafile=str(directory / "fullchain.pem"))


def replaced(text: str, old: str, new: str, source: str) -> str:
    """``text`` with ``old`` replaced; fails when the deployment file no longer holds ``old``."""
    if old not in text:
        raise RuntimeError(f"{source} no longer contains {old!r}: update bench/multinode.py with it")
    return text.replace(old, new)


def nginx_config(workdir: Path, node_ports: list[int], http_port: int, https_port: int) -> Path:
    """The deployment's nginx files, pointed at these nodes, ports and paths; returns the main file."""
    root = workdir / "nginx"
    (root / "temp").mkdir(parents=True, exist_ok=True)
    headers = root / "okno-proxy-headers.conf"
    shutil.copy(DEPLOY / "proxy-headers.conf", headers)
    site = (DEPLOY / "okno.conf").read_text()
    for old, new in [("listen 80;", f"listen 127.0.0.1:{http_port};"), ("listen [::]:80;", ""),
                     ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
                     ("listen [::]:443 ssl http2;", ""),
                     ("/etc/ssl/okno/", f"{root}/"), ("/etc/nginx/snippets/okno-proxy-headers.conf", str(headers)),
                     ("/var/log/nginx/", f"{root}/")]:
        site = replaced(site, old, new, "docs/deploy/nginx/okno.conf")
    upstream = (DEPLOY / "upstream.conf").read_text()
    for n, port in enumerate(node_ports):
        upstream = replaced(upstream, f"server 127.0.0.1:{8001 + n} ", f"server 127.0.0.1:{port} ",
                            "docs/deploy/nginx/upstream.conf")
    (root / "okno.conf").write_text(site)
    (root / "upstream.conf").write_text(upstream)
    temp = root / "temp"
    main = root / "nginx.conf"
    main.write_text("\n".join([
        "daemon off;", "worker_processes 2;", f"pid {root}/nginx.pid;", f"error_log {root}/error.log warn;",
        *(["user root;"] if os.geteuid() == 0 else []),  # workers may then read this private folder
        "events { worker_connections 1024; }",
        "http {",
        f"  client_body_temp_path {temp}/body; proxy_temp_path {temp}/proxy; fastcgi_temp_path {temp}/fastcgi;",
        f"  uwsgi_temp_path {temp}/uwsgi; scgi_temp_path {temp}/scgi;",
        f"  include {root}/upstream.conf;", f"  include {root}/okno.conf;", "}", ""]))
    return main


def start_nginx(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        return subprocess.Popen(["nginx", "-c", str(config), "-p", str(config.parent)], stdout=output,
                                stderr=subprocess.STDOUT, start_new_session=True)


def requests_by_node(access_log: Path, node_ports: list[int]) -> list[int]:
    """Booking requests nginx passed to each node, from the access log's upstream address.

    When nginx tried a second node, ``$upstream_addr`` lists both ("a:1, b:2"); the last one answered.
    """
    nodes = {f"127.0.0.1:{port}": n for n, port in enumerate(node_ports)}
    counts = [0] * len(node_ports)
    if not access_log.exists():
        return counts
    for line in access_log.read_text(errors="replace").splitlines():
        if '"POST /api/v1/bookings"' in line:
            answered = [token.rstrip(",") for token in line.split() if token.rstrip(",") in nodes]
            if answered:
                counts[nodes[answered[-1]]] += 1
    return counts


def logged_requests_by_node(access_log: Path, node_ports: list[int], expected: int,
                            wait_seconds: float = 5.0) -> list[int]:
    """``requests_by_node`` once nginx has logged every answered request.

    nginx writes a request's log line after the response has gone out, so the client can hold the
    last answer a moment before its line is in the file.
    """
    deadline = time.monotonic() + wait_seconds
    counts = requests_by_node(access_log, node_ports)
    while sum(counts) < expected and time.monotonic() < deadline:
        time.sleep(0.05)
        counts = requests_by_node(access_log, node_ports)
    return counts


def https_ok(port: int, tls: ssl.SSLContext) -> bool:
    try:
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", timeout=2, context=tls) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def http_redirect(port: int) -> str | None:
    """Where plain HTTP sends a visitor (the Location of its redirect), as the proxy's Host saw it."""
    opener = urllib.request.build_opener(_NoRedirect)
    request = urllib.request.Request(f"http://127.0.0.1:{port}/healthz", headers={"Host": PROXY_HOST})
    try:
        opener.open(request, timeout=5)
    except urllib.error.HTTPError as error:
        return error.headers.get("Location") if error.code == 301 else f"status {error.code}"
    return None


class Outbox:
    """Reads of the outbox table, on one engine for the whole run."""

    def __init__(self, database_url: str) -> None:
        from sqlalchemy import create_engine

        from scheduler.config import normalise_database_url

        self.engine = create_engine(normalise_database_url(database_url), pool_size=2)

    def rows(self) -> list[tuple[str, str, str, str]]:
        """(message_id, to_address, template, status) of every message."""
        from sqlalchemy import select

        from scheduler.mail.models import OutboxMessage

        with self.engine.connect() as connection:
            rows = connection.execute(select(OutboxMessage.message_id, OutboxMessage.to_address,
                                             OutboxMessage.template, OutboxMessage.status))
            return [(m, to, template, str(getattr(status, "value", status))) for m, to, template, status in rows]

    def leases(self) -> dict[str, datetime]:
        """Message-ID → lease end of every message a worker has claimed and not yet finished."""
        return self._column("lease_until", "sending")

    def sent_at(self) -> dict[str, datetime]:
        """Message-ID → when the delivery run that sent it began."""
        return self._column("sent_at", "sent")

    def _column(self, column: str, status: str) -> dict[str, datetime]:
        from sqlalchemy import select

        from scheduler.mail.models import OutboxMessage, OutboxStatus

        with self.engine.connect() as connection:
            return {m: at for m, at in connection.execute(
                select(OutboxMessage.message_id, getattr(OutboxMessage, column))
                .where(OutboxMessage.status == OutboxStatus(status)))}


def run_multinode(database_url: str, redis_url: str, workdir: Path, *, clients: int = 160, slots: int = 40,
                  per_expert: int = 10, retries: int = 2, threads: int = 4, lease_seconds: int = 10,
                  smtp_delay: float = 0.1, proxy: bool = False,
                  timeout: float = 120.0, say: Callable[[str], None] = print) -> Figures:
    """Run the whole scenario on an empty database at ``database_url``; see the module's docstring.

    With ``proxy``, the clients go through nginx (docs/deploy/nginx's configuration, TLS with a
    self-signed certificate), which balances over the two nodes; the nodes trust one proxy hop.
    """
    import logging

    from tests.smtp_server import smtp_server

    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command
    figures = Figures(clients=clients, slots=slots)
    processes: list[tuple[subprocess.Popen[bytes], Path]] = []
    outbox = Outbox(database_url)
    # Each message takes the SMTP server a while, as a real one's does, so that a worker is mid-way
    # through the messages it claimed, not idle, when it is killed.
    with smtp_server(delay=smtp_delay) as (mailbox, smtp_port):
        settings = production_settings(database_url, redis_url, smtp_port, workdir, lease_seconds, int(proxy))
        env = process_env(settings)
        try:
            migrate(env, workdir / "migrate.log")
            seeded = seed(settings_for(database_url, workdir, "http://127.0.0.1"), workdir, slots, per_expert)

            ports = [free_tcp_port() for _ in range(NODES)]
            for n, port in enumerate(ports):
                log = workdir / f"node{n + 1}.log"
                processes.append((start_gunicorn(port, env, 2, threads, log, NODE_OPTIONS), log))
            workers = []
            for n in range(WORKERS):
                log = workdir / f"worker{n + 1}.log"
                workers.append((start_worker(env, log), log))
            processes.extend(workers)
            for port, (process, log) in zip(ports, processes, strict=False):
                wait_until_serving(f"http://127.0.0.1:{port}", process, log, timeout=STARTUP_SECONDS)
            wait_for(lambda: all("consumer started" in log.read_text(errors="replace") for _p, log in workers),
                     STARTUP_SECONDS, "both workers consuming", processes)
            tls: ssl.SSLContext | None = None
            targets = ports
            if proxy:
                tls = self_signed_certificate(workdir / "nginx")
                http_port, https_port = free_tcp_port(), free_tcp_port()
                nginx_log = workdir / "nginx.log"
                processes.append((start_nginx(nginx_config(workdir, ports, http_port, https_port), nginx_log),
                                  nginx_log))
                wait_for(lambda: https_ok(https_port, tls), 30, "nginx answering over TLS", processes)
                figures.front = "nginx with TLS in front"
                redirect = http_redirect(http_port)
                if redirect != f"https://{PROXY_HOST}/healthz":
                    figures.problems.append(f"plain HTTP was not redirected to HTTPS (Location {redirect!r})")
                targets = [https_port] * NODES

            day = seeded.day.isoformat()
            offered = get_json(f"http://127.0.0.1:{ports[0]}",
                               f"/api/v1/slots?topic={seeded.topic}&channel=video&from={day}&to={day}")["slots"]
            if len(offered) != slots:
                raise RuntimeError(f"the nodes offer {len(offered)} slots, {slots} were seeded")
            say(f"okno multinode rush: {clients} clients for {slots} slots through {NODES} nodes "
                f"(gunicorn 2 processes × {threads} threads each), {WORKERS} workers on Redis, "
                f"lease {lease_seconds} s; the first worker is killed after {max(1, slots // 4)} emails, "
                f"while mail is claimed")

            killed = threading.Event()
            leased: dict[str, datetime] = {}  # claimed at the kill: Message-ID → end of the lease
            kill_at = time.monotonic()

            def kill_first_worker() -> None:
                nonlocal kill_at
                victim = workers[0][0]
                while not killed.is_set() and (len(mailbox.messages) < max(1, slots // 4) or not any(
                        status == "sending" for *_rest, status in outbox.rows())):
                    time.sleep(0.05)
                os.killpg(victim.pid, signal.SIGKILL)
                victim.wait()
                kill_at = time.monotonic()
                figures.killed_after_emails = len(mailbox.messages)
                leased.update(outbox.leases())
                figures.leased_at_kill = len(leased)
                killed.set()

            barrier = threading.Barrier(clients + 1)
            rushing = [Client(n) for n in range(clients)]
            deadline = time.monotonic() + timeout
            client_threads = [threading.Thread(target=run_client, daemon=True, args=(
                c, targets[c.n % NODES], seeded, offered[c.n % slots], retries, barrier, deadline, timeout, tls))
                for c in rushing]
            for thread in client_threads:
                thread.start()
            killer = threading.Thread(target=kill_first_worker, daemon=True)
            killer.start()
            barrier.wait(timeout=60)
            released = time.monotonic()
            for thread in client_threads:
                thread.join(timeout=max(0.0, deadline - time.monotonic()) + 5)
            figures.rush_seconds = time.monotonic() - released
            killed.set()  # too few emails before the rush ended: kill now, claims or not
            killer.join(timeout=30)

            figures.per_node = [0] * NODES
            for c in rushing:
                figures.per_node[c.n % NODES] += len(c.attempts)
            if proxy:  # nginx chose the node: its access log says which
                figures.per_node = logged_requests_by_node(
                    workdir / "nginx" / "okno.access.log", ports, sum(len(c.attempts) for c in rushing))
            for c in rushing:
                for attempt in c.attempts:
                    figures.requests += 1
                    if attempt.status == 201:
                        figures.created += 1
                    elif (attempt.status, attempt.error) == (409, "slot_taken"):
                        figures.slot_taken += 1
                    elif (attempt.status, attempt.error) == (409, "limit_reached"):
                        figures.limit_reached += 1
                    else:
                        figures.other[f"{attempt.status} {attempt.error}".strip()] += 1
            hung = sum(t.is_alive() for t in client_threads)
            if hung:
                figures.problems.append(f"{hung} clients had no answer by the deadline")
            booked = {citizen(c.n)["email"] for c in rushing if c.booked is not None}

            def confirmations() -> dict[str, str]:
                return {m: to for m, to, template, _s in outbox.rows() if template == "booking_confirmed"}

            def all_delivered() -> bool:
                received = set(mailbox.message_ids())
                rows = outbox.rows()
                return (all(status == "sent" for *_rest, status in rows)
                        and set(confirmations()) <= received)

            try:
                wait_for(all_delivered, lease_seconds + 90.0, "every confirmation delivered", processes[:NODES]
                         + workers[1:])
            except RuntimeError as error:
                figures.problems.append(str(error))
            figures.delivery_seconds = time.monotonic() - kill_at
            time.sleep(1.0)  # room for a late repeat to arrive and be counted

            queued = confirmations()
            received = Counter(mailbox.message_ids())
            figures.confirmations = len(queued)
            figures.emails = sum(received.values())
            figures.duplicates = sum(n - 1 for n in received.values())
            figures.missing = sum(1 for m in queued if m not in received)
            all_ids = {m for m, *_rest in outbox.rows()}
            figures.strays = sum(1 for m in received if m not in all_ids)
            figures.double_bookings, figures.active_bookings = double_bookings(database_url)
            # A claim the survivor held is sent within its lease; the dead worker's only after it ran out.
            sent = outbox.sent_at()
            figures.orphaned = sum(1 for m, until in leased.items() if m in sent and sent[m] >= until)
        finally:
            for process, _log in processes:
                stop(process)
            outbox.engine.dispose()

    if figures.other_total:
        tails = "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-1500:]}" for _p, log in processes)
        figures.problems.append(f"answers other than 201/409: {dict(figures.other)}\n{tails}")
    if figures.double_bookings:
        figures.problems.append(f"{figures.double_bookings} double bookings")
    if figures.active_bookings != figures.created:
        figures.problems.append(f"{figures.active_bookings} active bookings in the database, {figures.created} × 201")
    if figures.confirmations != figures.created or len(set(queued.values())) != figures.created:
        figures.problems.append(f"{figures.confirmations} confirmations queued for {figures.created} bookings")
    if set(queued.values()) != booked:
        figures.problems.append("the confirmations' recipients are not the citizens who got a 201")
    if figures.missing or figures.strays:
        figures.problems.append(f"{figures.missing} confirmations never received, {figures.strays} unknown Message-IDs")
    if figures.killed_after_emails < 0:
        figures.problems.append("the first worker was not killed")
    if figures.created < min(slots, clients):
        figures.problems.append(f"only {figures.created} of {min(slots, clients)} slots were booked")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A booking rush across two okno nodes and two workers.")
    parser.add_argument("--clients", type=int, default=160, help="concurrent clients (default 160)")
    parser.add_argument("--slots", type=int, default=40, help="free slots released (default 40)")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL,
                        help="PostgreSQL server to create the throwaway database on (default %(default)s)")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL,
                        help="Redis database for rate limits and the job queue (default %(default)s)")
    parser.add_argument("--lease", type=int, default=10, help="OUTBOX_LEASE_SECONDS (default 10)")
    parser.add_argument("--proxy", action=argparse.BooleanOptionalAction, default=shutil.which("nginx") is not None,
                        help="send the rush through nginx with TLS, as deployed (default: when nginx is installed)")
    parser.add_argument("--keep", action="store_true", help="keep the database and the logs for inspection")
    args = parser.parse_args(argv)
    if not 1 <= args.slots <= 180 or not 1 <= args.clients <= 2000:
        parser.error("--slots must be 1..180 and --clients 1..2000")

    workdir = Path(tempfile.mkdtemp(prefix="okno-multinode-"))
    database = fresh_database(args.database_url, workdir, prefix="okno_multinode")
    if not database.url.startswith("postgresql"):
        database.drop()
        parser.error("several nodes share one PostgreSQL database: give a postgresql:// URL")
    try:
        figures = run_multinode(database.url, args.redis_url, workdir, clients=args.clients, slots=args.slots,
                                lease_seconds=args.lease, proxy=args.proxy)
        print(figures.report())
        for problem in figures.problems:
            print(f"FAILED: {problem}")
        return 1 if figures.problems else 0
    finally:
        if args.keep:
            print(f"kept: {database.url} and {workdir}")
        else:
            database.drop()
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
