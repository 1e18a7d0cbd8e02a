"""Webhook endpoints, the event types each listens to, and one delivery row per event and endpoint (the outbox)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from incentives.db import Base, UTCDateTime, utcnow


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookEndpoint(Base):
    """A URL of a program that receives the events it subscribed to, signed with its secret."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(500), default="")
    # `whsec_` + base64: kept in clear, because signing needs it (as every Standard Webhooks sender).
    secret: Mapped[str] = mapped_column(String(100))
    # After a rotation the old secret signs too, for a day, so a receiver can switch without losing events.
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set by the first failed attempt after a success; an endpoint failing for 3 days is disabled.
    failing_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class WebhookSubscription(Base):
    """One event type an endpoint receives: a row each, so the outbox finds its endpoints with one indexed join."""

    __tablename__ = "webhook_subscriptions"
    __table_args__ = (Index("ix_webhook_subscriptions_type", "program_id", "event_type"),)

    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(40), primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))


class WebhookDelivery(Base):
    """One event for one endpoint: written in the transaction of the state change, sent (and retried) by jobs."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status_known"),
        # The same event (say, an award replayed) is written once per endpoint.
        UniqueConstraint("endpoint_id", "event_key"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    # The `webhook-id` header: one per event (the same at every endpoint and on every retry).
    message_id: Mapped[str] = mapped_column(String(60))
    event_key: Mapped[str | None] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(40))
    event_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # A sender's claim: until this time no other sender takes the row (a crashed sender's claim runs out).
    claimed_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    claim: Mapped[str | None] = mapped_column(String(40))
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
