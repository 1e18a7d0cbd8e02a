"""The leaderboards' own units of work: counting what was booked (pending rows into the rollup, then Redis),
rebuilding, and the weekly snapshot of the ranks, from which each row's movement since the week began is shown."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable
from typing import cast

from redis.exceptions import RedisError
from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.exc import DBAPIError

from incentives import live
from incentives.accounts.models import Membership
from incentives.db import Database, dialect_insert, fetch_one
from incentives.jobs import sweep
from incentives.leaderboard import store
from incentives.leaderboard.models import (
    WHOLE_ORG,
    LeaderboardPending,
    LeaderboardPoints,
    LeaderboardRank,
    LeaderboardState,
)
from incentives.leaderboard.periods import key_of
from incentives.leaderboard.services import (
    POINTS,
    STATE,
    Earned,
    EarnedSource,
    Touched,
    boards_of,
    pending_earned,
    recompute,
    record,
    stale_programs,
)
from incentives.ledger import queries as ledger_queries

log = logging.getLogger(__name__)

# Movement is shown on the program's board and on each tier's league, for the periods longer than a week.
SNAPSHOT_PERIODS = ("month", "quarter", "all")


@sweep("leaderboard.snapshot")
async def snapshot_ranks(db: Database, now: dt.datetime) -> int:
    """Once per week and program: store every partner's rank on the program's board and its tier's league."""
    week = key_of("week", now)
    async with db.reader() as session:
        programs = set(await session.scalars(select(LeaderboardPoints.program_id).distinct()))
        done = set(await session.scalars(select(LeaderboardRank.program_id).where(LeaderboardRank.week == week)))
    written = 0
    for program_id in sorted(programs - done):
        async with db.transaction() as session:
            rows = []
            for kind in SNAPSHOT_PERIODS:
                period = key_of(kind, now)
                ranked = await session.execute(
                    select(LeaderboardPoints.org_id, LeaderboardPoints.points, Membership.tier)
                    .join(
                        Membership,
                        (Membership.program_id == program_id) & (Membership.org_id == LeaderboardPoints.org_id),
                    )
                    .where(
                        LeaderboardPoints.program_id == program_id,
                        LeaderboardPoints.period == period,
                        LeaderboardPoints.user_id == WHOLE_ORG,
                    )
                    .order_by(LeaderboardPoints.points.desc())
                )
                entries = ranked.all()
                for scope, members in [("program", entries)] + [
                    (f"tier:{tier}", [e for e in entries if e.tier == tier]) for tier in {e.tier for e in entries}
                ]:
                    rank, last = 0, None
                    for index, entry in enumerate(members):
                        if entry.points != last:
                            rank, last = index + 1, entry.points
                        rows.append(
                            {
                                "program_id": program_id,
                                "period": period,
                                "scope": scope,
                                "org_id": entry.org_id,
                                "rank": rank,
                                "week": week,
                            }
                        )
            await session.execute(delete(LeaderboardRank).where(LeaderboardRank.program_id == program_id))
            if rows:
                await session.execute(insert(LeaderboardRank), rows)
            written += len(rows)
    return written


PENDING = cast(Table, LeaderboardPending.__table__)
COUNT_BATCH = 200  # pending rows (booking transactions) counted per transaction
_ANY_PENDING = select(PENDING.c.id).limit(1)


@sweep("leaderboard.count")
async def count_sweep(db: Database, now: dt.datetime) -> int:
    """What a lost wake-up left pending (the outbox processing counts right after each payment)."""
    return await count_pending(db)


async def count_pending(db: Database, limit: int = COUNT_BATCH) -> int:
    """Move pending earnings into the rollup and publish them to Redis, `limit` rows per transaction; the rows
    counted. A row is claimed by deleting it in the transaction that counts it, so concurrent counters (and a
    rebuild) never count one twice; on PostgreSQL they skip each other's rows instead of waiting."""
    counted = 0
    while True:
        if await fetch_one(db.engine, _ANY_PENDING, {}) is None:  # a read first: most calls find nothing
            return counted
        async with db.transaction() as session:
            claim = select(PENDING.c.id).order_by(PENDING.c.id).limit(limit).with_for_update(skip_locked=True)
            rows = (
                await session.execute(
                    delete(PENDING).where(PENDING.c.id.in_(claim)).returning(PENDING.c.program_id, PENDING.c.earned)
                )
            ).all()
            by_program: dict[int, list[Earned]] = defaultdict(list)
            for program_id, earned in rows:
                by_program[program_id].extend(pending_earned(earned))
            touched = Touched()
            for program_id in sorted(by_program):  # rollup rows in key order, as `record` writes them
                touched.add(await record(session, program_id, by_program[program_id]))
        await publish(db, touched)
        await live.publish(
            db, [live.Notice(live.program_topic(program), "leaderboard") for program in sorted(by_program)]
        )
        counted += len(rows)
        if len(rows) < limit:
            return counted


async def publish(db: Database, touched: Touched) -> None:
    """After the commit: set the touched rows' totals in Redis (absolute and versioned, so a repeated or late
    publish changes nothing). A Redis that fails marks the programs stale instead, and the boards fall back to
    SQL until a rebuild."""
    if db.redis is None or not touched:
        return
    programs = {program for program, _, _, _ in touched.rows}
    async with db.reader() as session:
        stale = set(await stale_programs(session))
        wanted = {key: value for key, value in touched.rows.items() if key[0] not in stale}
        if not wanted:
            return
        boards = await boards_of(session, {(program, org) for program, _, org, _ in wanted})
    items = [(key, points, version, boards.get((key[0], key[2]), [])) for key, (points, version) in wanted.items()]
    try:
        await store.put(db.redis, items)
    except RedisError:
        log.warning("leaderboard: Redis missed an update; boards of %s served from SQL until rebuilt", programs)
        await mark_stale(db, programs)


async def mark_stale(db: Database, programs: Iterable[int]) -> None:
    async with db.transaction() as session:
        conn = await session.connection()
        insert = dialect_insert(conn, STATE)
        await conn.execute(
            insert.on_conflict_do_update(index_elements=["program_id"], set_={"redis_stale": True}),
            [{"program_id": program, "redis_stale": True} for program in sorted(programs)],
        )


async def rebuild(db: Database, source: EarnedSource, program_id: int | None = None) -> dict[int, int]:
    """Recompute the rollup of every program (or one) from `source`, then refill Redis from it and clear the
    stale mark. Returns rows per program."""
    async with db.reader() as session:
        programs = [program_id] if program_id is not None else await ledger_queries.programs_with_accounts(session)
    done: dict[int, int] = {}
    for program in programs:
        done[program] = await _recompute(db, program, source)
        await refill_redis(db, program)
    return done


REBUILD_ATTEMPTS = 8


async def _recompute(db: Database, program: int, source: EarnedSource) -> int:
    """`recompute` on one snapshot of the ledger and the pending rows. PostgreSQL's READ COMMITTED takes a new
    snapshot per statement, so the rebuild asks for REPEATABLE READ: a counter that claims the same rows makes
    it fail, and it runs again after a growing pause (counters are short). SQLite serializes writers anyway."""
    attempt = 0
    while True:
        try:
            async with db.transaction() as session:
                conn = await session.connection()
                if conn.dialect.name == "postgresql":
                    await conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                return await recompute(session, program, source)
        except DBAPIError:
            attempt += 1
            if attempt == REBUILD_ATTEMPTS:
                raise
            await asyncio.sleep(0.02 * 2**attempt)


async def refill_redis(db: Database, program_id: int) -> None:
    """Replace the program's boards in Redis by the rollup (no-op without Redis), and clear the stale mark."""
    if db.redis is None:
        return
    async with db.reader() as session:
        rows = (
            await session.execute(
                select(POINTS.c.period, POINTS.c.org_id, POINTS.c.user_id, POINTS.c.points, POINTS.c.version).where(
                    POINTS.c.program_id == program_id
                )
            )
        ).all()
        boards = await boards_of(session, {(program_id, org) for _, org, _, _, _ in rows})
    items = [
        ((program_id, period, org, user), int(points), int(version), boards.get((program_id, org), []))
        for period, org, user, points, version in rows
    ]
    await store.replace(db.redis, program_id, items)
    async with db.transaction() as session:
        await session.execute(
            update(LeaderboardState).where(LeaderboardState.program_id == program_id).values(redis_stale=False)
        )
