"""Several workers on one Redis each enqueue the periodic jobs: each minute's run happens once, not once per worker."""

from __future__ import annotations

from datetime import UTC, datetime

import time_machine
from huey import MemoryHuey, RedisHuey, crontab

from scheduler.jobs import _once_per_minute, claim_periodic_run

runs: list[str] = []


def sweep() -> str:
    runs.append("swept")
    return "swept"


def worker_queue(redis_url: str) -> RedisHuey:
    """One worker's view of the shared queue, with the job registered as every worker registers it."""
    queue = RedisHuey("okno-claims-test", url=redis_url)
    queue.periodic_task(crontab(minute="*"), name="sweep_task")(_once_per_minute(queue, sweep))
    return queue


def run_this_minutes_job(queue: RedisHuey) -> None:
    """What a consumer's scheduler and a worker thread do at the top of a minute."""
    (periodic,) = queue.read_periodic(queue._get_timestamp())
    queue.enqueue(periodic)
    task = queue.dequeue()
    assert task is not None
    queue.execute(task)


def test_two_workers_run_one_minutes_job_once(redis_url: str) -> None:
    runs.clear()
    first, second = worker_queue(redis_url), worker_queue(redis_url)
    with time_machine.travel(datetime(2026, 12, 7, 9, 0, 5, tzinfo=UTC), tick=False):
        run_this_minutes_job(first)
        run_this_minutes_job(second)
    assert runs == ["swept"]
    with time_machine.travel(datetime(2026, 12, 7, 9, 1, 2, tzinfo=UTC), tick=False):
        run_this_minutes_job(second)  # the next minute belongs to whoever comes first
        run_this_minutes_job(first)
    assert runs == ["swept", "swept"]


def test_a_claim_is_per_job_and_per_minute_and_expires(redis_url: str) -> None:
    queue = worker_queue(redis_url)
    at = datetime(2026, 12, 7, 9, 0, 59, tzinfo=UTC)
    assert claim_periodic_run(queue, "booking.jobs.release_expired_holds", at)
    assert not claim_periodic_run(queue, "booking.jobs.release_expired_holds", at.replace(second=0))
    assert claim_periodic_run(queue, "scheduler.jobs.sweep_outbox", at)  # another job's own claim
    assert claim_periodic_run(queue, "booking.jobs.release_expired_holds", at.replace(minute=1, second=0))
    ttl = [queue.storage.conn.ttl(key) for key in queue.storage.conn.scan_iter("okno:periodic:*")]
    assert len(ttl) == 3 and all(0 < seconds <= 600 for seconds in ttl)  # nothing piles up in Redis


def test_a_queue_of_its_own_always_runs_its_jobs() -> None:
    """The embedded queue (one worker, ``make run``) needs no claim."""
    queue = MemoryHuey("okno-claims-memory")
    at = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    assert claim_periodic_run(queue, "scheduler.jobs.sweep_outbox", at)
    assert claim_periodic_run(queue, "scheduler.jobs.sweep_outbox", at)
