"""Taking back achievement and streak progress a returned or invalid lead brought, in the processor's transaction.

The rules processor already reverses the lead's awards (rules.fairness); this is the same clawback for
engagement, run on the same events right after their hits are recorded:

- every achievement hit counted from the lead's earlier events (for a return: the returning partner's) is
  marked taken back by the clawback event and its progress undone: a count loses the hit, a streak badge's
  progress falls back to the highest value among the hits it keeps;
- a badge already earned stays earned, but the points it paid are taken back when the hit completing it was
  one of the lead's events (the pay step books that reversal on the ledger, keyed by the earning);
- the partner's streaks are recomputed from its lead events without the lead (leads.streaks.rebuild_partner).

Marking a hit or an earning happens once (only rows not marked yet are updated, so a repeated return or a
second processor changes nothing more); the streak rebuild gives the same result however often it runs.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.engagement.models import Achievement, AchievementEarning, AchievementHit, AchievementTally, Kind
from incentives.leads import streaks
from incentives.leads.models import OutboxEvent

HITS = cast(Table, AchievementHit.__table__)
PROGRESS = cast(Table, AchievementTally.__table__)
EARNINGS = cast(Table, AchievementEarning.__table__)
TAKING_BACK = frozenset({"lead.returned", "lead.invalidated"})


async def take_back_progress(session: AsyncSession, events: Sequence[Any], now: dt.datetime) -> int:
    """Undo the progress of the leads these processed outbox events return or invalidate; the hits taken back."""
    total = 0
    for event in sorted(events, key=lambda e: e.id):
        if event.event_type not in TAKING_BACK or event.lead_id is None:
            continue
        if event.event_type == "lead.returned" and event.org_id is None:
            continue
        earlier = select(OutboxEvent.id).where(OutboxEvent.lead_id == event.lead_id, OutboxEvent.id < event.id)
        if event.event_type == "lead.returned":  # the returning partner's progress; others' stays
            earlier = earlier.where(OutboxEvent.org_id == event.org_id)
        taken = (
            await session.execute(
                update(HITS)
                .where(HITS.c.event_id.in_(earlier), HITS.c.taken_back_by_event_id.is_(None))
                .values(taken_back_by_event_id=event.id)
                .returning(HITS.c.achievement_id, HITS.c.org_id, HITS.c.period)
            )
        ).all()
        await _undo(session, Counter((a, o, p) for a, o, p in taken), now)
        await session.execute(
            update(EARNINGS)
            .where(
                EARNINGS.c.event_id.in_(earlier),
                EARNINGS.c.points.is_not(None),
                EARNINGS.c.reversed_by_event_id.is_(None),
            )
            .values(reversed_by_event_id=event.id)
        )
        partners = {org_id for _, org_id, _ in taken} | ({event.org_id} if event.org_id is not None else set())
        for org_id in sorted(partners):
            await streaks.rebuild_partner(session, event.program_id, org_id, now)
        total += len(taken)
    return total


async def _undo(session: AsyncSession, taken: Counter[tuple[int, int, str]], now: dt.datetime) -> None:
    """Move each touched progress row back (in key order, as recording moves them)."""
    if not taken:
        return
    ids = {achievement_id for achievement_id, _, _ in taken}
    rows = await session.execute(select(Achievement.id, Achievement.kind).where(Achievement.id.in_(ids)))
    kinds = {achievement_id: kind for achievement_id, kind in rows}
    for (achievement_id, org_id, period), count in sorted(taken.items()):
        row = (
            (PROGRESS.c.achievement_id == achievement_id)
            & (PROGRESS.c.org_id == org_id)
            & (PROGRESS.c.period == period)
        )
        if kinds[achievement_id] == Kind.COUNT:
            value: Any = case((PROGRESS.c.value > count, PROGRESS.c.value - count), else_=0)
        else:
            kept = (
                select(func.coalesce(func.max(HITS.c.value), 0))
                .where(
                    HITS.c.achievement_id == achievement_id,
                    HITS.c.org_id == org_id,
                    HITS.c.period == period,
                    HITS.c.taken_back_by_event_id.is_(None),
                )
                .scalar_subquery()
            )
            value = kept
        await session.execute(update(PROGRESS).where(row).values(value=value, updated_at=now))
