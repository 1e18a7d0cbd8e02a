"""Weekly snapshot of the boards' ranks, from which each row's movement since the week began is shown."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, insert, select

from incentives.accounts.models import Membership
from incentives.db import Database
from incentives.jobs import sweep
from incentives.leaderboard.models import WHOLE_ORG, LeaderboardPoints, LeaderboardRank
from incentives.leaderboard.periods import key_of

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
