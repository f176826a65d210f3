"""Job lag across workers: one worker's scheduler enqueues a periodic job, another worker runs it, on one Redis."""

from __future__ import annotations

import time

from huey import RedisHuey, crontab

from scheduler.metrics import JOB_ENQUEUED_KEY, JOB_RUN_KEY, install_job_timing


def worker_queue(redis_url: str) -> RedisHuey:
    """A worker's view of the shared queue, with the same periodic job registered as every worker has it."""
    queue = RedisHuey("okno-lag-test", url=redis_url)

    @queue.periodic_task(crontab(minute="*"), name="sweep_task")
    def sweep_task() -> str:
        return "swept"

    install_job_timing(queue)
    return queue


def test_the_worker_that_runs_a_job_records_how_late_it_started(redis_url: str) -> None:
    scheduling, running = worker_queue(redis_url), worker_queue(redis_url)
    scheduling.enqueue(scheduling.read_periodic(scheduling._get_timestamp())[0])
    time.sleep(0.4)  # the other worker's threads were busy
    before = time.time()
    task = running.dequeue()
    assert task is not None
    running.execute(task)

    run = scheduling.get(JOB_RUN_KEY + "sweep_task", peek=True)  # what a scrape on any node reads
    assert 0.4 <= run["lag"] < 5
    assert before <= run["started_at"] <= time.time()
    assert running.get(JOB_ENQUEUED_KEY + task.id, peek=True) is None  # taken out: nothing piles up in Redis
