"""Real concurrency: separate sessions (separate connections) racing on one account, hold or key."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import func, select

from incentives.db import Database
from incentives.errors import InvalidState
from incentives.ledger import jobs as ledger_jobs
from incentives.ledger import queries, services
from incentives.ledger.errors import InsufficientPoints
from incentives.ledger.models import AccountKind, LedgerTransfer
from incentives.ledger.services import Transfer
from tests.ledger import T0, assert_clean, balance, program_with_partners


async def test_n_redemptions_when_k_are_covered(db: Database) -> None:
    program, [org] = await program_with_partners(db)
    async with db.transaction() as session:
        for i in range(3):  # three lots, so the racers also fight over lot order
            await services.award_points(session, program_id=program, org_id=org, points=10, key=f"e{i}", now=T0)

    async def redeem(i: int) -> Transfer | BaseException:
        try:
            async with db.transaction() as session:
                if i % 2:
                    return await services.hold_points(
                        session, program_id=program, org_id=org, points=7, kind="mdf", key=f"r{i}"
                    )
                return await services.redeem_points(
                    session, program_id=program, org_id=org, points=7, kind="bonus", key=f"r{i}"
                )
        except InsufficientPoints as exc:
            return exc

    results = await asyncio.gather(*(redeem(i) for i in range(10)))
    won = [r for r in results if isinstance(r, Transfer)]
    assert len(won) == 4  # 30 points cover four redemptions of 7
    assert all(isinstance(r, InsufficientPoints) for r in results if not isinstance(r, Transfer))
    left = await balance(db, program, org)
    assert left.available == 2 and left.held == 7 * sum(1 for r in won if r.kind == "hold")
    await assert_clean(db)


async def test_post_and_void_race_one_wins(db: Database) -> None:
    program, [org] = await program_with_partners(db)
    async with db.transaction() as session:
        await services.award_points(session, program_id=program, org_id=org, points=50, key="e")
        hold = await services.hold_points(session, program_id=program, org_id=org, points=40, kind="mdf", key="h")

    async def resolve(i: int) -> str:
        try:
            if i % 3 == 2:
                return "won" if await ledger_jobs.void_timed_out_holds(db, T0 + dt.timedelta(days=9999)) else "lost"
            async with db.transaction() as session:
                if i % 3 == 0:
                    await services.post_hold(session, program_id=program, hold_id=hold.id, key=f"p{i}")
                else:
                    await services.void_hold(session, program_id=program, hold_id=hold.id, key=f"v{i}")
        except InvalidState:
            return "lost"
        return "won"

    await asyncio.gather(*(resolve(i) for i in range(6)))
    async with db.reader() as session:
        resolutions = await session.scalar(
            select(func.count()).select_from(LedgerTransfer).where(LedgerTransfer.pending_id == hold.id)
        )
    assert resolutions == 1
    assert (await balance(db, program, org)).held == 0
    await assert_clean(db)


async def test_same_key_concurrently_makes_one_transfer(db: Database) -> None:
    program, [org] = await program_with_partners(db)
    async with db.transaction() as session:
        await services.award_points(session, program_id=program, org_id=org, points=50, key="seed")

    async def twin(kind: str) -> Transfer:
        async with db.transaction() as session:
            if kind == "earn":
                return await services.award_points(session, program_id=program, org_id=org, points=5, key="k-earn")
            return await services.redeem_points(
                session, program_id=program, org_id=org, points=3, kind="mdf", key="k-redeem"
            )

    results = await asyncio.gather(*(twin(kind) for kind in ["earn", "redeem"] * 6))
    assert len({r.id for r in results if r.kind == "earn"}) == 1
    assert len({r.id for r in results if r.kind == "redeem"}) == 1
    async with db.reader() as session:
        count = await session.scalar(select(func.count()).select_from(LedgerTransfer))
    assert count == 3
    assert (await balance(db, program, org)).available == 52
    await assert_clean(db)


async def test_overlapping_batches_concurrently_book_each_key_once(db: Database) -> None:
    """Batches sent concurrently that share keys (a retried event batch, or two workers on one): each key is
    booked once, every batch returns the same transfer for it, and the counters count it once."""
    program, orgs = await program_with_partners(db, 3)
    async with db.transaction() as session:  # one key of the batches is booked before they start
        before = await services.award_points(session, program_id=program, org_id=orgs[0], points=4, key="k0")

    async def batch(offset: int) -> list[Transfer]:
        awards = [services.Award(orgs[i % 3], 4, f"k{i}") for i in range(offset, offset + 12)]
        async with db.transaction() as session:
            return await services.award_batch(session, program_id=program, awards=awards)

    results = await asyncio.gather(*(batch(offset) for offset in [0, 4, 0, 8, 4, 0]))
    by_key: dict[str | None, set[int]] = {}
    for transfers in results:
        for transfer in transfers:
            by_key.setdefault(transfer.idempotency_key, set()).add(transfer.id)
    assert len(by_key) == 20 and all(len(ids) == 1 for ids in by_key.values())
    assert by_key["k0"] == {before.id}
    async with db.reader() as session:
        count = await session.scalar(select(func.count()).select_from(LedgerTransfer))
    assert count == 20
    assert sum([(await balance(db, program, org)).available for org in orgs]) == 20 * 4
    await assert_clean(db)


async def test_concurrent_expiry_and_spending(db: Database) -> None:
    program, [org] = await program_with_partners(db)
    async with db.transaction() as session:
        for i in range(4):
            await services.award_points(
                session, program_id=program, org_id=org, points=10, key=f"e{i}", now=T0 + dt.timedelta(days=200 * i)
            )
    later = T0 + dt.timedelta(days=2 * 365 + 300)  # the first two lots have expired

    async def sweep() -> int:
        return await ledger_jobs.expire_points(db, later)

    async def spend(i: int) -> bool:
        try:
            async with db.transaction() as session:
                await services.redeem_points(
                    session, program_id=program, org_id=org, points=8, kind="mdf", key=f"s{i}", now=later
                )
        except InsufficientPoints:
            return False
        return True

    results = await asyncio.gather(sweep(), spend(1), sweep(), spend(2), spend(3), sweep())
    assert sum(1 for r in results if r is True) == 2
    # Sweeps and spenders (which expire due lots first) raced; the two expired lots went exactly once.
    async with db.reader() as session:
        assert await queries.system_balance(session, program, AccountKind.EXPIRED) == 20
    assert (await balance(db, program, org)).available == 4
    await assert_clean(db)
