"""The outbox of webhooks: one delivery row per event and subscribed endpoint, in the caller's transaction.

Domains call `emit` where their state changes (leads' events, payouts, the redemption workflow, achievements);
the rows commit or roll back with the change, and a commit wakes the sender (`jobs.deliver_due`), which never
runs inside the request that caused the event.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.db import dialect_insert, utcnow
from incentives.jobs import wake_after_commit
from incentives.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookSubscription

__all__ = ["EVENT_TYPES", "WEBHOOKS", "Event", "emit", "iso", "listening"]

EVENT_TYPES = (
    "lead.offered",
    "lead.reserved",
    "lead.feedback",
    "lead.won",
    "lead.lost",
    "lead.returned",
    "lead.unclaimed",
    "points.awarded",
    "points.reversed",
    "redemption.requested",
    "redemption.approved",
    "redemption.rejected",
    "achievement.earned",
)
# The wake-up channel of the sender (see incentives.jobs.wake_after_commit).
WEBHOOKS = "webhooks"
DELIVERIES = cast(Table, WebhookDelivery.__table__)


@dataclass(frozen=True)
class Event:
    """One event of a program. `key`, when given, makes it once-only per endpoint (a replayed award)."""

    program_id: int
    type: str
    at: dt.datetime
    data: dict[str, Any]
    key: str | None = None


def iso(value: dt.datetime | None) -> str | None:
    """A time as RFC 3339 UTC, as the API writes it."""
    return None if value is None else value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


async def listening(session: AsyncSession, pairs: Iterable[tuple[int, str]]) -> dict[tuple[int, str], list[int]]:
    """The enabled endpoints subscribed to each (program, event type) of `pairs`; absent pairs have none."""
    wanted = set(pairs)
    if not wanted:
        return {}
    rows = await session.execute(
        select(WebhookSubscription.program_id, WebhookSubscription.event_type, WebhookSubscription.endpoint_id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookSubscription.endpoint_id)
        .where(
            WebhookSubscription.program_id.in_({program for program, _ in wanted}),
            WebhookSubscription.event_type.in_({kind for _, kind in wanted}),
            WebhookEndpoint.disabled_at.is_(None),
        )
        .order_by(WebhookSubscription.endpoint_id)
    )
    found: dict[tuple[int, str], list[int]] = {}
    for program_id, event_type, endpoint_id in rows:
        if (program_id, event_type) in wanted:
            found.setdefault((program_id, event_type), []).append(endpoint_id)
    return found


async def emit(
    session: AsyncSession, events: Sequence[Event], endpoints: dict[tuple[int, str], list[int]] | None = None
) -> int:
    """Write the deliveries of `events` in the caller's transaction; how many. `endpoints`: what `listening`
    answered already (a caller that asked first, to build the data only when someone listens)."""
    if not events:
        return 0
    if endpoints is None:
        endpoints = await listening(session, {(event.program_id, event.type) for event in events})
    now = utcnow()
    rows = []
    for event in events:
        message_id = f"msg_{uuid.uuid4().hex}"
        for endpoint_id in endpoints.get((event.program_id, event.type), ()):
            rows.append(
                {
                    "endpoint_id": endpoint_id,
                    "program_id": event.program_id,
                    "message_id": message_id,
                    "event_key": event.key,
                    "event_type": event.type,
                    "event_at": event.at,
                    "data": event.data,
                    "status": DeliveryStatus.PENDING,
                    "attempts": 0,
                    "next_attempt_at": event.at if event.at < now else now,
                    "created_at": now,
                }
            )
    if not rows:
        return 0
    conn = await session.connection()
    insert = dialect_insert(conn, DELIVERIES).on_conflict_do_nothing(index_elements=["endpoint_id", "event_key"])
    await conn.execute(insert, rows)
    wake_after_commit(session, WEBHOOKS)
    return len(rows)
