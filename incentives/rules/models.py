"""Tables of the rules domain: rules with immutable versions, campaigns, award decisions, cap counters, skips."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import JSON, CheckConstraint, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from incentives.db import Base, UTCDateTime, utcnow


class CapPeriod(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class Effect(StrEnum):
    AWARD = "award"  # pay the points expression
    REVERSE = "reverse"  # lead.returned only: take back what the lead's reservation paid (anti-gaming)


class DecisionKind(StrEnum):
    EARN = "earn"
    REVERSE = "reverse"


def _in(values: type[StrEnum]) -> str:
    return ", ".join(f"'{v.value}'" for v in values)


class Rule(Base):
    """A rule's identity; what it says lives in its versions, the newest of which is current."""

    __tablename__ = "rules"
    __table_args__ = (CheckConstraint("current_version >= 1", name="version_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class RuleVersion(Base):
    """One immutable version of a rule. Editing adds a row; awards name (rule_id, version)."""

    __tablename__ = "rule_versions"
    __table_args__ = (
        UniqueConstraint("rule_id", "version"),
        CheckConstraint(f"effect IN ({_in(Effect)})", name="effect_known"),
        CheckConstraint(
            f"(cap_per IS NULL AND cap_max_points IS NULL) OR (cap_per IN ({_in(CapPeriod)}) AND cap_max_points > 0)",
            name="cap_complete",
        ),
        CheckConstraint("valid_to IS NULL OR valid_from IS NULL OR valid_to > valid_from", name="window_ordered"),
        Index("ix_rule_versions_program_event", "program_id", "event"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("rules.id"))
    version: Mapped[int] = mapped_column(Integer)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    name_de: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    event: Mapped[str] = mapped_column(String(40))
    effect: Mapped[str] = mapped_column(String(10), default=Effect.AWARD)
    condition: Mapped[str] = mapped_column(Text)
    points: Mapped[str] = mapped_column(Text)
    cap_per: Mapped[str | None] = mapped_column(String(10))
    cap_max_points: Mapped[int | None] = mapped_column(Integer)
    valid_from: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    valid_to: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(default=True)
    # A campaign-only rule pays only within its campaign's window and segment (checked when saved).
    campaign_id: Mapped[int | None] = mapped_column(Integer)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class RuleAward(Base):
    """A decision to pay (or take back) points for one (event, rule), written with the event's processing.

    The ledger pays it afterwards under the same key, so a crash between the two steps only delays it.
    """

    __tablename__ = "rule_awards"
    __table_args__ = (
        UniqueConstraint("key"),
        CheckConstraint(f"kind IN ({_in(DecisionKind)})", name="kind_known"),
        CheckConstraint("points > 0", name="points_positive"),
        Index("ix_rule_awards_unpaid", "paid_at", "id"),
        Index("ix_rule_awards_lead", "lead_id", "org_id", "event_type"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    rule_id: Mapped[int] = mapped_column(ForeignKey("rules.id"))
    rule_version: Mapped[int] = mapped_column(Integer)
    event_id: Mapped[int] = mapped_column(ForeignKey("outbox_events.id"), index=True)
    event_type: Mapped[str] = mapped_column(String(40))
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"))
    # The rep whose action earned it (the leaderboard of a reseller's reps), when the event names one.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id"))
    kind: Mapped[str] = mapped_column(String(10), default=DecisionKind.EARN)
    points: Mapped[int] = mapped_column(Integer)
    # A reversal names the earn decision it takes back (unique: a reservation is reversed once).
    reverses_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    transfer_id: Mapped[int | None] = mapped_column(Integer)
    paid_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # The campaign that paid part (or, for a campaign-only rule, all) of `points`, and how much of it.
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"), index=True)
    campaign_points: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Campaign(Base):
    """A time-boxed push on a segment: a multiplier and/or campaign-only rules, paid from a budget.

    `spent_points` is the budget counter; processing locks the row while it decides, so the check
    constraint is a second line of defence, never the first.
    """

    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="window_ordered"),
        CheckConstraint("multiplier >= 1 AND multiplier <= 10", name="multiplier_range"),
        CheckConstraint("budget_points IS NULL OR budget_points > 0", name="budget_positive"),
        CheckConstraint(
            "spent_points >= 0 AND (budget_points IS NULL OR spent_points <= budget_points)", name="budget_held"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    name_de: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # Empty means "all"; regions are country codes or country and postal prefix (DE, DE-80).
    tiers: Mapped[list[str]] = mapped_column(JSON, default=list)
    regions: Mapped[list[str]] = mapped_column(JSON, default=list)
    product_lines: Mapped[list[str]] = mapped_column(JSON, default=list)
    multiplier: Mapped[float] = mapped_column(Float, default=1.0)
    budget_points: Mapped[int | None] = mapped_column(Integer)
    spent_points: Mapped[int] = mapped_column(Integer, default=0)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class RuleCapUsage(Base):
    """Points a rule has granted one org in one cap period; the row is locked while a grant is decided."""

    __tablename__ = "rule_cap_usage"
    __table_args__ = (CheckConstraint("points >= 0", name="points_not_negative"),)

    rule_id: Mapped[int] = mapped_column(ForeignKey("rules.id"), primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"), primary_key=True)
    period_start: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    points: Mapped[int] = mapped_column(Integer, default=0)


class RuleSkip(Base):
    """Why a rule paid nothing for an event although it listens to it (an evaluation error, a full cap)."""

    __tablename__ = "rule_skips"
    __table_args__ = (Index("ix_rule_skips_rule", "rule_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("outbox_events.id"), index=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("rules.id"))
    rule_version: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(500))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
