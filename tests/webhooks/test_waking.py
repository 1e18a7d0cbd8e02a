"""Deliveries go out after the commit that wrote them, never inside its request: in-process without Redis (and
again when a retry falls due), as an RQ job with Redis that a worker runs."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from redis import Redis
from rq import Queue

from incentives.config import Settings
from incentives.db import Database
from incentives.jobs import QUEUE
from incentives.webhooks.jobs import PENDING_KEY
from tests.conftest import run_server
from tests.factories import make_member, make_program
from tests.webhooks.receiver import running_receiver, subscribe

REDIS_URL = os.environ.get("TEST_WEBHOOKS_REDIS_URL", "redis://127.0.0.1:6379/14")


@pytest.fixture
def redis() -> Iterator[Redis]:
    connection = Redis.from_url(REDIS_URL)
    connection.flushdb()
    yield connection
    connection.flushdb()


async def eventually(check: Callable[[], bool], seconds: float = 10.0) -> None:
    for _ in range(int(seconds * 20)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("not within the time")


async def test_without_redis_the_web_process_sends_at_once_and_retries_when_due(
    db: Database, settings: Settings
) -> None:
    world = await make_program(db)
    org = await make_member(db, world)
    body = {"program_id": world.program_id, "org_id": org, "points": 50, "reason": "Messe"}
    with running_receiver() as receiver:
        hook_id, _ = await subscribe(db, world, receiver.url, ["points.awarded"])
        receiver.answers = [500]
        # The sweep runs at start-up and then every hour: what sends within seconds is the wake-up.
        for base in run_server(dataclasses.replace(settings, sweep_interval_seconds=3600)):
            async with httpx.AsyncClient(base_url=base, timeout=30) as http:
                booked = await http.post("/api/v1/points/adjustments", headers=world.admin.auth, json=body)
                assert booked.status_code == 201, booked.text
                await eventually(lambda: len(receiver.received) == 1, 5)
                await eventually(lambda: len(receiver.received) == 2, 10)  # the retry, 5 s later
                log = await http.get(f"/api/v1/webhooks/{hook_id}/deliveries", headers=world.admin.auth)
                [item] = log.json()["items"]
                assert (item["status"], item["attempts"]) == ("delivered", 2)
                again = await http.post(
                    f"/api/v1/webhooks/{hook_id}/deliveries/{item['id']}/retry", headers=world.admin.auth
                )
                assert again.status_code == 202
                await eventually(lambda: len(receiver.received) == 3, 5)
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1


async def test_with_redis_a_worker_sends(db: Database, database_url: str, settings: Settings, redis: Redis) -> None:
    world = await make_program(db)
    org = await make_member(db, world)
    queue = Queue(QUEUE, connection=redis)
    with running_receiver() as receiver:
        await subscribe(db, world, receiver.url, ["points.awarded"])
        for base in run_server(dataclasses.replace(settings, redis_url=REDIS_URL)):
            async with httpx.AsyncClient(base_url=base, timeout=30) as http:
                for points in (10, 20):
                    body = {"program_id": world.program_id, "org_id": org, "points": points, "reason": "Messe"}
                    booked = await http.post("/api/v1/points/adjustments", headers=world.admin.auth, json=body)
                    assert booked.status_code == 201, booked.text
                await eventually(lambda: redis.exists(PENDING_KEY) == 1)
                await asyncio.sleep(0.3)
                assert receiver.received == []  # nothing is sent by the web process
                jobs = [job.func_name for job in queue.jobs]
                assert jobs.count("incentives.webhooks.jobs.deliver_job") == 1  # two commits, one job
        rq = str(Path(sys.executable).parent / "rq")
        env = {**os.environ, "DATABASE_URL": database_url}
        done = await asyncio.to_thread(
            subprocess.run,
            [rq, "worker", "--burst", "--url", REDIS_URL, QUEUE],
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
    assert sorted(r.body.count(b'"points":') for r in receiver.received) == [1, 1]
    assert len(receiver.received) == 2
