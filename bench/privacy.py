"""Retention at scale: anonymise 1,000,000 ended bookings on PostgreSQL in bounded batches.

    .venv/bin/python bench/privacy.py                    # 1,000,000 bookings, PostgreSQL at 127.0.0.1
    .venv/bin/python bench/privacy.py --rows 200000 --batch-size 1000

What it does, start to end, on its own:

1. creates a throwaway database ``okno_privacy_<hex>`` next to the one ``--database-url`` names
   (default ``postgresql://postgres@127.0.0.1:5432/test`` or ``OKNO_BENCH_DATABASE_URL``) and the schema;
2. seeds one department, topic and expert, then, server-side (``INSERT ... SELECT generate_series``,
   100,000 rows a transaction), N completed bookings that ended two years ago, each with its
   citizen's name, email, phone, question and outcome note, one history event and one audit entry;
3. runs the retention job's booking step (``booking.privacy.retention.purge``, the code the hourly
   job and ``flask privacy purge`` run): bounded batches, each its own transaction; prints rows/s,
   the number of batches and the longest single transaction (the longest any row lock is held);
4. puts the personal data back and runs the comparator: the same anonymisation as one big
   set-based UPDATE per table in a single transaction; prints its rows/s and how long it held its locks;
5. checks that no booking kept an email, then drops the database and the temporary folder, also on error.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

# bench.rush re-executes this script under the project's virtualenv when needed: import it first.
from bench.rush import DEFAULT_DATABASE_URL, bench_app  # noqa: E402

SEED_CHUNK = 100_000

# The booking columns the seed fills; personal ones are what the anonymisation must clear.
SEED_BOOKINGS = """
INSERT INTO bookings (id, code, topic_id, channel, expert_id, starts_at, ends_at, seat, status, created_at,
    confirmed_at, completed_at, source, sequence, call_window, is_walk_in, outcome, outcome_note, citizen_name,
    citizen_email, citizen_phone, applicant_type, organisation, inn, question, consent_at, locale,
    manage_token_salt, manage_token_hash, confirmation_code_hash, confirmation_attempts, video_room)
SELECT n, 'P' || lpad(n::text, 9, '0'), :topic, 'video', :expert,
    :start + (n % 500) * interval '30 minutes', :start + (n % 500) * interval '30 minutes' + interval '30 minutes',
    1 + n / 500, 'completed', :start - interval '3 days', :start - interval '2 days',
    :start + (n % 500) * interval '30 minutes' + interval '30 minutes', 'web', 1, '', false, 'resolved',
    'Разъяснили порядок замены плиты, гражданин ' || n, 'Гражданин Тестов ' || n, 'c' || n || '@bench.example.org',
    '+7916' || lpad(n::text, 7, '0'), 'individual', '', '', 'Как заменить газовую плиту? Вопрос ' || n,
    :start - interval '3 days', 'ru', md5(n::text), md5('h' || n::text), '', 0, 'room-' || md5(n::text)
FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) AS n
"""
SEED_EVENTS = """
INSERT INTO booking_events (booking_id, at, kind, from_status, to_status, actor_type, actor_label, details)
SELECT n, :start, 'completed', 'confirmed', 'completed', 'staff', 'expert@bench.example.org',
    json_build_object('outcome', 'resolved')
FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) AS n
"""
SEED_AUDIT = """
INSERT INTO audit_entries (at, actor_type, actor_id, actor_label, action, entity_type, entity_id, changes)
SELECT :start, 'citizen', NULL, 'citizen', 'booking.confirmed', 'booking', 'P' || lpad(n::text, 9, '0'),
    json_build_object('email', 'c' || n || '@bench.example.org')
FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) AS n
"""
# Put the personal data back for the comparator (the same shape the seed wrote).
RESTORE = """
UPDATE bookings SET anonymised_at = NULL, citizen_name = 'Гражданин Тестов ' || id,
    citizen_email = 'c' || id || '@bench.example.org', citizen_phone = '+7916' || lpad(id::text, 7, '0'),
    question = 'Вопрос ' || id, outcome_note = 'Заметка ' || id, manage_token_hash = md5('h' || id::text),
    video_room = 'room-' || md5(id::text)
WHERE id BETWEEN :first AND :last
"""
RESTORE_HISTORY = (
    "UPDATE booking_events SET details = json_build_object('outcome', 'resolved'), actor_label = 'expert' "
    "WHERE booking_id BETWEEN :first AND :last",
    "UPDATE audit_entries SET anonymised_at = NULL, changes = json_build_object('email', 'x'), "
    "actor_label = 'citizen' WHERE id BETWEEN :first AND :last",
)
# The comparator: one transaction, one set-based UPDATE per table over everything due.
ONE_BIG_TRANSACTION = (
    "UPDATE booking_notes SET text = :placeholder WHERE booking_id IN "
    "(SELECT id FROM bookings WHERE anonymised_at IS NULL AND ends_at < :cutoff)",
    "UPDATE booking_events SET details = '{}', actor_label = '' WHERE booking_id IN "
    "(SELECT id FROM bookings WHERE anonymised_at IS NULL AND ends_at < :cutoff)",
    "UPDATE audit_entries SET changes = '{}', actor_label = '', anonymised_at = :now "
    "WHERE entity_type = 'booking' AND anonymised_at IS NULL AND entity_id IN "
    "(SELECT code FROM bookings WHERE anonymised_at IS NULL AND ends_at < :cutoff)",
    "UPDATE bookings SET citizen_name = :placeholder, citizen_email = '', citizen_phone = '', organisation = '', "
    "inn = '', question = '', outcome_note = '', manage_token_salt = '', manage_token_hash = '', "
    "confirmation_code_hash = '', video_room = NULL, anonymised_at = :now "
    "WHERE anonymised_at IS NULL AND ends_at < :cutoff",
)


def seed(rows: int) -> datetime:
    """The schema and N ended bookings with history and audit entries; returns when they started."""
    from sqlalchemy import text

    from scheduler.auth.models import Role, User
    from scheduler.departments.models import Department, Topic
    from scheduler.experts.models import Expert
    from scheduler.extensions import db

    db.create_all()
    department = Department(slug="bench", title="Служба", timezone="Europe/Moscow", holiday_calendar="RU")
    topic = Topic(slug="bench-topic", title="Тема", department=department, allows_video=True)
    user = User(email="expert@bench.example.org", full_name="Эксперт", role=Role.EXPERT, password_hash="!bench")
    expert = Expert(user=user, department=department, position="Консультант")
    expert.topics = [topic]
    db.session.add_all([department, topic, user, expert])
    db.session.commit()
    start = datetime.combine(datetime.now(UTC).date() - timedelta(days=730), clock(6), tzinfo=UTC)
    for first in range(1, rows + 1, SEED_CHUNK):
        bounds = {"first": first, "last": min(first + SEED_CHUNK - 1, rows), "start": start}
        with db.engine.begin() as connection:
            connection.execute(text(SEED_BOOKINGS), {**bounds, "topic": topic.id, "expert": expert.id})
            connection.execute(text(SEED_EVENTS), bounds)
            connection.execute(text(SEED_AUDIT), bounds)
    with db.engine.begin() as connection:
        connection.execute(text("SELECT setval('bookings_id_seq', :n)"), {"n": rows})
        connection.execute(text("ANALYZE"))
    return start


def run_batched(batch_size: int, now: datetime) -> tuple[int, float, int, float]:
    """The retention job's booking step: (rows, seconds, batches, longest transaction in seconds)."""
    from flask import current_app

    from booking.privacy.retention import purge
    from scheduler.extensions import db
    from scheduler.privacy.policy import Kind, RetentionPolicy

    policy = RetentionPolicy.from_config(current_app.config)
    began = time.perf_counter()
    report = purge(db.session, policy, now, batch_size=batch_size, kinds=[Kind.BOOKINGS])
    return report.counts[Kind.BOOKINGS], time.perf_counter() - began, report.batches, report.longest_batch_seconds


def restore(rows: int) -> None:
    from sqlalchemy import text

    from scheduler.extensions import db

    for first in range(1, rows + 1, SEED_CHUNK):
        bounds = {"first": first, "last": min(first + SEED_CHUNK - 1, rows)}
        with db.engine.begin() as connection:
            connection.execute(text(RESTORE), bounds)
            for statement in RESTORE_HISTORY:
                connection.execute(text(statement), bounds)
    with db.engine.begin() as connection:
        connection.execute(text("ANALYZE"))


def run_one_transaction(now: datetime, cutoff: datetime) -> tuple[int, float]:
    """The comparator: everything in one transaction; (rows, seconds = the time its locks are held)."""
    from sqlalchemy import text

    from scheduler.extensions import db
    from scheduler.privacy.policy import PLACEHOLDER

    params = {"now": now, "cutoff": cutoff, "placeholder": PLACEHOLDER}
    began = time.perf_counter()
    with db.engine.begin() as connection:
        results = [connection.execute(text(statement), params) for statement in ONE_BIG_TRANSACTION]
        changed = int(results[-1].rowcount or 0)
    return changed, time.perf_counter() - began


def remaining_emails() -> int:
    from sqlalchemy import func, select

    from booking.models import Booking
    from scheduler.extensions import db

    return int(db.session.scalar(select(func.count()).select_from(Booking).where(Booking.citizen_email != "")) or 0)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL,
                        help="a PostgreSQL server (a throwaway database is created next to the named one)")
    parser.add_argument("--rows", type=int, default=1_000_000, help="ended bookings to anonymise (default 1,000,000)")
    parser.add_argument("--batch-size", type=int, default=1000, help="rows per transaction of the job (default 1000)")
    parser.add_argument("--no-comparator", action="store_true", help="skip the one-big-transaction comparator")
    args = parser.parse_args(argv)
    if not 1 <= args.rows <= 20_000_000:
        parser.error("--rows must be 1..20,000,000")
    if not 1 <= args.batch_size <= 100_000:
        parser.error("--batch-size must be 1..100,000")
    if not args.database_url.startswith(("postgres://", "postgresql")):
        parser.error("the benchmark measures PostgreSQL's locks: give a postgresql:// URL")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with bench_app(args.database_url, "privacy") as bench:
        from scheduler.extensions import db

        began = time.perf_counter()
        start = seed(args.rows)
        print(f"okno privacy: {args.rows:,} ended bookings (+ one history event and one audit entry each), "
              f"seeded in {time.perf_counter() - began:.1f} s; {bench.database.label}")
        now = datetime.now(UTC)
        rows, seconds, batches, longest = run_batched(args.batch_size, now)
        left = remaining_emails()
        print(f"  retention job, batches of {args.batch_size}: {rows:,} rows in {seconds:.1f} s "
              f"= {rows / seconds:,.0f} rows/s; {batches:,} transactions, longest {longest * 1000:.0f} ms"
              f"{'' if left == 0 else f'; {left} bookings still hold an email!'}")
        if not args.no_comparator:
            restore(args.rows)
            db.session.remove()
            cutoff = now - timedelta(days=int(bench.app.config["RETENTION_BOOKINGS_DAYS"]))
            assert start < cutoff
            big_rows, big_seconds = run_one_transaction(now, cutoff)
            print(f"  comparator, one transaction:  {big_rows:,} rows in {big_seconds:.1f} s "
                  f"= {big_rows / big_seconds:,.0f} rows/s; 1 transaction holding its locks "
                  f"{big_seconds * 1000:.0f} ms")
        return 0 if left == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
