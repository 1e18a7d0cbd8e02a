"""Counting points on the leaderboards: what was earned is noted with its booking, then counted by a job.

Callers that book earning transfers (through `incentives.rules.payouts`) call `count_later` in their unit of
work with what was newly booked (never a replay, which was noted when first booked): one pending row, and the
outbox processing woken after the commit. `leaderboard.jobs.count_pending` moves pending rows into the SQL
rollup (`record`) and publishes them to Redis. Counting is batched off the booking's path, so paying points
costs one row more, however many boards the points move.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts.models import Membership
from incentives.db import dialect_insert, utcnow
from incentives.jobs import wake_after_commit
from incentives.leaderboard.models import WHOLE_ORG, LeaderboardPending, LeaderboardPoints, LeaderboardState
from incentives.leaderboard.periods import keys_at

log = logging.getLogger(__name__)
POINTS = cast(Table, LeaderboardPoints.__table__)
STATE = cast(Table, LeaderboardState.__table__)


@dataclass(frozen=True)
class Earned:
    """Points one partner earned (negative: taken back) at a moment, and by which rep, for which campaign."""

    org_id: int
    points: int
    at: dt.datetime
    user_id: int | None = None
    campaign_id: int | None = None


Key = tuple[int, str, int, int]  # (program, period, org, user)


@dataclass
class Touched:
    """The rollup rows a unit of work changed, with the total and version each row had when it committed."""

    rows: dict[Key, tuple[int, int]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.rows)

    def add(self, other: Touched) -> None:
        for key, (points, version) in other.rows.items():
            if key not in self.rows or self.rows[key][1] < version:
                self.rows[key] = (points, version)


def _totals(program_id: int, earned: Iterable[Earned]) -> dict[Key, int]:
    totals: dict[Key, int] = defaultdict(int)
    for item in earned:
        periods = keys_at(item.at) + ([f"campaign:{item.campaign_id}"] if item.campaign_id is not None else [])
        for period in periods:
            totals[program_id, period, item.org_id, WHOLE_ORG] += item.points
            if item.user_id is not None:
                totals[program_id, period, item.org_id, item.user_id] += item.points
    return dict(totals)  # a total of 0 (an award and its reversal counted together) still makes its row


async def count_later(session: AsyncSession, program_id: int, earned: Sequence[Earned]) -> None:
    """Note `earned` for the counting job in the caller's transaction, and wake the job after its commit."""
    if not earned:
        return
    session.add(
        LeaderboardPending(
            program_id=program_id,
            earned=[[e.org_id, e.points, e.at.isoformat(), e.user_id, e.campaign_id] for e in earned],
            created_at=utcnow(),
        )
    )
    wake_after_commit(session)


def pending_earned(earned: list[Any]) -> list[Earned]:
    """The `Earned` of a pending row's JSON."""
    return [
        Earned(org_id, points, dt.datetime.fromisoformat(at), user_id, campaign_id)
        for org_id, points, at, user_id, campaign_id in earned
    ]


async def record(session: AsyncSession, program_id: int, earned: Sequence[Earned]) -> Touched:
    """Add `earned` to the rollup in the caller's transaction (rows in key order: concurrent writers lock them
    in the same order). Returns what changed, for `publish` after the commit."""
    totals = _totals(program_id, earned)
    if not totals:
        return Touched()
    conn = await session.connection()
    insert = dialect_insert(conn, POINTS)
    upsert = insert.on_conflict_do_update(
        index_elements=["program_id", "period", "org_id", "user_id"],
        set_={"points": POINTS.c.points + insert.excluded.points, "version": POINTS.c.version + 1},
    ).returning(
        POINTS.c.program_id, POINTS.c.period, POINTS.c.org_id, POINTS.c.user_id, POINTS.c.points, POINTS.c.version
    )
    rows = [
        {"program_id": p, "period": period, "org_id": org, "user_id": user, "points": points, "version": 1}
        for (p, period, org, user), points in sorted(totals.items())
    ]
    result = await conn.execute(upsert, rows)
    return Touched(
        {(p, period, org, user): (int(points), int(version)) for p, period, org, user, points, version in result}
    )


async def boards_of(session: AsyncSession, orgs: set[tuple[int, int]]) -> dict[tuple[int, int], list[str]]:
    """The boards (scopes) each (program, org) competes on."""
    by_program: dict[int, list[int]] = defaultdict(list)
    for program, org in orgs:
        by_program[program].append(org)
    boards: dict[tuple[int, int], list[str]] = {}
    for program, org_ids in by_program.items():
        ordered = sorted(org_ids)
        for start in range(0, len(ordered), 1000):
            result = await session.execute(
                select(Membership.org_id, Membership.tier, Membership.regions, Membership.distributor_id).where(
                    Membership.program_id == program, Membership.org_id.in_(ordered[start : start + 1000])
                )
            )
            for org, tier, regions, distributor in result:
                scopes = ["program", f"tier:{tier}", *(f"region:{region}" for region in regions or [])]
                if distributor is not None:
                    scopes.append(f"distributor:{distributor}")
                boards[program, org] = scopes
    return boards


async def stale_programs(session: AsyncSession) -> list[int]:
    return list(await session.scalars(select(STATE.c.program_id).where(STATE.c.redis_stale.is_(True))))


async def is_stale(session: AsyncSession, program_id: int) -> bool:
    return bool(await session.scalar(select(STATE.c.redis_stale).where(STATE.c.program_id == program_id)))


EarnedSource = Callable[[AsyncSession, int], Awaitable[list[Earned]]]


async def recompute(session: AsyncSession, program_id: int, source: EarnedSource) -> int:
    """Replace the program's rollup by one computed from `source` (the ledger's earnings, attributed to reps and
    campaigns by the domain that paid them), in the caller's transaction; rows written. The program's pending
    rows are counted by `source` already and go: the caller's transaction must read both in one snapshot."""
    earned = await source(session, program_id)
    await session.execute(delete(LeaderboardPending).where(LeaderboardPending.program_id == program_id))
    await session.execute(delete(LeaderboardPoints).where(LeaderboardPoints.program_id == program_id))
    touched = await record(session, program_id, earned)
    return len(touched.rows)
