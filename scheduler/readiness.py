"""Readiness: whether this node should take traffic, and if not quite, what is wrong, for a balancer and a person.

Liveness (``/healthz``) asks "is the process up and its database reachable". Readiness (``/readyz``)
looks at everything a request or a promise to a citizen depends on: the database, Redis (rate limits
and the job queue), the worker (its heartbeat) and the outbox (mail waiting, mail abandoned). Only the
checks in ``READY_FAIL_ON`` (by default the database alone) take the node out of rotation: without
Redis the node still serves (limits per process, mail delivered by the sweep once the queue is back),
and a stale worker or a stuck outbox is shared by every node, so draining nodes would not help.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

import redis
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from scheduler.config import redis_client_options
from scheduler.heartbeat import last_heartbeat
from scheduler.mail.backlog import outbox_backlog
from scheduler.ratelimits import rate_limits_degraded

log = logging.getLogger(__name__)

CheckStatus = Literal["ok", "failing", "not_configured"]
OverallStatus = Literal["ok", "degraded", "failing"]


class ReadinessCheck(BaseModel):
    """One dependency: its state, how old the information is (seconds; null for a live probe) and why."""

    status: CheckStatus
    age_seconds: float | None = None
    detail: str | None = None


class DatabaseCheck(ReadinessCheck):
    latency_ms: float | None = None


class RedisCheck(ReadinessCheck):
    latency_ms: float | None = None
    rate_limits: Literal["shared", "per_process"]


class WorkerCheck(ReadinessCheck):
    """``age_seconds``: since a worker last ran its heartbeat job."""


class OutboxCheck(ReadinessCheck):
    """``age_seconds``: how long the oldest unsent message has waited."""

    pending: int | None = None
    abandoned: int | None = None


class ReadinessChecks(BaseModel):
    database: DatabaseCheck
    redis: RedisCheck
    worker: WorkerCheck
    outbox: OutboxCheck


class Readiness(BaseModel):
    """``failing`` (answered with 503) when a check in READY_FAIL_ON fails; ``degraded`` when another does."""

    status: OverallStatus
    checks: ReadinessChecks

    @property
    def http_status(self) -> int:
        return 503 if self.status == "failing" else 200


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _seconds(value: float) -> float:
    return round(value, 1)


def check_database(session: Session) -> DatabaseCheck:
    started = time.perf_counter()
    try:
        session.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        session.rollback()
        log.error("readiness: database unreachable (%s)", type(error).__name__)
        return DatabaseCheck(status="failing", detail=f"unreachable ({type(error).__name__})")
    return DatabaseCheck(status="ok", latency_ms=_ms(started))


def redis_url_of(config: Mapping[str, Any]) -> str:
    """The Redis the node uses: the job queue's, or the rate limits' when only they use one."""
    if config.get("REDIS_URL"):
        return str(config["REDIS_URL"])
    storage = str(config.get("RATELIMIT_STORAGE_URI") or "")
    return storage if storage.startswith(("redis://", "rediss://")) else ""


def check_redis(config: Mapping[str, Any]) -> RedisCheck:
    limits: Literal["shared", "per_process"] = "per_process" if rate_limits_degraded() else "shared"
    url = redis_url_of(config)
    if not url:  # one process's memory holds the limits: nothing is shared
        return RedisCheck(status="not_configured", rate_limits="per_process",
                          detail="embedded mode: jobs on SQLite, rate limits in this process's memory")
    client = redis.Redis.from_url(url, **redis_client_options(config))
    started = time.perf_counter()
    try:
        client.ping()
    except (redis.RedisError, OSError) as error:
        log.error("readiness: Redis unreachable (%s)", type(error).__name__)
        return RedisCheck(status="failing", rate_limits=limits,
                          detail=f"unreachable ({type(error).__name__}): rate limits per process, "
                                 f"mail waits in the outbox")
    finally:
        client.close()
    detail = None if limits == "shared" else "reachable again; rate limits return to it at their next check"
    return RedisCheck(status="ok", latency_ms=_ms(started), rate_limits=limits, detail=detail)


def check_worker(session: Session, now: datetime, stale_after: float) -> WorkerCheck:
    beat = last_heartbeat(session)
    if beat is None:
        return WorkerCheck(status="failing", detail="no worker has run yet")
    age = max((now - beat).total_seconds(), 0.0)
    if age > stale_after:
        return WorkerCheck(status="failing", age_seconds=_seconds(age),
                           detail=f"no heartbeat for more than {stale_after:.0f} s")
    return WorkerCheck(status="ok", age_seconds=_seconds(age))


def check_outbox(session: Session, now: datetime, max_age: float) -> OutboxCheck:
    backlog = outbox_backlog(session, now)
    age = backlog.oldest_age_seconds(now)
    problems = []
    if backlog.abandoned:
        problems.append(f"{backlog.abandoned} abandoned after the maximum attempts: an administrator must requeue them")
    if age is not None and age > max_age:
        problems.append(f"the oldest unsent message has waited more than {max_age:.0f} s")
    return OutboxCheck(status="failing" if problems else "ok", age_seconds=None if age is None else _seconds(age),
                       pending=backlog.pending, abandoned=backlog.abandoned, detail="; ".join(problems) or None)


def overall_status(checks: Mapping[str, ReadinessCheck], fail_on: Sequence[str]) -> OverallStatus:
    failing = {name for name, check in checks.items() if check.status == "failing"}
    if failing & set(fail_on):
        return "failing"
    return "degraded" if failing else "ok"


def assess_readiness(session: Session, config: Mapping[str, Any], now: datetime) -> Readiness:
    """Run every check (reading only) and decide whether this node should take traffic."""
    database = check_database(session)
    if database.status == "ok":
        worker = check_worker(session, now, config["READY_WORKER_STALE_SECONDS"])
        outbox = check_outbox(session, now, config["READY_OUTBOX_MAX_AGE_SECONDS"])
    else:
        worker = WorkerCheck(status="failing", detail="unknown: the database is unreachable")
        outbox = OutboxCheck(status="failing", detail="unknown: the database is unreachable")
    checks = ReadinessChecks(database=database, redis=check_redis(config), worker=worker, outbox=outbox)
    return Readiness(status=overall_status(dict(checks), config["READY_FAIL_ON"]), checks=checks)
