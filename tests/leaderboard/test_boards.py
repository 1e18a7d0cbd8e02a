"""Boards equal a ranking computed straight from the ledger: after random awards and reversals (ties included),
on Redis and on the SQL fallback, after a rebuild, and across a Redis that goes down mid-run."""

from __future__ import annotations

import datetime as dt
import os
import random
from collections import defaultdict
from collections.abc import AsyncIterator

import pytest
from redis import Redis

from incentives.db import Database
from incentives.leaderboard import jobs as leaderboard
from incentives.leaderboard import periods, scopes
from incentives.leaderboard.queries import board
from incentives.ledger import queries as ledger_queries
from incentives.ledger.services import Award, Cause, Transfer
from incentives.rules import payouts
from incentives.rules.jobs import heal_leaderboards
from incentives.rules.leaderboard_feed import earned_with_credit
from tests.factories import make_member, make_program

REDIS_URL = os.environ.get("TEST_LEADERBOARD_REDIS_URL", "redis://127.0.0.1:6379/14")
NOW = dt.datetime(2026, 12, 4, 12, tzinfo=dt.UTC)
KINDS = ("week", "month", "quarter", "all")


@pytest.fixture
async def redis_db(database_url: str) -> AsyncIterator[Database]:
    Redis.from_url(REDIS_URL).flushdb()
    database = Database(database_url, redis_url=REDIS_URL)
    yield database
    await database.dispose()
    Redis.from_url(REDIS_URL).flushdb()


def expected_ranks(
    changes: list[ledger_queries.EarningChange], kind: str, orgs: set[int]
) -> dict[int, tuple[int, int]]:
    """(rank, points) per org from the ledger's own transfers: points earned in the period, 1-1-3 ranks."""
    key = periods.key_of(kind, NOW)
    totals: dict[int, int] = defaultdict(int)
    for change in changes:
        if change.org_id in orgs and periods.key_of(kind, change.at) == key:
            totals[change.org_id] += change.points
    return {org: (1 + sum(1 for p in totals.values() if p > points), points) for org, points in totals.items()}


async def book_random_history(
    db: Database, seed: int = 7, awards: int = 10_000, *, count: bool = True
) -> tuple[int, dict[int, str]]:
    """Random awards and reversals, counted on the boards after each booking (or left pending: `count`)."""
    world = await make_program(db)
    tiers = {}
    for index in range(24):
        tier = ("gold", "silver", "registered")[index % 3]
        tiers[await make_member(db, world, tier=tier)] = tier
    rng = random.Random(seed)
    orgs = sorted(tiers)
    paid: list[tuple[Transfer, int]] = []
    for batch in range(awards // 500):
        chunk = [
            Award(rng.choice(orgs), rng.choice((5, 10, 15, 20)), f"a{batch}-{i}", Cause(reason="test"))
            for i in range(500)
        ]
        at = NOW - dt.timedelta(days=rng.randint(0, 120), hours=rng.randint(0, 23))
        async with db.transaction() as session:
            transfers = await payouts.pay_awards(session, world.program_id, chunk, [(None, None)] * 500, at)
        if count:
            await leaderboard.count_pending(db)
        paid.extend((transfer, award.org_id) for transfer, award in zip(transfers, chunk, strict=True))
    for index, (transfer, org) in enumerate(rng.sample(paid, 200)):
        async with db.transaction() as session:
            await payouts.take_back(
                session,
                program_id=world.program_id,
                org_id=org,
                award_id=transfer.id,
                key=f"r{index}",
                cause=Cause(reason="test"),
                credited=(None, None),
                now=max(transfer.at, NOW - dt.timedelta(days=rng.randint(0, 10))),
            )
        if count:
            await leaderboard.count_pending(db)
    return world.program_id, tiers


async def assert_boards_match_the_ledger(db: Database, program_id: int, tiers: dict[int, str], source: str) -> None:
    async with db.reader() as session:
        changes = await ledger_queries.earning_changes(session, program_id)
        for kind in KINDS:
            period = periods.parse(kind, NOW)
            for scope_name in ("program", "tier:gold", "tier:silver"):
                scope = scopes.parse(scope_name)
                members = {org for org, tier in tiers.items() if scope.kind == "program" or tier == scope.value}
                expected = expected_ranks(changes, kind, members)
                found = await board(db, session, program_id, period, scope, limit=500, now=NOW)
                assert found.source == source
                assert {row.subject_id: (row.rank, row.points) for row in found.rows} == expected, (kind, scope_name)
                for org in sorted(members)[:6]:  # the pinned row and its neighbours rank the same way
                    mine = await board(db, session, program_id, period, scope, limit=1, me=org, now=NOW)
                    assert mine.me is not None
                    if org in expected:
                        assert (mine.me.rank, mine.me.points) == expected[org]
                        assert all((row.rank, row.points) == expected[row.subject_id] for row in mine.neighbours)
                    else:
                        assert mine.me.points == 0 and mine.me.rank == 1 + sum(1 for r, p in expected.values() if p > 0)


async def test_sql_boards_equal_the_ledger_ranking_and_survive_a_rebuild(db: Database) -> None:
    program_id, tiers = await book_random_history(db)
    await assert_boards_match_the_ledger(db, program_id, tiers, "sql")
    await leaderboard.rebuild(db, earned_with_credit, program_id)
    await assert_boards_match_the_ledger(db, program_id, tiers, "sql")


async def test_redis_boards_equal_the_ledger_ranking_and_heal_after_redis_was_down(
    redis_db: Database, database_url: str
) -> None:
    db = redis_db
    program_id, tiers = await book_random_history(db)
    # A Redis never filled for the program holds none of its boards: SQL serves until the sweep fills it.
    await assert_boards_match_the_ledger(db, program_id, tiers, "sql")
    assert await heal_leaderboards(db, NOW) == 1
    await assert_boards_match_the_ledger(db, program_id, tiers, "redis")
    # Redis goes away mid-run: the next awards cannot reach it, so the boards are served from SQL, still right.
    down = Database(database_url, redis_url="redis://127.0.0.1:1/0")
    try:
        org = next(iter(tiers))
        async with down.transaction() as session:
            await payouts.pay_awards(session, program_id, [Award(org, 35, "while-down")], [(None, None)], NOW)
        await leaderboard.count_pending(down)
        await assert_boards_match_the_ledger(down, program_id, tiers, "sql")
    finally:
        await down.dispose()
    await assert_boards_match_the_ledger(db, program_id, tiers, "sql")  # stale: not served from Redis
    assert await heal_leaderboards(db, NOW) == 1  # Redis is back: the sweep rebuilds it from the ledger
    await assert_boards_match_the_ledger(db, program_id, tiers, "redis")
    assert await heal_leaderboards(db, NOW) == 0


async def test_a_redis_that_lost_its_data_is_noticed_and_refilled_by_the_sweep(redis_db: Database) -> None:
    """A Redis restarted without its data (the mixed load's fault, bench/load) answers without an error: the
    boards must not become those of only the partners who earned since, and nobody has to run a rebuild."""
    db = redis_db
    program_id, tiers = await book_random_history(db, awards=2_000)
    assert await heal_leaderboards(db, NOW) == 1
    await assert_boards_match_the_ledger(db, program_id, tiers, "redis")
    Redis.from_url(REDIS_URL).flushdb()  # as a restart without persistence leaves it
    org = next(iter(tiers))
    async with db.transaction() as session:
        await payouts.pay_awards(session, program_id, [Award(org, 35, "after-the-restart")], [(None, None)], NOW)
    await leaderboard.count_pending(db)  # its publish finds the boards gone and writes nothing
    await assert_boards_match_the_ledger(db, program_id, tiers, "sql")
    assert await heal_leaderboards(db, NOW) == 1
    await assert_boards_match_the_ledger(db, program_id, tiers, "redis")
