"""Tables of the accounts domain."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from incentives.accounts.levels import default_levels
from incentives.db import Base, UTCDateTime, utcnow


class Program(Base):
    """One manufacturer's partner program: the tenant boundary."""

    __tablename__ = "programs"
    __table_args__ = (
        CheckConstraint("escalation_hours > 0", name="escalation_hours_positive"),
        CheckConstraint("offer_wave_size > 0", name="offer_wave_size_positive"),
        CheckConstraint("max_waves > 0", name="max_waves_positive"),
        CheckConstraint("feedback_due_hours > 0", name="feedback_due_hours_positive"),
        CheckConstraint("max_overdue_leads >= 0", name="max_overdue_leads_not_negative"),
        CheckConstraint("points_expiry_months > 0", name="points_expiry_months_positive"),
        CheckConstraint("capacity_mode IN ('hard', 'soft')", name="capacity_mode_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    manufacturer_id: Mapped[int | None] = mapped_column(ForeignKey("orgs.id", use_alter=True))
    default_locale: Mapped[str] = mapped_column(String(5), default="en")
    escalation_hours: Mapped[int] = mapped_column(Integer, default=12)
    offer_wave_size: Mapped[int] = mapped_column(Integer, default=5)
    max_waves: Mapped[int] = mapped_column(Integer, default=3)
    feedback_due_hours: Mapped[int] = mapped_column(Integer, default=48)
    max_overdue_leads: Mapped[int] = mapped_column(Integer, default=0)
    points_expiry_months: Mapped[int] = mapped_column(Integer, default=24)
    # Weights of the matching score's parts (leads/matching.py); missing parts use the defaults there.
    matching_weights: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    # soft: a partner's free capacity is a part of the score; hard: a partner at capacity is not offered leads.
    capacity_mode: Mapped[str] = mapped_column(String(4), default="hard", server_default="hard")
    # [{key, name: {de, en}, threshold}], lowest first (accounts/levels.py); never changes a member's tier.
    levels: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=default_levels)
    # PLI stage weights ({contacted, meeting, proposal}: share of a lead's value); missing stages use
    # reports/pipeline.py's defaults.
    pipeline_weights: Mapped[dict[str, float] | None] = mapped_column(JSON)
    # [{key, name: {de, en}}] confirmed when a lead is qualified (accounts/qualification.py); None: the defaults.
    qualification_checklist: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # The program's own lists leads choose from (accounts/choices.py); empty: any value is accepted.
    product_lines: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    industries: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Org(Base):
    """A company: manufacturer, distributor, reseller or agency. Resellers may join many programs."""

    __tablename__ = "orgs"
    __table_args__ = (
        CheckConstraint("kind IN ('manufacturer', 'distributor', 'reseller', 'agency')", name="kind_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2))
    city: Mapped[str | None] = mapped_column(String(120))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    # The program whose admin registered the org; it may see the org before any membership exists.
    registered_by_program_id: Mapped[int | None] = mapped_column(ForeignKey("programs.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Membership(Base):
    """An org's place in a program: tier, competencies, certifications, served regions, capacity."""

    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("program_id", "org_id"),
        CheckConstraint("tier IN ('platinum', 'gold', 'silver', 'registered')", name="tier_known"),
        CheckConstraint("capacity IS NULL OR capacity >= 0", name="capacity_not_negative"),
        CheckConstraint("open_leads >= 0 AND won_leads >= 0 AND won_leads <= closed_leads", name="lead_counters_sane"),
        Index("ix_memberships_distributor", "program_id", "distributor_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"), index=True)
    tier: Mapped[str] = mapped_column(String(20))
    competencies: Mapped[list[str]] = mapped_column(JSON, default=list)
    certifications: Mapped[list[str]] = mapped_column(JSON, default=list)
    regions: Mapped[list[str]] = mapped_column(JSON, default=list)
    capacity: Mapped[int | None] = mapped_column(Integer)
    distributor_id: Mapped[int | None] = mapped_column(ForeignKey("orgs.id"))
    # Lead counters for matching (leads/matching.py), moved in the same transaction as each transition.
    won_leads: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    closed_leads: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    open_leads: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_offered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    org: Mapped[Org] = relationship(foreign_keys=[org_id], lazy="raise")


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "role IN ('admin', 'partner_manager', 'agency', 'distributor_manager', 'reseller_manager', 'reseller_rep')",
            name="role_known",
        ),
        CheckConstraint("locale IN ('de', 'en')", name="locale_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"), index=True)
    # Set for the program roles (admin, partner manager, agency); partners act through their org.
    program_id: Mapped[int | None] = mapped_column(ForeignKey("programs.id"), index=True)
    role: Mapped[str] = mapped_column(String(30))
    # None: follow the explicit choice, the browser, then the program default.
    locale: Mapped[str | None] = mapped_column(String(5))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    # A web session is valid while it carries the user's current epoch: logout and deactivation raise it, so
    # every copy of an earlier session cookie stops working, in every process.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored, the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # What its holder calls it ("CRM sync"), and when it was last used, to the hour (accounts/tokens.py).
    name: Mapped[str | None] = mapped_column(String(100))
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # From then on it is refused like a revoked one; None: it never expires (the API's default).
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class LoginAttempt(Base):
    """Failed logins, kept in the database so every web process sees the same rate limit."""

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PasswordReset(Base):
    """A password-reset link sent by e-mail: only its SHA-256 is kept; `used_at` makes it single-use."""

    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
