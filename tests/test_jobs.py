"""The sweep as an RQ job on a real Redis, and `incentives sweep` from the command line."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import update

from incentives.db import Database
from incentives.jobs import QUEUE, registered, sweep_job
from incentives.leads.models import Lead, LeadStatus
from tests.factories import make_program
from tests.leads.helpers import make_lead, make_reseller

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def redis() -> Iterator[Redis]:
    connection = Redis.from_url(REDIS_URL)
    connection.flushdb()
    yield connection
    connection.flushdb()


async def work_off(database_url: str) -> None:
    """A real `rq worker --burst` process works off the queue, as `incentives worker` would."""
    rq = str(Path(sys.executable).parent / "rq")
    env = {**os.environ, "DATABASE_URL": database_url}
    done = await asyncio.to_thread(
        subprocess.run, [rq, "worker", "--burst", "--url", REDIS_URL, QUEUE], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


async def run_sweep_command(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "incentives.cli", "sweep"]
    return await asyncio.to_thread(subprocess.run, command, env=env, capture_output=True, text=True, check=True)


async def _expire_offers(db: Database) -> None:
    async with db.transaction() as session:
        past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        await session.execute(update(Lead).where(Lead.status == LeadStatus.OFFERED).values(expires_at=past))


async def test_the_sweep_runs_as_an_rq_job(db: Database, database_url: str, redis: Redis) -> None:
    world = await make_program(db)
    await make_reseller(db, world)
    lead = await make_lead(db, world)
    await _expire_offers(db)
    queue = Queue(QUEUE, connection=redis)
    job = queue.enqueue(sweep_job)
    await work_off(database_url)
    result = job.return_value()
    assert set(result) == set(registered()) and min(result.values()) >= 0  # every sweep ran, none failed
    assert result["escalate_offers"] == 1
    async with db.reader() as session:
        stored = await session.get_one(Lead, lead.id)
    assert stored.status == LeadStatus.UNCLAIMED  # its only partner had it in wave 1: no later wave finds anyone
    second = queue.enqueue(sweep_job)  # a doubled run changes nothing
    await work_off(database_url)
    assert second.return_value()["escalate_offers"] == 0


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_incentives_sweep_command(db: Database, database_url: str) -> None:
    world = await make_program(db)
    await make_reseller(db, world)
    await make_lead(db, world)
    await _expire_offers(db)
    env = {**os.environ, "DATABASE_URL": database_url}
    done = await run_sweep_command(env)
    assert json.loads(done.stdout)["escalate_offers"] == 1
    again = await run_sweep_command(env)
    assert json.loads(again.stdout)["escalate_offers"] == 0
