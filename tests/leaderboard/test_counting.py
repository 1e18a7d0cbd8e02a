"""Counting off the booking's path: each booking transaction leaves one pending row, and counters (several at
once, a rebuild beside them, the outbox processing woken by a commit) count every earning exactly once."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from incentives.db import Database
from incentives.engagement.jobs import process_outbox
from incentives.jobs import OutboxWaker
from incentives.leaderboard import jobs as leaderboard
from incentives.leaderboard.models import LeaderboardPending
from incentives.ledger.services import Cause
from incentives.rules import payouts
from incentives.rules.leaderboard_feed import earned_with_credit
from tests.leaderboard.test_boards import NOW, assert_boards_match_the_ledger, book_random_history


async def _pending(db: Database) -> int:
    async with db.reader() as session:
        return int(await session.scalar(select(func.count()).select_from(LeaderboardPending)) or 0)


async def test_concurrent_counters_count_each_booking_once(db: Database) -> None:
    program_id, tiers = await book_random_history(db, seed=11, awards=3_000, count=False)
    booked = await _pending(db)
    assert booked == 3_000 // 500 + 200  # one row per booking transaction: 6 batches and 200 reversals
    counted = await asyncio.gather(*(leaderboard.count_pending(db, limit=7) for _ in range(4)))
    assert sum(counted) == booked and await _pending(db) == 0
    await assert_boards_match_the_ledger(db, program_id, tiers, "sql")
    assert await leaderboard.count_pending(db) == 0


async def test_a_rebuild_beside_counters_counts_each_booking_once(db: Database) -> None:
    program_id, tiers = await book_random_history(db, seed=12, awards=3_000, count=False)
    await asyncio.gather(
        leaderboard.count_pending(db, limit=5),
        leaderboard.rebuild(db, earned_with_credit, program_id),
        leaderboard.count_pending(db, limit=5),
    )
    await leaderboard.count_pending(db)
    assert await _pending(db) == 0
    await assert_boards_match_the_ledger(db, program_id, tiers, "sql")


async def test_a_committed_correction_moves_the_board_without_a_sweep(db: Database) -> None:
    program_id, tiers = await book_random_history(db, seed=13, awards=500)
    waker = OutboxWaker(db, process_outbox)
    task = asyncio.create_task(waker.run())
    await asyncio.sleep(0)
    try:
        async with db.transaction() as session:
            await payouts.adjust(
                session,
                program_id=program_id,
                org_id=min(tiers),
                points=5_000,
                key="lift",
                cause=Cause(reason="x"),
                now=NOW,
            )
        for _ in range(200):
            if await _pending(db) == 0:
                break
            await asyncio.sleep(0.05)
        await assert_boards_match_the_ledger(db, program_id, tiers, "sql")
    finally:
        task.cancel()
