"""Periodic sweeps: every due job of every domain, driven by database timestamps and idempotent.

Each domain registers its sweeps with `@sweep("name")` in its own `jobs.py`, listed in SWEEP_MODULES.
`incentives sweep` runs them all once; without Redis the web app runs them in-process on a timer.
A missed run only delays work and a doubled run changes nothing, because each sweep selects what is
due from the database and changes it with conditional updates.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import logging
from collections.abc import Awaitable, Callable

from incentives.db import Database, utcnow

log = logging.getLogger(__name__)

SweepFn = Callable[[Database, dt.datetime], Awaitable[int]]
# Domain modules whose import registers sweeps (add one line per domain).
SWEEP_MODULES: list[str] = ["incentives.leads.jobs", "incentives.rewards.jobs", "incentives.rules.jobs"]
_SWEEPS: dict[str, SweepFn] = {}


def sweep(name: str) -> Callable[[SweepFn], SweepFn]:
    """Register a sweep: an async function (db, now) -> number of things it changed."""

    def register(fn: SweepFn) -> SweepFn:
        _SWEEPS[name] = fn
        return fn

    return register


def registered() -> dict[str, SweepFn]:
    for module in SWEEP_MODULES:
        importlib.import_module(module)
    return dict(_SWEEPS)


async def run_sweeps(db: Database, now: dt.datetime | None = None) -> dict[str, int]:
    """Run every registered sweep once. One failing sweep is logged and does not stop the others."""
    now = now or utcnow()
    results: dict[str, int] = {}
    for name, fn in registered().items():
        try:
            results[name] = await fn(db, now)
        except Exception:
            log.exception("sweep %s failed", name)
            results[name] = -1
    return results


async def sweep_forever(db: Database, interval_seconds: float) -> None:
    """The in-process scheduler used when there is no Redis: sweep, sleep, repeat until cancelled."""
    while True:
        await run_sweeps(db)
        await asyncio.sleep(interval_seconds)


QUEUE = "incentives"


def sweep_job() -> dict[str, int]:
    """The RQ job behind the periodic sweep. RQ runs it outside any event loop: it opens its own engine."""
    from incentives.config import Settings

    async def once() -> dict[str, int]:
        db = Database(Settings.from_env().database_url)
        try:
            return await run_sweeps(db)
        finally:
            await db.dispose()

    return asyncio.run(once())


def run_worker(redis_url: str, *, interval_seconds: int, with_cron: bool = True, burst: bool = False) -> None:
    """`incentives worker`: an RQ worker, plus (in a child process) RQ's cron scheduler that enqueues the sweep.

    Run several workers for throughput; give `--no-cron` to all but one (a doubled sweep is harmless, but
    pointless).
    """
    import multiprocessing

    from redis import Redis
    from rq import Queue, Worker

    connection = Redis.from_url(redis_url)
    cron = None
    if with_cron and interval_seconds > 0:
        cron = multiprocessing.get_context("spawn").Process(
            target=_run_cron, args=(redis_url, interval_seconds), name="incentives-cron", daemon=True
        )
        cron.start()
    try:
        Worker([Queue(QUEUE, connection=connection)], connection=connection).work(with_scheduler=True, burst=burst)
    finally:
        if cron is not None:
            cron.terminate()
            cron.join(timeout=10)


def _run_cron(redis_url: str, interval_seconds: int) -> None:
    from redis import Redis
    from rq.cron import CronScheduler

    scheduler = CronScheduler(connection=Redis.from_url(redis_url), name=f"incentives-sweep-{interval_seconds}")
    scheduler.register(sweep_job, queue_name=QUEUE, interval=interval_seconds, job_timeout=600)
    scheduler.start()  # type: ignore[no-untyped-call]
