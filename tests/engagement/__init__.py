"""Engagement tests; shared helpers: achievements through the service, events with streaks, earnings read back."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select

from incentives.db import Database
from incentives.engagement.definitions import AchievementInput, add_achievement
from incentives.engagement.models import Achievement, AchievementEarning
from incentives.leads.models import OutboxEvent
from incentives.ledger.models import LedgerTransfer
from tests.rules import T0, payload


async def add_test_achievement(db: Database, program_id: int, **fields: Any) -> Achievement:
    spec: dict[str, Any] = {
        "name_de": "Testabzeichen",
        "name_en": "Test badge",
        "event": "lead.reserved",
        "condition": "true",
        "target": 3,
    }
    spec.update(fields)
    async with db.transaction() as session:
        return await add_achievement(session, AchievementInput(program_id=program_id, **spec))


async def add_event(
    db: Database,
    program_id: int,
    org_id: int,
    event_type: str = "lead.reserved",
    at: dt.datetime = T0,
    *,
    temperature: str = "cold",
    streak: dict[str, int] | None = None,
    tier: str = "gold",
    **extra: Any,
) -> int:
    """One outbox event with complete variables (and the partner's streaks, when given)."""
    data = payload(event_type, org_id, at, temperature, **extra)
    data["partner"]["tier"] = tier
    if streak is not None:
        data["partner"]["streak"] = {"on_time_feedback": 0, "active_weeks": 0, **streak}
    async with db.transaction() as session:
        event = OutboxEvent(program_id=program_id, event_type=event_type, org_id=org_id, payload=data, at=at)
        session.add(event)
        await session.flush()
        return event.id


async def earnings(db: Database, achievement_id: int) -> list[tuple[int, str]]:
    """(org, occurrence) of every earning of an achievement."""
    async with db.reader() as session:
        rows = await session.execute(
            select(AchievementEarning.org_id, AchievementEarning.occurrence)
            .where(AchievementEarning.achievement_id == achievement_id)
            .order_by(AchievementEarning.id)
        )
        return [(org, occurrence) for org, occurrence in rows.all()]


async def achievement_transfers(db: Database, program_id: int) -> dict[str, tuple[int, int]]:
    """Per achievement key: (how many transfers, points). Every key must appear once."""
    async with db.reader() as session:
        rows = await session.execute(
            select(LedgerTransfer.idempotency_key, func.count(), func.sum(LedgerTransfer.amount))
            .where(LedgerTransfer.program_id == program_id, LedgerTransfer.idempotency_key.like("achievement:%"))
            .group_by(LedgerTransfer.idempotency_key)
        )
        return {str(key): (int(count), int(points)) for key, count, points in rows.all()}
