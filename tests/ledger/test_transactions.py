"""Ledger operations join the caller's transaction (and refuse to run without one), the per-database cache of
account ids, and the connection pool after the server dropped its connections."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from incentives.db import Database
from incentives.ledger import services
from incentives.ledger.models import LedgerAccount, LedgerTransfer
from tests.ledger import T0, assert_clean, balance, program_with_partners


class PowerCut(Exception):
    pass


async def _count(db: Database, table: type[LedgerTransfer] | type[LedgerAccount]) -> int:
    async with db.reader() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


async def test_an_operation_joins_the_callers_transaction_and_rolls_back_with_it(db: Database) -> None:
    program, [org] = await program_with_partners(db)
    async with db.transaction() as session:
        await services.award_points(session, program_id=program, org_id=org, points=100, key="e", now=T0)
    with pytest.raises(PowerCut):
        async with db.transaction() as session:
            await services.hold_points(session, program_id=program, org_id=org, points=60, kind="mdf", key="h")
            await services.award_points(session, program_id=program, org_id=org, points=5, key="e2", now=T0)
            raise PowerCut
    assert await _count(db, LedgerTransfer) == 1
    assert (await balance(db, program, org)).available == 100
    async with db.transaction() as session:
        hold = await services.hold_points(session, program_id=program, org_id=org, points=60, kind="mdf", key="h")
        again = await services.hold_points(session, program_id=program, org_id=org, points=60, kind="mdf", key="h")
        posted = await services.post_hold(session, program_id=program, hold_id=hold.id, points=50, key="p")
    assert again.replayed and again.id == hold.id and posted.amount == 50
    assert (await balance(db, program, org)).available == 50
    await assert_clean(db)


async def test_an_operation_outside_a_transaction_is_refused_and_writes_nothing(db: Database) -> None:
    program, [org] = await program_with_partners(db)
    async with db.session() as session:
        with pytest.raises(services.OutsideTransaction):
            await services.award_points(session, program_id=program, org_id=org, points=10, key="e", now=T0)
        with pytest.raises(services.OutsideTransaction):
            await services.award_batch(session, program_id=program, awards=[services.Award(org, 10, "b")], now=T0)
        with pytest.raises(services.OutsideTransaction):
            await services.hold_points(session, program_id=program, org_id=org, points=1, kind="mdf", key="h")
        with pytest.raises(services.OutsideTransaction):
            await services.post_hold(session, program_id=program, hold_id=1, key="p")
        with pytest.raises(services.OutsideTransaction):
            await services.reverse_award(session, program_id=program, award_id=1, key="r")
    assert await _count(db, LedgerTransfer) == 0


async def test_accounts_created_by_a_rolled_back_transaction_are_not_remembered(db: Database) -> None:
    program, [org] = await program_with_partners(db)
    with pytest.raises(PowerCut):
        async with db.transaction() as session:
            # The first award of the program creates its issuance and the partner's account ...
            await services.award_points(session, program_id=program, org_id=org, points=10, key="gone", now=T0)
            raise PowerCut
    assert await _count(db, LedgerAccount) == 0
    # ... which the rollback took away again: the next award must not use their ids.
    async with db.transaction() as session:
        await services.award_points(session, program_id=program, org_id=org, points=10, key="e1", now=T0)
    async with db.transaction() as session:  # now the ids come from the cache
        await services.award_points(session, program_id=program, org_id=org, points=15, key="e2", now=T0)
    assert await _count(db, LedgerAccount) == 2
    assert (await balance(db, program, org)).available == 25
    await assert_clean(db)


async def test_cached_accounts_are_per_database(db: Database, database_url: str) -> None:
    program, [org] = await program_with_partners(db)
    async with db.transaction() as session:
        await services.award_points(session, program_id=program, org_id=org, points=10, key="e1", now=T0)
    other = Database(database_url)  # another process's engine: fills its own cache from the rows
    try:
        async with other.transaction() as session:
            await services.award_points(session, program_id=program, org_id=org, points=20, key="e2", now=T0)
    finally:
        await other.dispose()
    assert await _count(db, LedgerAccount) == 2
    assert (await balance(db, program, org)).available == 30
    await assert_clean(db)


async def test_the_pool_recovers_after_the_server_dropped_its_connections(pg_url: str) -> None:
    """PostgreSQL only (SQLite has no server): without a pre-ping, the first statement on a dead pooled
    connection fails and invalidates the pool; the next operation works on fresh connections."""
    db = Database(pg_url)
    admin = Database(pg_url)
    try:
        pids = []
        sessions = [db.reader() for _ in range(3)]
        for session in sessions:  # three pooled connections
            pids.append(await session.scalar(text("SELECT pg_backend_pid()")))
        for session in sessions:
            await session.close()
        async with admin.reader() as session:
            await session.execute(
                text("SELECT pg_terminate_backend(pid) FROM unnest(CAST(:pids AS int[])) AS pid"), {"pids": pids}
            )
        with pytest.raises(DBAPIError) as failed:
            async with db.reader() as session:
                await session.scalar(text("SELECT 1"))
        assert failed.value.connection_invalidated
        for _ in range(3):
            async with db.reader() as session:
                assert await session.scalar(text("SELECT 1")) == 1
        # The same for an award.
        program, [org] = await program_with_partners(db)
        async with db.transaction() as session:
            await services.award_points(session, program_id=program, org_id=org, points=5, key="before", now=T0)
        async with admin.reader() as session:  # every connection of `db`'s pool
            await session.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        with pytest.raises(DBAPIError) as failed:
            async with db.transaction() as session:
                await services.award_points(session, program_id=program, org_id=org, points=5, key="lost", now=T0)
        assert failed.value.connection_invalidated
        async with db.transaction() as session:
            await services.award_points(session, program_id=program, org_id=org, points=7, key="after", now=T0)
        assert (await balance(db, program, org)).available == 12
        await assert_clean(db)
    finally:
        await db.dispose()
        await admin.dispose()
