"""Races over real HTTP against a real server: redemptions, approvals, stock, cancel against approve;
and crashes inside a request or a decision."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from incentives.db import Database, utcnow
from incentives.errors import IdempotencyConflict, NotFound, ValidationFailed
from incentives.ledger import queries
from incentives.ledger.verify import verify
from incentives.rewards import catalog, decisions, redemptions, services, workflow
from incentives.rewards.models import Redemption, Reward, RewardUsage
from tests.rewards.helpers import make_reward, make_rewards_world, redeem

N = 12


async def _balance(db: Database, program_id: int, org_id: int) -> queries.Balance:
    async with db.reader() as session:
        return await queries.balance(session, program_id, org_id)


async def test_balance_covering_k_of_n_holds_exactly_k(db: Database, http: httpx.AsyncClient) -> None:
    k = 5
    rw = await make_rewards_world(db, points=100 * k + 50)
    reward = await make_reward(db, rw, "bonus", points=100)
    responses = await asyncio.gather(
        *[http.post("/api/v1/redemptions", json={"reward_id": reward}, headers=rw.manager.auth) for _ in range(N)]
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] * k + [422] * (N - k), [r.text for r in responses]
    assert all(r.json()["code"] == "insufficient_points" for r in responses if r.status_code == 422)
    balance = await _balance(db, rw.program_id, rw.org_id)
    assert (balance.held, balance.available) == (100 * k, 50)
    async with db.reader() as session:
        pending = await session.scalar(
            select(func.count()).select_from(Redemption).where(Redemption.status == "pending")
        )
    assert pending == k


async def test_concurrent_approvals_of_one_redemption_one_wins(db: Database, http: httpx.AsyncClient) -> None:
    rw = await make_rewards_world(db, points=1000)
    reward = await make_reward(db, rw, "discount", points=300)
    redemption = await redeem(db, rw.manager, reward)
    responses = await asyncio.gather(
        *[http.post(f"/api/v1/redemptions/{redemption.id}/approve", headers=rw.pam.auth) for _ in range(8)]
    )
    assert sorted(r.status_code for r in responses) == [200] + [409] * 7
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"invalid_state"}
    balance = await _balance(db, rw.program_id, rw.org_id)
    assert (balance.available, balance.held) == (700, 0)
    codes = [r.json()["fulfilment"]["coupon_code"] for r in responses if r.status_code == 200]
    assert len(codes) == 1 and codes[0]


async def test_stock_is_never_oversold(db: Database, http: httpx.AsyncClient) -> None:
    stock = 3
    partners = [await make_rewards_world(db, points=1000) for _ in range(1)]
    rw = partners[0]
    reward = await make_reward(db, rw, "bonus", points=10, stock=stock)
    responses = await asyncio.gather(
        *[http.post("/api/v1/redemptions", json={"reward_id": reward}, headers=rw.manager.auth) for _ in range(N)]
    )
    assert sorted(r.status_code for r in responses) == [201] * stock + [422] * (N - stock)
    assert {r.json()["code"] for r in responses if r.status_code == 422} == {"out_of_stock"}
    async with db.reader() as session:
        assert await session.scalar(select(Reward.stock).where(Reward.id == reward)) == 0
    assert (await _balance(db, rw.program_id, rw.org_id)).held == 10 * stock


async def test_per_partner_limit_is_never_exceeded(db: Database, http: httpx.AsyncClient) -> None:
    rw = await make_rewards_world(db, points=1000)
    reward = await make_reward(db, rw, "bonus", points=10, limit_per_period=2, limit_period="month")
    responses = await asyncio.gather(
        *[http.post("/api/v1/redemptions", json={"reward_id": reward}, headers=rw.manager.auth) for _ in range(8)]
    )
    assert sorted(r.status_code for r in responses) == [201] * 2 + [422] * 6
    assert {r.json()["code"] for r in responses if r.status_code == 422} == {"limit_reached"}


async def test_cancel_against_approve_exactly_one_wins(db: Database, http: httpx.AsyncClient) -> None:
    rw = await make_rewards_world(db, points=10_000)
    reward = await make_reward(db, rw, "mdf", points=100)
    for _ in range(4):
        redemption = await redeem(db, rw.manager, reward)
        approve, cancel = await asyncio.gather(
            http.post(f"/api/v1/redemptions/{redemption.id}/approve", headers=rw.pam.auth),
            http.post(f"/api/v1/redemptions/{redemption.id}/cancel", headers=rw.manager.auth),
        )
        assert sorted([approve.status_code, cancel.status_code]) == [200, 409], (approve.text, cancel.text)
    async with db.reader() as session:
        statuses = list(await session.scalars(select(Redemption.status)))
    fulfilled = statuses.count("fulfilled")
    assert fulfilled + statuses.count("cancelled") == 4
    balance = await _balance(db, rw.program_id, rw.org_id)
    assert (balance.available, balance.held) == (10_000 - 100 * fulfilled, 0)


async def test_double_click_with_one_key_redeems_once(db: Database, http: httpx.AsyncClient) -> None:
    rw = await make_rewards_world(db, points=1000)
    reward = await make_reward(db, rw, "bonus", points=100)
    results = await asyncio.gather(*[redeem(db, rw.manager, reward, key="same-click") for _ in range(6)])
    assert len({r.id for r in results}) == 1
    assert (await _balance(db, rw.program_id, rw.org_id)).held == 100


async def test_double_click_with_one_key_and_points_for_one_answers_each_click_with_the_redemption(
    db: Database,
) -> None:
    """The clicks that wait for the first one's locks find its redemption, not a shortfall of points."""
    rw = await make_rewards_world(db, points=100)
    reward = await make_reward(db, rw, "bonus", points=100)
    results = await asyncio.gather(*[redeem(db, rw.manager, reward, key="one-click") for _ in range(6)])
    assert len({r.id for r in results}) == 1
    balance = await _balance(db, rw.program_id, rw.org_id)
    assert (balance.available, balance.held) == (0, 100)


async def test_a_crash_inside_a_request_or_a_decision_leaves_no_trace(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Request (row, stock, limit, hold) and decision (post, fulfilment) are one transaction each: a crash
    after the ledger did its part takes that part back too."""
    rw = await make_rewards_world(db, points=1000)
    reward = await make_reward(db, rw, "discount", points=100, stock=5, limit_per_period=3, limit_period="month")
    step, hold_points = workflow.step, workflow.hold_points

    async def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("power cut")

    async def hold_then_crash(*args: Any, **kwargs: Any) -> None:
        await hold_points(*args, **kwargs)
        raise RuntimeError("power cut")

    # After the ledger's hold and the request's row (written with it), before the commit.
    monkeypatch.setattr(redemptions, "hold_points", hold_then_crash)
    with pytest.raises(RuntimeError):
        await redeem(db, rw.manager, reward, key="k")
    async with db.reader() as session:
        assert await session.scalar(select(func.count()).select_from(Redemption)) == 0
        assert await session.scalar(select(Reward.stock).where(Reward.id == reward)) == 5
        assert await session.scalar(select(func.coalesce(func.sum(RewardUsage.quantity), 0))) == 0
    assert (await _balance(db, rw.program_id, rw.org_id)).available == 1000
    monkeypatch.setattr(redemptions, "hold_points", hold_points)
    redemption = await redeem(db, rw.manager, reward, key="k")
    assert redemption.status == "pending"
    monkeypatch.setattr(decisions, "step", crash)  # after the ledger's post, before the fulfilment
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await services.approve_redemption(session, rw.pam.principal, redemption.id)
    async with db.reader() as session:
        assert await session.scalar(select(Redemption.status).where(Redemption.id == redemption.id)) == "pending"
    balance = await _balance(db, rw.program_id, rw.org_id)
    assert (balance.available, balance.held) == (900, 100)
    monkeypatch.setattr(decisions, "step", step)
    async with db.transaction() as session:
        approved = await services.approve_redemption(session, rw.pam.principal, redemption.id)
    assert approved.status == "fulfilled" and approved.coupon_code
    assert (await _balance(db, rw.program_id, rw.org_id)).held == 0
    async with db.reader() as session:
        assert await verify(session) == []


async def _someone_waits_for_a_lock(db: Database) -> bool:
    """PostgreSQL: whether a session of this database waits for a lock. SQLite: a second writer always waits
    (BEGIN IMMEDIATE) until the first one's transaction ends."""
    if db.is_sqlite:
        return True
    async with db.reader() as session:
        waiting = await session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
        )
    return bool(waiting)


async def test_an_edit_of_the_fixed_terms_waits_for_a_redemption_that_read_the_item(db: Database) -> None:
    """The redemption's first statement reads the item and locks it (PostgreSQL: key share, which the edit's
    FOR UPDATE waits for); an edit of its kind that comes between that read and the redemption's row waits,
    then sees the redemption and is refused. The redemption holds what the item said when it was read."""
    rw = await make_rewards_world(db, points=1000)
    reward = await make_reward(db, rw, "discount", points=100)  # no stock: no stock update locks the item
    principal = rw.manager.principal
    async with db.transaction() as session:
        conn = await session.connection()
        lookup = redemptions._request_lookup(principal, conn.dialect.name)
        read = (await conn.execute(lookup, {"p_reward": reward, "p_key": "k"})).one()
        assert read.kind == "discount"
        edit = asyncio.create_task(_change_kind(db, rw, reward))
        for _ in range(1000):  # until the edit waits for our lock (or, wrongly, got through)
            if edit.done() or await _someone_waits_for_a_lock(db):
                break
            await asyncio.sleep(0.01)
        redemption = await redemptions._request(session, principal, reward, 1, "k", utcnow())
    with pytest.raises(ValidationFailed):
        await edit
    async with db.transaction() as session:
        approved = await services.approve_redemption(session, rw.pam.principal, redemption.id)
    assert approved.coupon_code is not None
    async with db.reader() as session:
        assert await session.scalar(select(Reward.kind).where(Reward.id == reward)) == "discount"


async def _change_kind(db: Database, rw: Any, reward: int) -> None:
    async with db.transaction() as session:
        await catalog.update_reward(session, rw.world.admin.principal, reward, kind="bonus", percent=None)


async def test_a_request_key_used_before_answers_with_its_redemption_whatever_the_item_is_now(db: Database) -> None:
    rw = await make_rewards_world(db, points=1000)
    reward = await make_reward(db, rw, "bonus", points=100)
    other = await make_reward(db, rw, "bonus", points=100)
    first = await redeem(db, rw.manager, reward, key="k")
    assert (await redeem(db, rw.manager, reward, key="k")).id == first.id
    with pytest.raises(IdempotencyConflict):
        await redeem(db, rw.manager, other, key="k")
    with pytest.raises(IdempotencyConflict):  # the key answers before the item is looked for
        await redeem(db, rw.manager, 10**9, key="k")
    with pytest.raises(NotFound):
        await redeem(db, rw.manager, 10**9, key="new")
    async with db.transaction() as session:
        await catalog.deactivate_reward(session, rw.world.admin.principal, reward)
    again = await redeem(db, rw.manager, reward, key="k")
    assert (again.id, again.status, again.hold_id) == (first.id, "pending", first.hold_id)
    assert (await _balance(db, rw.program_id, rw.org_id)).held == 100
