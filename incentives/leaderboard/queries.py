"""Reading a leaderboard: the top rows, the caller's own row and its neighbours, movement since the week began,
and the most improved partners. Served from Redis when it is there and current, else from the SQL rollup."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from incentives.accounts import queries as accounts_queries
from incentives.accounts.models import Membership, Org
from incentives.db import Database
from incentives.leaderboard import jobs, services
from incentives.leaderboard.models import WHOLE_ORG, LeaderboardPoints, LeaderboardRank
from incentives.leaderboard.periods import Period, key_of, previous
from incentives.leaderboard.rankings import Entry, Ranking, RedisRanking, Snapshot, SqlRanking
from incentives.leaderboard.scopes import Scope

log = logging.getLogger(__name__)
NEIGHBOURS = 2


@dataclass(frozen=True)
class Row:
    rank: int
    subject_id: int  # an org, or a rep (user) on a reps board
    points: int
    name: str = ""
    movement: int | None = None  # places gained (+) or lost (−) since the week began; None: not known


@dataclass(frozen=True)
class Board:
    program_id: int
    period: Period
    scope: Scope
    rows: list[Row]
    of: int  # partners (or reps) on the board: those with points in the period, and the caller
    me: Row | None = None
    neighbours: list[Row] = field(default_factory=list)
    source: str = "sql"

    @property
    def ahead(self) -> Row | None:
        """The row just above the caller's (the one to catch), if any."""
        if self.me is None:
            return None
        better = [row for row in self.neighbours if row.points > self.me.points]
        return better[-1] if better else None


def _ranked(entries: list[Entry], first_rank: int) -> list[tuple[int, int, int]]:
    """Entries in board order with competition ranks (1, 1, 3), the first one's rank given."""
    ranked: list[tuple[int, int, int]] = []
    for index, (subject, points) in enumerate(entries):
        rank = ranked[-1][0] if ranked and ranked[-1][2] == points else first_rank + index
        ranked.append((rank, subject, points))
    return ranked


def _window_ranks(found: Snapshot) -> list[tuple[int, int, int]]:
    """Ranks of the stretch of the board around the pinned subject. Only the first score's ties may reach above
    the window, so two counts place it (more points; as many points) and every lower score's rank follows from
    the rows between."""
    window = found.around
    if not window:
        return []
    first = window[0][1]
    with_first = found.above_first + (found.tied_first if window[-1][1] != first else 0)
    return [
        (
            found.above_first + 1
            if points == first
            else with_first + sum(1 for _, other in window if points < other < first) + 1,
            subject,
            points,
        )
        for subject, points in window
    ]


async def _read(
    ranking: Ranking, limit: int, me: int | None
) -> tuple[list[tuple[int, int, int]], int, tuple[int, int, int] | None, list[tuple[int, int, int]]]:
    found = await ranking.read(limit, me, NEIGHBOURS)
    top, count = _ranked(found.top, 1), found.count
    mine = None
    neighbours: list[tuple[int, int, int]] = []
    if me is not None:
        if found.points is None:  # nothing earned in the period yet: behind everyone who has
            mine = (found.above_zero + 1, me, 0)
            count += 1
        else:
            neighbours = _window_ranks(found)
            mine = next((row for row in neighbours if row[1] == me), None)
    return top, count, mine, neighbours


@dataclass(frozen=True)
class Standings:
    """Every partner's place on the program's board of one period, as `board` would pin each of them."""

    ranked: dict[int, tuple[int, int]]  # org -> (competition rank, points)
    count: int  # partners on the board
    above_zero: int  # of them with points

    def of(self, org_id: int) -> tuple[int, int, int]:
        """(rank, of how many, points): a partner not on the board yet comes after everyone with points."""
        if org_id in self.ranked:
            rank, points = self.ranked[org_id]
            return rank, self.count, points
        return self.above_zero + 1, self.count + 1, 0


async def standings(session: AsyncSession, program_id: int, period: Period) -> Standings:
    """The program board of `period` for all partners in one read of the rollup (the weekly reports)."""
    rows = LeaderboardPoints
    found = await session.execute(
        select(rows.org_id, rows.points)
        .where(rows.program_id == program_id, rows.period == period.key, rows.user_id == WHOLE_ORG)
        .order_by(rows.points.desc(), rows.org_id)
    )
    entries = [(org_id, int(points)) for org_id, points in found]
    ranked = {subject: (rank, points) for rank, subject, points in _ranked(entries, 1)}
    return Standings(ranked, len(entries), sum(1 for _, points in entries if points > 0))


async def board(
    db: Database,
    session: AsyncSession,
    program_id: int,
    period: Period,
    scope: Scope,
    *,
    limit: int = 10,
    me: int | None = None,
    now: dt.datetime,
) -> Board:
    """The board of `scope` in `period`; `me`: the caller's org (or user, on a reps board) to pin."""
    source = "sql"
    result = None
    if db.redis is not None and not await services.is_stale(session, program_id):
        try:
            result = await _read(RedisRanking(db.redis, program_id, period.key, scope), limit, me)
            source = "redis"
        except RedisError:
            # Redis failed, or lost the boards (store.BoardsLost): SQL serves until the heal sweep refills it.
            log.warning("leaderboard: Redis failed; serving program %s from SQL until rebuilt", program_id)
            await jobs.mark_stale(db, [program_id])
    if result is None:
        result = await _read(SqlRanking(session, program_id, period.key, scope), limit, me)
    top, count, mine, around = result
    subjects = {subject for _, subject, _ in [*top, *around]} | ({mine[1]} if mine else set())
    if scope.of_reps:
        names = await accounts_queries.user_names(session, subjects)
        moves: dict[int, int] = {}
    else:
        ranks = {s: r for r, s, _ in [*top, *around, *([mine] if mine else [])]}
        names, moves = await _names_and_movement(session, program_id, period, scope, ranks, now)

    def row(entry: tuple[int, int, int]) -> Row:
        rank, subject, points = entry
        return Row(rank, subject, points, names.get(subject, ""), moves.get(subject))

    return Board(
        program_id,
        period,
        scope,
        [row(entry) for entry in top],
        count,
        None if mine is None else row(mine),
        [row(entry) for entry in around],
        source,
    )


async def _names_and_movement(
    session: AsyncSession, program_id: int, period: Period, scope: Scope, ranks: dict[int, int], now: dt.datetime
) -> tuple[dict[int, str], dict[int, int]]:
    """The orgs' names, and the places each gained since this week's snapshot of the board (calendar periods
    other than the week), in one statement."""
    if not ranks:
        return {}, {}
    if period.kind == "week":
        return await accounts_queries.org_names(session, ranks), {}
    before = (
        select(LeaderboardRank.org_id, LeaderboardRank.rank)
        .where(
            LeaderboardRank.program_id == program_id,
            LeaderboardRank.period == period.key,
            LeaderboardRank.scope == scope.name,
            LeaderboardRank.week == key_of("week", now),
        )
        .subquery()
    )
    rows = await session.execute(
        select(Org.id, Org.name, before.c.rank).outerjoin(before, before.c.org_id == Org.id).where(Org.id.in_(ranks))
    )
    names: dict[int, str] = {}
    moves: dict[int, int] = {}
    for org, name, rank in rows:
        names[org] = name
        if rank is not None:
            moves[org] = rank - ranks[org]
    return names, moves


async def most_improved(
    session: AsyncSession, program_id: int, period: Period, scope: Scope, *, now: dt.datetime, limit: int = 10
) -> list[Row]:
    """Partners by points gained over the previous period of the same kind (week over week, ...), from SQL."""
    before = previous(period, now)
    if before is None or scope.of_reps:
        return []
    current, earlier = LeaderboardPoints, aliased(LeaderboardPoints)
    gain = current.points - func.coalesce(earlier.points, 0)
    statement = (
        select(current.org_id, gain.label("gain"))
        .outerjoin(
            earlier,
            (earlier.program_id == current.program_id)
            & (earlier.org_id == current.org_id)
            & (earlier.user_id == WHOLE_ORG)
            & (earlier.period == before.key),
        )
        .where(current.program_id == program_id, current.period == period.key, current.user_id == WHOLE_ORG, gain > 0)
        .order_by(gain.desc(), current.org_id)
        .limit(limit)
    )
    if scope.kind != "program":
        statement = statement.join(
            Membership, (Membership.program_id == program_id) & (Membership.org_id == current.org_id)
        ).where(scope.members())
    entries = [(org, int(points)) for org, points in await session.execute(statement)]
    names = await accounts_queries.org_names(session, [org for org, _ in entries])
    return [Row(rank, org, points, names.get(org, "")) for rank, org, points in _ranked(entries, 1)]
