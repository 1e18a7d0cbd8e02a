"""Idempotency-Key records on SQLite and PostgreSQL: crashes, takeover of stale claims, the sweep, the API."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import httpx
import pytest
from sqlalchemy import func, select

from incentives.accounts.models import Org
from incentives.db import Database, utcnow
from incentives.errors import IdempotencyConflict
from incentives.idempotency import (
    CLAIM_TIMEOUT,
    KEEP_FOR,
    STILL_RUNNING,
    IdempotencyRecord,
    claim,
    complete,
    fingerprint,
    release,
)
from incentives.jobs import run_sweeps
from tests.factories import make_program

SECOND = dt.timedelta(seconds=1)
PRINT = fingerprint("POST", "/api/v1/orgs", b'{"name": "A"}')
OTHER_PRINT = fingerprint("POST", "/api/v1/orgs", b'{"name": "B"}')


async def a_user(db: Database) -> int:
    return (await make_program(db)).admin.user_id


async def still_running(db: Database, user_id: int, key: str, now: dt.datetime) -> bool:
    """True when a claim at `now` answers 'still being processed'."""
    try:
        await claim(db, user_id, key, PRINT, now=now)
    except IdempotencyConflict as conflict:
        assert conflict.detail == STILL_RUNNING, conflict.detail
        return True
    return False


async def record(db: Database, user_id: int, key: str) -> IdempotencyRecord | None:
    async with db.reader() as session:
        return await session.scalar(
            select(IdempotencyRecord).where(IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key)
        )


async def test_a_claim_left_by_a_dead_process_is_taken_over_after_the_timeout(db: Database) -> None:
    user = await a_user(db)
    start = utcnow()
    assert await claim(db, user, "k", PRINT, now=start) is None
    # The process dies here: neither complete() nor release() runs.
    assert await still_running(db, user, "k", start + CLAIM_TIMEOUT - SECOND)
    late = start + CLAIM_TIMEOUT + SECOND
    with pytest.raises(IdempotencyConflict) as other:  # another request under the key never takes it over
        await claim(db, user, "k", OTHER_PRINT, now=late)
    assert other.value.detail != STILL_RUNNING
    assert await claim(db, user, "k", PRINT, now=late) is None  # the retry runs
    assert await still_running(db, user, "k", late + SECOND)  # ... and holds a fresh claim
    await complete(db, user, "k", 201, b'{"id": 7}')
    assert await claim(db, user, "k", PRINT, now=late + 2 * SECOND) == (201, b'{"id": 7}')
    stored = await record(db, user, "k")
    assert stored is not None and stored.claimed_at == late and stored.created_at == start


async def test_a_completed_record_is_replayed_and_a_released_one_claimed_again(db: Database) -> None:
    user = await a_user(db)
    start = utcnow()
    assert await claim(db, user, "done", PRINT, now=start) is None
    await complete(db, user, "done", 422, b'{"code": "validation_error"}')
    # Long after the claim timeout a completed record still replays: it is never run again.
    for later in (start + SECOND, start + CLAIM_TIMEOUT * 10):
        assert await claim(db, user, "done", PRINT, now=later) == (422, b'{"code": "validation_error"}')

    assert await claim(db, user, "failed", PRINT, now=start) is None
    await release(db, user, "failed")  # the first attempt ended in a 5xx
    assert await record(db, user, "failed") is None
    assert await claim(db, user, "failed", PRINT, now=start + SECOND) is None
    assert await still_running(db, user, "failed", start + 2 * SECOND)


async def test_concurrent_retries_take_over_a_stale_claim_exactly_once(db: Database) -> None:
    user = await a_user(db)
    start = utcnow()
    assert await claim(db, user, "race", PRINT, now=start) is None
    late = start + CLAIM_TIMEOUT + SECOND
    # Each claim() opens its own sessions, so the takers race on separate connections; with the connections
    # open beforehand no taker is held up connecting while another one finishes.
    assert await db.warm_up(8) == 8
    outcomes = await asyncio.gather(
        *(claim(db, user, "race", PRINT, now=late) for _ in range(8)), return_exceptions=True
    )
    winners = [o for o in outcomes if o is None]
    losers = [o for o in outcomes if isinstance(o, IdempotencyConflict) and o.detail == STILL_RUNNING]
    assert len(winners) == 1 and len(losers) == 7, outcomes


async def test_the_sweep_forgets_records_older_than_72_hours(db: Database) -> None:
    user = await a_user(db)
    now = utcnow()
    ages = {"old-done": KEEP_FOR + SECOND, "old-open": KEEP_FOR + SECOND, "young": KEEP_FOR - SECOND, "new": SECOND}
    for key, age in ages.items():
        assert await claim(db, user, key, PRINT, now=now - age) is None
    await complete(db, user, "old-done", 201, b"{}")
    await complete(db, user, "young", 201, b"{}")

    results = await run_sweeps(db, now)  # the sweep is registered and reads the clock it is given
    assert results["idempotency.forget"] == 2
    async with db.reader() as session:
        kept = set(await session.scalars(select(IdempotencyRecord.key).where(IdempotencyRecord.user_id == user)))
    assert kept == {"young", "new"}
    assert (await run_sweeps(db, now))["idempotency.forget"] == 0  # a doubled run changes nothing
    # A forgotten key is free again: a retry this late runs anew.
    assert await claim(db, user, "old-done", PRINT, now=now) is None


async def test_the_api_runs_a_retry_of_a_crashed_request_once(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    body = json.dumps({"name": "Crash GmbH", "kind": "reseller", "country": "DE"}).encode()
    headers = {**world.admin.auth, "Content-Type": "application/json"}
    print_ = fingerprint("POST", "/api/v1/orgs", body)
    # Two requests whose processes died after claiming: one just now, one longer ago than the timeout.
    assert await claim(db, world.admin.user_id, "fresh", print_) is None
    assert await claim(db, world.admin.user_id, "stale", print_, now=utcnow() - CLAIM_TIMEOUT - SECOND) is None

    busy = await http.post("/api/v1/orgs", headers={**headers, "Idempotency-Key": "fresh"}, content=body)
    assert busy.status_code == 409 and busy.json()["code"] == "idempotency_conflict"

    retried = await http.post("/api/v1/orgs", headers={**headers, "Idempotency-Key": "stale"}, content=body)
    assert retried.status_code == 201, retried.text
    assert "idempotent-replayed" not in retried.headers
    replay = await http.post("/api/v1/orgs", headers={**headers, "Idempotency-Key": "stale"}, content=body)
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == retried.json()
    async with db.reader() as session:
        assert await session.scalar(select(func.count()).where(Org.name == "Crash GmbH")) == 1


async def test_the_same_json_reindented_is_the_same_request(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    headers = {**world.admin.auth, "Content-Type": "application/json", "Idempotency-Key": "reindented"}
    body = {"name": "Indent GmbH", "kind": "reseller", "country": "DE", "city": "Köln"}
    first = await http.post("/api/v1/orgs", headers=headers, content=json.dumps(body).encode())
    assert first.status_code == 201, first.text
    pretty = json.dumps(dict(reversed(body.items())), indent=4, ensure_ascii=True).encode()
    again = await http.post("/api/v1/orgs", headers=headers, content=pretty)
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    other = await http.post("/api/v1/orgs", headers=headers, json={**body, "city": "Bonn"})
    assert other.status_code == 409 and other.json()["code"] == "idempotency_conflict"
    assert fingerprint("POST", "/x", b'{"a": 1,"b":[1, 2]}') == fingerprint("POST", "/x", b'{"b":[1,2],"a":1}')
    assert fingerprint("POST", "/x", b'{"a": 1}') != fingerprint("POST", "/x", b'{"a": 1.0}')


async def test_an_invalid_body_does_not_use_up_its_key(db: Database, http: httpx.AsyncClient) -> None:
    """Validation answers (422, 415) are not stored: the corrected request with the same key runs."""
    world = await make_program(db)
    headers = {**world.admin.auth, "Idempotency-Key": "fix-me"}
    broken = await http.post("/api/v1/orgs", headers=headers, json={"name": "Fix GmbH", "kind": "emperor"})
    assert broken.status_code == 422
    wrong_type = await http.post("/api/v1/orgs", headers={**headers, "Content-Type": "text/plain"}, content=b"x")
    assert wrong_type.status_code == 415
    fixed = await http.post(
        "/api/v1/orgs", headers=headers, json={"name": "Fix GmbH", "kind": "reseller", "country": "DE"}
    )
    assert fixed.status_code == 201, fixed.text
    assert "idempotent-replayed" not in fixed.headers
    replay = await http.post(
        "/api/v1/orgs", headers=headers, json={"name": "Fix GmbH", "kind": "reseller", "country": "DE"}
    )
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
