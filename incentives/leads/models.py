"""Tables of the leads domain: leads, offers to partner orgs, lead events and the outbox."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from incentives.db import Base, UTCDateTime, utcnow


class LeadStatus(StrEnum):
    NEW = "new"
    QUALIFIED = "qualified"
    OFFERED = "offered"
    RESERVED = "reserved"
    WON = "won"
    LOST = "lost"
    UNCLAIMED = "unclaimed"
    INVALID = "invalid"  # a manager found it fake, a duplicate or no real need: it pays nothing


class InvalidReason(StrEnum):
    FAKE = "fake"
    DUPLICATE = "duplicate"
    NO_NEED = "no_need"


class Temperature(StrEnum):
    HOT = "hot"
    WARM = "warm"
    COLD = "cold"


class FeedbackStatus(StrEnum):
    CONTACTED = "contacted"
    MEETING = "meeting"
    PROPOSAL = "proposal"
    WON = "won"
    LOST = "lost"
    NOT_REACHABLE = "not_reachable"


class OfferState(StrEnum):
    OPEN = "open"
    RETURNED = "returned"  # the org reserved it and gave it back: never offered to that org again
    WITHDRAWN = "withdrawn"  # taken back by a manager


FINAL_FEEDBACK = frozenset({FeedbackStatus.WON, FeedbackStatus.LOST})


def _in(values: type[StrEnum]) -> str:
    return ", ".join(f"'{v.value}'" for v in values)


class Lead(Base):
    __tablename__ = "leads"
    __table_args__ = (
        UniqueConstraint("program_id", "external_id"),
        CheckConstraint(f"status IN ({_in(LeadStatus)})", name="status_known"),
        CheckConstraint(f"temperature IN ({_in(Temperature)})", name="temperature_known"),
        CheckConstraint("wave >= 0", name="wave_not_negative"),
        CheckConstraint("status <> 'reserved' OR reserved_by_org_id IS NOT NULL", name="reserved_has_org"),
        Index("ix_leads_due_offers", "status", "expires_at"),
        Index("ix_leads_due_feedback", "status", "feedback_due_at"),
        Index("ix_leads_reserved_by", "reserved_by_org_id", "status"),
        Index("ix_leads_program_status", "program_id", "status"),
        Index("ix_leads_program_offered_at", "program_id", "offered_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    external_id: Mapped[str | None] = mapped_column(String(100))
    company: Mapped[str] = mapped_column(String(200))
    contact_name: Mapped[str] = mapped_column(String(200))
    contact_email: Mapped[str] = mapped_column(String(254))
    contact_phone: Mapped[str | None] = mapped_column(String(40))
    country: Mapped[str] = mapped_column(String(2))
    postal_code: Mapped[str | None] = mapped_column(String(12))
    city: Mapped[str | None] = mapped_column(String(120))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    industry: Mapped[str | None] = mapped_column(String(80))
    product_line: Mapped[str] = mapped_column(String(80))
    temperature: Mapped[str] = mapped_column(String(10))
    estimated_value: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    required_certifications: Mapped[list[str]] = mapped_column(JSON, default=list)
    notes: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(12), default=LeadStatus.NEW)
    wave: Mapped[int] = mapped_column(Integer, default=0)
    # Ranked org ids of the first matching, so that later waves take the next group without re-ranking.
    ranking: Mapped[list[int]] = mapped_column(JSON, default=list)
    offered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reserved_by_org_id: Mapped[int | None] = mapped_column(ForeignKey("orgs.id"))
    reserved_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reserved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    feedback_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    overdue_noticed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_feedback: Mapped[str | None] = mapped_column(String(20))
    last_feedback_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    deal_value: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    lost_reason: Mapped[str | None] = mapped_column(String(500))
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    invalid_reason: Mapped[str | None] = mapped_column(String(12))
    invalid_note: Mapped[str | None] = mapped_column(String(500))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # What was confirmed when it was qualified: {"checked": [keys], "of": [keys asked], "by": user id, "at": time}.
    qualification: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class LeadOffer(Base):
    """A lead offered to one org, with the score that put it there (kept for audit)."""

    __tablename__ = "lead_offers"
    __table_args__ = (
        UniqueConstraint("lead_id", "org_id"),
        CheckConstraint(f"state IN ({_in(OfferState)})", name="state_known"),
        Index("ix_lead_offers_org_state", "org_id", "state"),
        Index("ix_lead_offers_program_offered_at", "program_id", "offered_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"))
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"))
    wave: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    breakdown: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(12), default=OfferState.OPEN)
    offered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LeadEvent(Base):
    """Every transition of a lead: who, when, what. TTP, ADT and CR are computed from these."""

    __tablename__ = "lead_events"
    __table_args__ = (
        Index("ix_lead_events_lead", "lead_id", "id"),
        Index("ix_lead_events_org_at", "org_id", "at"),
        Index("ix_lead_events_program_kind_at", "program_id", "kind", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"))
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    kind: Mapped[str] = mapped_column(String(20))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("orgs.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class OutboxEvent(Base):
    """A domain event for the rules engine, written in the same transaction as the state change."""

    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_pending", "processed_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    event_type: Mapped[str] = mapped_column(String(40))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id"))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("orgs.id"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class StreakKey(StrEnum):
    ON_TIME_FEEDBACK = "on_time_feedback"
    ACTIVE_WEEKS = "active_weeks"


class StreakState(Base):
    """A partner's streak in a program: current and best run, and (active weeks) the last active week.

    Updated in the transaction that writes the lead event moving it; `streaks.rebuild` recomputes it from them.
    """

    __tablename__ = "streak_states"
    __table_args__ = (
        CheckConstraint("key IN (" + ", ".join(f"'{key.value}'" for key in StreakKey) + ")", name="key_known"),
        CheckConstraint("current >= 0 AND best >= current", name="best_holds"),
    )

    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(30), primary_key=True)
    current: Mapped[int] = mapped_column(Integer, default=0)
    best: Mapped[int] = mapped_column(Integer, default=0)
    # Active weeks: the number of the last ISO week (Europe/Berlin) with activity, counted from 1970-01-05.
    last_week: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
