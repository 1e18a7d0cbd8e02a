"""The mail tables: the outbox of messages, each user's e-mail settings, and the action links already used."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from incentives.db import Base, UTCDateTime, utcnow


class MailStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class OutboxMail(Base):
    """One e-mail to one user: what to render (template and context), and how sending it went.

    `dedupe_key` is unique per (kind, user, subject key), so whatever queues the same e-mail twice queues it once.
    """

    __tablename__ = "mail_outbox"
    __table_args__ = (
        UniqueConstraint("dedupe_key"),
        CheckConstraint("status IN ('pending', 'sent', 'failed')", name="status_known"),
        CheckConstraint("user_id IS NOT NULL OR address IS NOT NULL", name="has_recipient"),
        Index("ix_mail_outbox_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    # An e-mail to an address with no user yet (an invitation to sign up), in `locale`.
    address: Mapped[str | None] = mapped_column(String(254))
    locale: Mapped[str | None] = mapped_column(String(5))
    dedupe_key: Mapped[str] = mapped_column(String(300))
    template: Mapped[str] = mapped_column(String(100))
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(10), default=MailStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # A sender's claim on the row while it sends: only the claimant records the outcome.
    claim: Mapped[str | None] = mapped_column(String(40))
    claimed_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class MailSettings(Base):
    """A user's e-mail choices; a user without a row has the defaults (see preferences.DEFAULTS)."""

    __tablename__ = "mail_settings"
    __table_args__ = (CheckConstraint("email_new_leads IN ('instant', 'daily', 'off')", name="new_leads_known"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    email_new_leads: Mapped[str] = mapped_column(String(10), default="instant")
    email_feedback_reminders: Mapped[bool] = mapped_column(default=True)
    email_weekly_report: Mapped[bool] = mapped_column(default=True)
    email_redemptions: Mapped[bool] = mapped_column(default=True)
    email_achievements: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class UsedActionLink(Base):
    """An action link that has acted: its nonce is unique, so of two clicks at once exactly one inserts it."""

    __tablename__ = "mail_action_uses"

    nonce: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    lead_id: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(20))
    used_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
