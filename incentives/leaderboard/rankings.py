"""One board's ranking, read from Redis or from the SQL rollup: the same `Snapshot` either way.

`SqlRanking` is the truth and the fallback (no Redis, a stale Redis, a Redis that fails mid-request), asking
its questions one statement each; `RedisRanking` answers all of them from the sorted sets `jobs.publish` keeps
in one round trip (`store.read`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from redis.asyncio import Redis
from sqlalchemy import Select, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts.models import Membership
from incentives.leaderboard import store
from incentives.leaderboard.models import WHOLE_ORG, LeaderboardPoints
from incentives.leaderboard.scopes import Scope

Entry = tuple[int, int]  # (subject id, points): an org, or a rep on a reps board


@dataclass(frozen=True)
class Snapshot:
    """What a board read needs: the top entries and the board's size; with a subject to pin, its points (None:
    nothing earned yet), the entries around it (`radius` each side, best first), how many have more points than
    the first of those and how many as many, and how many have more than nothing."""

    top: list[Entry]
    count: int
    points: int | None = None
    around: list[Entry] = field(default_factory=list)
    above_first: int = 0
    tied_first: int = 0
    above_zero: int = 0


class Ranking(Protocol):
    async def read(self, limit: int, me: int | None, radius: int) -> Snapshot: ...


class SqlRanking:
    def __init__(self, session: AsyncSession, program_id: int, period: str, scope: Scope) -> None:
        self.session = session
        rows = LeaderboardPoints
        self.subject = rows.user_id if scope.of_reps else rows.org_id
        where = [rows.program_id == program_id, rows.period == period]
        if scope.of_reps:
            where += [rows.org_id == int(scope.value), rows.user_id != WHOLE_ORG]
        else:
            where.append(rows.user_id == WHOLE_ORG)
        self.where = and_(*where)
        self.in_scope = None if scope.kind in ("program", "reps") else scope.members()
        self.program_id = program_id

    def _select(self, *columns: Any) -> Select[Any]:
        statement = select(*columns).select_from(LeaderboardPoints).where(self.where)
        if self.in_scope is not None:
            statement = statement.join(
                Membership,
                (Membership.program_id == self.program_id) & (Membership.org_id == LeaderboardPoints.org_id),
            ).where(self.in_scope)
        return statement

    async def read(self, limit: int, me: int | None, radius: int) -> Snapshot:
        top, count = await self.top(limit), await self.count()
        if me is None:
            return Snapshot(top, count)
        around = await self.around(me, radius)
        if not around:
            return Snapshot(top, count, above_zero=await self.above(0))
        first = around[0][1]
        points = next(points for subject, points in around if subject == me)
        return Snapshot(top, count, points, around, await self.above(first), await self.tied(first))

    async def top(self, limit: int) -> list[Entry]:
        statement = self._select(self.subject, LeaderboardPoints.points)
        rows = await self.session.execute(
            statement.order_by(LeaderboardPoints.points.desc(), self.subject).limit(limit)
        )
        return [(subject, int(points)) for subject, points in rows]

    async def points_of(self, subject: int) -> int | None:
        found = await self.session.scalar(self._select(LeaderboardPoints.points).where(self.subject == subject))
        return None if found is None else int(found)

    async def above(self, points: int) -> int:
        statement = self._select(func.count()).where(LeaderboardPoints.points > points)
        return int(await self.session.scalar(statement) or 0)

    async def count(self) -> int:
        return int(await self.session.scalar(self._select(func.count())) or 0)

    async def tied(self, points: int) -> int:
        statement = self._select(func.count()).where(LeaderboardPoints.points == points)
        return int(await self.session.scalar(statement) or 0)

    async def around(self, subject: int, radius: int) -> list[Entry]:
        mine = await self.points_of(subject)
        if mine is None:
            return []
        points, me = LeaderboardPoints.points, self.subject
        # Board order is (points desc, subject asc). Each side is two index range scans (strictly more or fewer
        # points; equal points on the subject's side of it) rather than one scan of an OR.
        higher = await self._rows(self._select(me, points).where(points > mine).order_by(points, me.desc()), radius)
        tied_before = await self._rows(
            self._select(me, points).where(points == mine, me < subject).order_by(me.desc()), radius
        )
        tied_after = await self._rows(self._select(me, points).where(points == mine, me > subject).order_by(me), radius)
        lower = await self._rows(self._select(me, points).where(points < mine).order_by(points.desc(), me), radius)
        before = (tied_before + higher)[:radius]  # nearest first
        after = (tied_after + lower)[:radius]
        return [*reversed(before), (subject, mine), *after]

    async def _rows(self, statement: Select[Any], limit: int) -> list[Entry]:
        return [(subject, int(points)) for subject, points in await self.session.execute(statement.limit(limit))]


class RedisRanking:
    def __init__(self, redis: Redis, program_id: int, period: str, scope: Scope) -> None:
        self.redis = redis
        self.program_id = program_id
        self.name = store.key(program_id, period, scope.name)

    async def read(self, limit: int, me: int | None, radius: int) -> Snapshot:
        return Snapshot(*await store.read(self.redis, self.program_id, self.name, limit, me, radius))
