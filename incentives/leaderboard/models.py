"""Points earned per program, period and partner (and per rep of a partner): the leaderboard's SQL rollup.

A projection of the ledger. The transaction that books earning transfers writes one `LeaderboardPending` row
with what they earned; the counting job moves pending rows into the rollup and deletes them in one transaction,
so nothing is counted twice or missed. `incentives leaderboard rebuild` recomputes the rollup from the ledger
and refills Redis from it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from incentives.db import Base, UTCDateTime

# user_id of an org's own row (the reps' rows carry their user id).
WHOLE_ORG = 0


class LeaderboardPoints(Base):
    __tablename__ = "leaderboard_points"
    __table_args__ = (
        UniqueConstraint("program_id", "period", "org_id", "user_id"),
        # A board's top rows and the count of rows above a score, without a sort.
        Index("ix_leaderboard_points_board", "program_id", "period", "user_id", "points"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    # "all", "2026-W49", "2026-12", "2026-Q4" or "campaign:7"
    period: Mapped[str] = mapped_column(String(30))
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"))
    user_id: Mapped[int] = mapped_column(Integer, default=WHOLE_ORG)
    points: Mapped[int] = mapped_column(BigInteger, default=0)
    # Counts the row's updates: Redis keeps the newest total when publishers race (see store.put).
    version: Mapped[int] = mapped_column(BigInteger, default=1)


class LeaderboardRank(Base):
    """Each partner's rank on its program's and its league's boards when the week began: the movement shown."""

    __tablename__ = "leaderboard_ranks"
    __table_args__ = (UniqueConstraint("program_id", "period", "scope", "org_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    period: Mapped[str] = mapped_column(String(30))
    scope: Mapped[str] = mapped_column(String(60))
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"))
    rank: Mapped[int] = mapped_column(Integer)
    week: Mapped[str] = mapped_column(String(10))


class LeaderboardState(Base):
    """Per program: whether Redis missed an update (then boards are served from SQL until a rebuild)."""

    __tablename__ = "leaderboard_state"

    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), primary_key=True)
    redis_stale: Mapped[bool] = mapped_column(default=False)


class LeaderboardPending(Base):
    """Earnings booked but not counted on the boards yet: one row per booking transaction, written with it."""

    __tablename__ = "leaderboard_pending"

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    # [[org_id, points, at (ISO 8601), user_id or null, campaign_id or null], ...]
    earned: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
