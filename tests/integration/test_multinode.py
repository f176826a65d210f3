"""Two application nodes and two workers on one PostgreSQL and one Redis survive a booking rush and a killed worker.

The scenario is bench/multinode.py's (``make bench-multinode`` prints the same figures): production
mode, the migrations run once as a one-shot job, 160 partner clients race for 40 slots through
nginx (docs/deploy's configuration, TLS) balancing over two gunicorn nodes, and the first worker
is SIGKILLed once a quarter of the confirmations have gone out, while mail is claimed. The survivor
takes over the dead worker's claims when their lease runs out. Without nginx installed (a
developer's machine) the clients alternate between the nodes directly; CI installs nginx.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from bench.multinode import run_multinode
from scheduler.config import normalise_database_url

pytestmark = pytest.mark.slow


def test_two_nodes_and_two_workers_book_each_slot_once_and_mail_each_booking_once(
        fresh_database_url: str, redis_url: str, tmp_path: Path, restore_jobs: None,
        capsys: pytest.CaptureFixture[str]) -> None:
    if make_url(normalise_database_url(fresh_database_url)).get_backend_name() != "postgresql":
        pytest.skip("several nodes share one PostgreSQL server; set OKNO_TEST_DATABASE_URL (CI's PostgreSQL pass)")

    proxy = shutil.which("nginx") is not None
    if os.environ.get("CI") and not proxy:
        pytest.fail("CI runs this test through nginx: install it (.ci/run does)")
    figures = run_multinode(fresh_database_url, redis_url, tmp_path, clients=160, slots=40, lease_seconds=10,
                            proxy=proxy, say=lambda _line: None)
    with capsys.disabled():  # the figures belong in CI's log, pass or fail
        print(f"\n{figures.line()}")

    assert not figures.problems, "\n".join(figures.problems)
    assert figures.other_total == 0, figures.other  # no 5xx, no dropped connection
    assert figures.double_bookings == 0
    assert figures.created == 40 == figures.active_bookings
    assert figures.slot_taken + figures.limit_reached + figures.created == figures.requests
    assert all(n > 0 for n in figures.per_node), figures.per_node  # both nodes served the rush
    assert sum(figures.per_node) == figures.requests
    assert figures.killed_after_emails >= 10  # killed mid-way, not before the mail started,
    assert figures.leased_at_kill > 0  # while mail was claimed (the line above reports how much was the dead one's)
    # Every confirmation arrived; any repeat is the same message again (same Message-ID), counted.
    assert figures.confirmations == 40 and figures.missing == 0 and figures.strays == 0
    assert figures.emails == figures.confirmations + figures.duplicates


def test_a_request_nginx_retried_on_the_other_node_counts_once_for_the_node_that_answered(tmp_path: Path) -> None:
    from bench.multinode import requests_by_node

    log = tmp_path / "access.log"
    log.write_text(
        '127.0.0.1 [t] "POST /api/v1/bookings" 201 10 0.1 127.0.0.1:8001 0.1 r1\n'
        '127.0.0.1 [t] "POST /api/v1/bookings" 409 10 0.1 127.0.0.1:8001, 127.0.0.1:8002 0.0, 0.1 r2\n'
        '127.0.0.1 [t] "GET /healthz" 200 10 0.1 127.0.0.1:8002 0.1 r3\n')
    assert requests_by_node(log, [8001, 8002]) == [1, 1]


def test_the_count_waits_for_nginx_to_log_the_last_answer(tmp_path: Path) -> None:
    import threading
    import time

    from bench.multinode import logged_requests_by_node

    log = tmp_path / "access.log"
    line = '127.0.0.1 [t] "POST /api/v1/bookings" 201 10 0.1 127.0.0.1:8001 0.1 r\n'
    log.write_text(line)

    def late_line() -> None:
        time.sleep(0.3)
        with log.open("a") as f:
            f.write(line.replace("8001", "8002"))

    writer = threading.Thread(target=late_line)
    writer.start()
    assert logged_requests_by_node(log, [8001, 8002], expected=2) == [1, 1]
    writer.join()
