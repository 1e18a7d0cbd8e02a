"""Periodic sweeps and the wake-up of event processing after commit: idempotent jobs, driven by the database.

Each domain registers its sweeps with `@sweep("name")` in its own `jobs.py`, listed in SWEEP_MODULES.
`incentives sweep` runs them all once; without Redis the web app runs them in-process on a timer.
A missed run only delays work and a doubled run changes nothing, because each sweep selects what is
due from the database and changes it with conditional updates.

Outbox events should not wait for the next sweep: a session that wrote some calls `wake_after_commit`,
and once (and only if) its transaction commits, the `OutboxWaker` of that database runs the processing —
in-process without Redis, as one coalesced RQ job with Redis. The sweep stays the safety net.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from incentives import live
from incentives.db import Database, utcnow

log = logging.getLogger(__name__)

SweepFn = Callable[[Database, dt.datetime], Awaitable[int]]
# Domain modules whose import registers sweeps (add one line per domain).
SWEEP_MODULES: list[str] = [
    "incentives.idempotency",
    "incentives.leaderboard.jobs",
    "incentives.leads.jobs",
    "incentives.ledger.jobs",
    "incentives.rewards.jobs",
    "incentives.rules.jobs",
    "incentives.engagement.jobs",  # after the rules: pays what their processing just earned
    "incentives.reports.jobs",  # Monday mornings: the weekly report into the mail outbox
    "incentives.webhooks.jobs",  # last: sends what the others wrote
    "incentives.notifications.jobs",
    "incentives.mail.jobs",
]
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
# Set while an outbox job waits in the queue: a burst of commits enqueues one job, not thousands.
OUTBOX_PENDING = "incentives:outbox:pending"
OUTBOX_PENDING_SECONDS = 300  # a job lost with its worker stops coalescing after this; the sweep catches up
OUTBOX_JOB = "incentives.engagement.jobs.process_outbox_job"


# --- waking the event processing after commit ------------------------------------------------------------

_WAKES = "incentives.wake_after_commit"
OUTBOX = "outbox"  # the channel of the rules' event processing; webhooks have their own
_WAKERS: weakref.WeakKeyDictionary[Any, dict[str, OutboxWaker]] = weakref.WeakKeyDictionary()


def wake_after_commit(session: AsyncSession, channel: str = OUTBOX) -> None:
    """Wake `channel`'s processing once this session's transaction commits; a rollback wakes nothing."""
    sync = session.sync_session
    sync.info.setdefault(_WAKES, set()).add(channel)
    if not event.contains(sync, "after_commit", _committed):
        event.listen(sync, "after_commit", _committed)
        event.listen(sync, "after_rollback", _rolled_back)


def _committed(session: Session) -> None:
    channels = session.info.pop(_WAKES, None)
    if channels:
        bind = session.get_bind()
        wakers = _WAKERS.get(getattr(bind, "engine", bind), {})
        for channel in channels:
            waker = wakers.get(channel)
            if waker is not None:
                waker.wake()


def _rolled_back(session: Session) -> None:
    session.info.pop(_WAKES, None)


def wake_later(engine: Any, channel: str, seconds: float) -> bool:
    """Wake `channel`'s in-process waker of `engine` in `seconds` (a retry coming due); False without one."""
    waker = _WAKERS.get(getattr(engine, "sync_engine", engine), {}).get(channel)
    if waker is None:
        return False
    waker.wake_later(seconds)
    return True


# A channel with retries (webhooks, mail) wakes itself for a retry due this soon; later ones are left to the sweep.
RETRY_WAKE_WITHIN = dt.timedelta(minutes=10)


def wake_for_retry(engine: Any, channel: str, soonest: dt.datetime | None) -> None:
    """In process (no Redis): wake `channel` again when its next retry comes due, if that is soon."""
    if soonest is not None and soonest - utcnow() <= RETRY_WAKE_WITHIN:
        wake_later(engine, channel, max((soonest - utcnow()).total_seconds(), 1.0))


def schedule_retry_run(soonest: dt.datetime | None, *, scheduled_key: str, job: str) -> None:
    """From inside an RQ job: enqueue `job` for when the next retry comes due, if that is soon. One scheduled
    run per due time, however many runs saw it coming (`scheduled_key` in Redis until then)."""
    if soonest is None or soonest - utcnow() > RETRY_WAKE_WITHIN:
        return
    from rq import Queue, get_current_job

    current = get_current_job()
    delay = max(soonest - utcnow(), dt.timedelta(seconds=1))
    if current is not None and current.connection.set(scheduled_key, 1, nx=True, ex=int(delay.total_seconds()) + 1):
        Queue(current.origin, connection=current.connection).enqueue_in(delay, job, job_timeout=600)


class OutboxWaker:
    """Runs (without Redis) or enqueues (with Redis) the outbox processing whenever a commit wakes it.

    Wake-ups are never lost: the flag is cleared before each run, so an event committed during a run
    wakes the next one; many wake-ups during a run make one more run, not many.
    """

    def __init__(
        self,
        db: Database,
        process: Callable[[Database], Awaitable[Any]],
        *,
        redis_url: str | None = None,
        channel: str = OUTBOX,
        job: str = OUTBOX_JOB,
        pending_key: str = OUTBOX_PENDING,
    ) -> None:
        self.db = db
        self.process = process
        self.redis_url = redis_url
        self.channel = channel
        self.job = job
        self.pending_key = pending_key
        self._wanted = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Any = None

    def _redis(self) -> Any:
        """One client (with its connection pool) for the waker's life, not a new connection per wake-up."""
        from redis import Redis

        if self._client is None:
            assert self.redis_url is not None
            self._client = Redis.from_url(self.redis_url)
        return self._client

    def wake(self) -> None:
        if self._loop is not None:  # thread-safe: a commit may come from another loop's thread
            self._loop.call_soon_threadsafe(self._wanted.set)

    def wake_later(self, seconds: float) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.call_later, max(seconds, 0.0), self._wanted.set)

    async def run(self) -> None:
        """Until cancelled: wait for a wake-up, then process (or enqueue) once."""
        self._loop = asyncio.get_running_loop()
        _WAKERS.setdefault(self.db.engine.sync_engine, {})[self.channel] = self
        try:
            while True:
                await self._wanted.wait()
                self._wanted.clear()
                try:
                    if self.redis_url is None:
                        await self.process(self.db)
                    else:
                        await asyncio.to_thread(enqueue_outbox_job, self._redis(), self.job, self.pending_key)
                except Exception:
                    log.exception("processing the outbox after commit failed; the sweep will retry")
        finally:
            _WAKERS.get(self.db.engine.sync_engine, {}).pop(self.channel, None)
            if self._client is not None:
                self._client.close()


def enqueue_outbox_job(connection: Any, job: str = OUTBOX_JOB, pending_key: str = OUTBOX_PENDING) -> bool:
    """Enqueue the outbox job (or another channel's `job`) unless one waits already; True when this call
    enqueued it."""
    from rq import Queue

    if not connection.set(pending_key, 1, nx=True, ex=OUTBOX_PENDING_SECONDS):
        return False
    Queue(QUEUE, connection=connection).enqueue(job, job_timeout=600)
    return True


def outbox_job_started(pending_key: str = OUTBOX_PENDING) -> None:
    """Called first by the outbox job: from now on a new commit enqueues a new job (this one may miss it)."""
    from rq import get_current_job

    job = get_current_job()
    if job is not None:
        job.connection.delete(pending_key)


def run_job(work: Callable[[Database], Awaitable[Any]]) -> Any:
    """Run `work` for an RQ job: RQ calls jobs outside any event loop, so the job opens its own engine."""
    from incentives.config import Settings

    async def once() -> Any:
        settings = Settings.from_env()
        db = Database(settings.database_url, redis_url=settings.redis_url)
        live.enable(db)
        try:
            return await work(db)
        finally:
            await live.flush()
            await db.dispose()

    return asyncio.run(once())


def sweep_job() -> dict[str, int]:
    """The RQ job behind the periodic sweep."""
    result: dict[str, int] = run_job(run_sweeps)
    return result


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
