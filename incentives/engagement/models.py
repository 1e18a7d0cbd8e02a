"""Tables of engagement: achievement definitions, their hits, progress and earnings, and streak states.

Hits, progress and earnings are written by the event processor in the transaction that marks the events
processed; a streak state is written with the lead event that moves it. Both are projections of events and can
be recomputed from them.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from incentives.db import Base, UTCDateTime, utcnow
from incentives.leads.models import StreakKey


class Kind(StrEnum):
    COUNT = "count"  # matching events in the period
    STREAK = "streak"  # the partner's streak value at a matching event


class Period(StrEnum):
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"
    ALL = "all"


def _in(values: type[StrEnum]) -> str:
    return ", ".join(f"'{v.value}'" for v in values)


class Achievement(Base):
    """A badge a manager defines like a rule: on an event, if a condition holds, progress towards a target."""

    __tablename__ = "achievements"
    __table_args__ = (
        CheckConstraint("target >= 1", name="target_positive"),
        CheckConstraint(f"kind IN ({_in(Kind)})", name="kind_known"),
        CheckConstraint(f"period IN ({_in(Period)})", name="period_known"),
        CheckConstraint(
            f"(kind = 'count' AND streak IS NULL) OR (kind = 'streak' AND streak IN ({_in(StreakKey)}))",
            name="streak_named",
        ),
        CheckConstraint("ends_at IS NULL OR starts_at IS NULL OR ends_at > starts_at", name="window_ordered"),
        CheckConstraint("points IS NULL OR points > 0", name="points_positive"),
        Index("ix_achievements_program_event", "program_id", "event"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    name_de: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    description_de: Mapped[str] = mapped_column(String(1000), default="")
    description_en: Mapped[str] = mapped_column(String(1000), default="")
    event: Mapped[str] = mapped_column(String(40))
    condition: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(10), default=Kind.COUNT)
    streak: Mapped[str | None] = mapped_column(String(30))
    target: Mapped[int] = mapped_column(Integer)
    period: Mapped[str] = mapped_column(String(10), default=Period.ALL)
    starts_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    repeatable: Mapped[bool] = mapped_column(default=False)
    points: Mapped[int | None] = mapped_column(Integer)
    # Empty means "all"; regions are country codes or country and postal prefix (DE, DE-80), as campaigns.
    tiers: Mapped[list[str]] = mapped_column(JSON, default=list)
    regions: Mapped[list[str]] = mapped_column(JSON, default=list)
    product_lines: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AchievementHit(Base):
    """One event that counted for an achievement: unique, so a redelivered event never counts twice."""

    __tablename__ = "achievement_hits"
    __table_args__ = (
        UniqueConstraint("achievement_id", "event_id"),
        Index("ix_achievement_hits_org", "achievement_id", "org_id", "period"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    achievement_id: Mapped[int] = mapped_column(ForeignKey("achievements.id"))
    event_id: Mapped[int] = mapped_column(ForeignKey("outbox_events.id"))
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"))
    period: Mapped[str] = mapped_column(String(20))
    value: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # The return or invalidation of the hit's lead that took it back (set once: its progress is undone once).
    taken_back_by_event_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_events.id"))


class AchievementTally(Base):
    """Per (achievement, partner, period): the count of hits, or the highest streak seen at one.

    The row is locked while a processor adds to it, so concurrent processors see each other's counts.
    """

    __tablename__ = "achievement_progress"
    __table_args__ = (CheckConstraint("value >= 0", name="value_not_negative"),)

    achievement_id: Mapped[int] = mapped_column(ForeignKey("achievements.id"), primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"), primary_key=True)
    # "all", "2026-W49", "2026-12" or "2026-Q4" (Europe/Berlin, as the leaderboards count)
    period: Mapped[str] = mapped_column(String(20), primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    value: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AchievementEarning(Base):
    """An achievement earned once per (achievement, partner, occurrence), and the decision to pay its points.

    The pay step books `points` on the ledger under `key` afterwards, so a crash in between only delays it.
    """

    __tablename__ = "achievement_earnings"
    __table_args__ = (
        UniqueConstraint("achievement_id", "org_id", "occurrence"),
        UniqueConstraint("key"),
        CheckConstraint("points IS NULL OR points > 0", name="points_positive"),
        Index("ix_achievement_earnings_unpaid", "paid_at", "id"),
        Index("ix_achievement_earnings_org", "program_id", "org_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    achievement_id: Mapped[int] = mapped_column(ForeignKey("achievements.id"))
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"))
    # "once", a period key ("2026-W49"), or the how-many-th time for a repeatable all-time achievement
    occurrence: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(200))
    event_id: Mapped[int] = mapped_column(ForeignKey("outbox_events.id"))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    points: Mapped[int | None] = mapped_column(Integer)
    earned_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    transfer_id: Mapped[int | None] = mapped_column(Integer)
    paid_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # The badge stays earned when its lead is returned or invalid, but points it paid from that lead's event are
    # taken back: the event that decided so (set once), and the ledger reversal once booked.
    reversed_by_event_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_events.id"))
    reversal_transfer_id: Mapped[int | None] = mapped_column(Integer)
