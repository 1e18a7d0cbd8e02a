"""Committed lead events wake the processing at once: one coalesced RQ job with Redis, in-process without.

A rolled-back transaction wakes nothing. The periodic sweep stays the safety net and is not what pays here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import func, select

from incentives.config import Settings
from incentives.db import Database, utcnow
from incentives.jobs import OUTBOX_PENDING, QUEUE, OutboxWaker
from incentives.leads import events
from incentives.leads.models import Lead
from incentives.ledger.models import LedgerTransfer
from incentives.rules.processor import process_events
from tests.conftest import run_server
from tests.factories import make_program
from tests.leads.helpers import make_lead, make_reseller
from tests.rules import add_test_rule

REDIS_URL = os.environ.get("TEST_RULES_REDIS_URL", "redis://127.0.0.1:6379/13")


@pytest.fixture
def redis() -> Iterator[Redis]:
    connection = Redis.from_url(REDIS_URL)
    connection.flushdb()
    yield connection
    connection.flushdb()


async def paid_by(db: Database, program_id: int, rule_id: int) -> int:
    async with db.reader() as session:
        total = await session.scalar(
            select(func.coalesce(func.sum(LedgerTransfer.amount), 0)).where(
                LedgerTransfer.program_id == program_id, LedgerTransfer.rule_id == rule_id
            )
        )
    return int(total or 0)


async def eventually(check: object, seconds: float = 10.0) -> None:
    for _ in range(int(seconds * 20)):
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError("not within the time")


async def test_a_reservation_enqueues_one_job_that_a_worker_pays(
    db: Database, database_url: str, settings: Settings, redis: Redis
) -> None:
    world = await make_program(db)
    rep = await make_reseller(db, world)
    rule = await add_test_rule(db, world.program_id, points="7")
    leads = [await make_lead(db, world, now=utcnow()) for _ in range(3)]
    queue = Queue(QUEUE, connection=redis)
    for base in run_server(dataclasses.replace(settings, redis_url=REDIS_URL)):
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            for lead in leads:  # a burst of commits while the job waits: still one job
                reserved = await http.post(f"/api/v1/leads/{lead.id}/reserve", headers=rep.auth)
                assert reserved.status_code == 200, reserved.text

            async def enqueued() -> bool:
                return queue.count >= 1

            await eventually(enqueued)
            await asyncio.sleep(0.3)  # any further (wrong) enqueue would show up by now
            assert queue.count == 1 and redis.exists(OUTBOX_PENDING)
            assert await paid_by(db, world.program_id, rule.rule_id) == 0  # nothing runs in the web process
    rq = str(Path(sys.executable).parent / "rq")
    env = {**os.environ, "DATABASE_URL": database_url}
    done = await asyncio.to_thread(
        subprocess.run, [rq, "worker", "--burst", "--url", REDIS_URL, QUEUE], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert await paid_by(db, world.program_id, rule.rule_id) == 3 * 7
    assert queue.count == 0 and not redis.exists(OUTBOX_PENDING)  # the next commit enqueues a new job


async def test_a_rolled_back_transaction_enqueues_nothing(db: Database, redis: Redis) -> None:
    world = await make_program(db)
    rep = await make_reseller(db, world)
    lead = await make_lead(db, world, now=utcnow())
    waker = OutboxWaker(db, process_events, redis_url=REDIS_URL)
    task = asyncio.create_task(waker.run())
    await asyncio.sleep(0)
    queue = Queue(QUEUE, connection=redis)
    try:
        with pytest.raises(RuntimeError):
            async with db.transaction() as session:
                stored = await session.get_one(Lead, lead.id)
                await events.publish(session, stored, "lead.reserved", utcnow(), rep.org_id)
                raise RuntimeError("the state change failed")
        await asyncio.sleep(0.5)
        assert queue.count == 0 and not redis.exists(OUTBOX_PENDING)
        async with db.transaction() as session:  # the same, committed, does enqueue
            stored = await session.get_one(Lead, lead.id)
            await events.publish(session, stored, "lead.reserved", utcnow(), rep.org_id)

        async def enqueued() -> bool:
            return queue.count == 1

        await eventually(enqueued)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_without_redis_the_web_process_pays_at_once(db: Database, settings: Settings) -> None:
    world = await make_program(db)
    rep = await make_reseller(db, world)
    rule = await add_test_rule(db, world.program_id, points="9")
    lead = await make_lead(db, world, now=utcnow())
    # The sweep runs at start-up and then only every hour: what pays within seconds is the wake-up.
    for base in run_server(dataclasses.replace(settings, sweep_interval_seconds=3600)):
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            reserved = await http.post(f"/api/v1/leads/{lead.id}/reserve", headers=rep.auth)
            assert reserved.status_code == 200, reserved.text

            async def paid() -> bool:
                return await paid_by(db, world.program_id, rule.rule_id) == 9

            await eventually(paid)
