"""Achievement progress from the outbox events the rules processor decides, in its transaction.

`record_events` is one step of `rules.processor.decide_batch`: each processed event is evaluated against the
active achievements listening to it (window, segment, CEL condition). A match is kept as a hit (unique per
achievement and event, so a redelivered event never counts twice) and moves the progress row of its
(achievement, partner, period), which is locked while it moves: concurrent processors count in turn. Reaching
the target writes an earning, unique per (achievement, partner, occurrence), which the pay step books.

Occurrences: a one-time achievement is earned "once"; a repeatable one once per period ("2026-W49"), or,
with period "all", every `target` hits (count) or every multiple of `target` in the streak ("1", "2", ...).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, case, insert, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts.models import Membership
from incentives.db import dialect_insert
from incentives.engagement.models import (
    Achievement,
    AchievementEarning,
    AchievementHit,
    AchievementTally,
    Kind,
    Period,
)
from incentives.leaderboard.periods import key_of
from incentives.notifications.awards import EarnedBadge, notify_achievements
from incentives.rules.campaigns import Segment
from incentives.rules.expressions import Compiled, EvaluationError, compile_expression
from incentives.rules.variables import BOOL
from incentives.webhooks import outbox as webhooks

HITS = cast(Table, AchievementHit.__table__)
PROGRESS = cast(Table, AchievementTally.__table__)
EARNINGS = cast(Table, AchievementEarning.__table__)
ONCE = "once"


def earning_key(achievement_id: int, org_id: int, occurrence: str) -> str:
    return f"achievement:{achievement_id}:{org_id}:{occurrence}"


@dataclass(frozen=True)
class Listening:
    """An active achievement ready to run against events: its condition compiled (from the cache)."""

    id: int
    program_id: int
    name_de: str
    name_en: str
    kind: str
    streak: str | None
    target: int
    period: str
    repeatable: bool
    points: int | None
    starts_at: dt.datetime | None
    ends_at: dt.datetime | None
    segment: Segment
    condition: Compiled

    @classmethod
    def of(cls, row: Achievement) -> Listening:
        return cls(
            id=row.id,
            program_id=row.program_id,
            name_de=row.name_de,
            name_en=row.name_en,
            kind=row.kind,
            streak=row.streak,
            target=row.target,
            period=row.period,
            repeatable=row.repeatable,
            points=row.points,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            segment=Segment(tuple(row.tiers or ()), tuple(row.regions or ()), tuple(row.product_lines or ())),
            condition=compile_expression(row.condition, row.event, BOOL),
        )

    def open_at(self, at: dt.datetime) -> bool:
        return (self.starts_at is None or self.starts_at <= at) and (self.ends_at is None or at < self.ends_at)

    def value_at(self, payload: Mapping[str, Any], regions: Sequence[str]) -> int | None:
        """What a matching event adds (count: 1; streak: the partner's streak after it); None if it does not match."""
        partner = payload.get("partner") or {}
        lead = payload.get("lead") or {}
        if not self.segment.holds(partner.get("tier"), regions, lead.get("product_line")):
            return None
        try:
            if self.condition(payload) is not True:
                return None
        except EvaluationError:
            return None  # an event without a value the condition reads (older events have no streaks)
        if self.kind == Kind.COUNT:
            return 1
        value = (partner.get("streak") or {}).get(self.streak)
        return value if isinstance(value, int) else None

    def occurrence(self, period: str, value: int) -> str | None:
        """The occurrence a hit completes: count kind, `value` is the hit's position in the period; streak kind,
        the streak. None when it completes nothing."""
        every = self.repeatable and self.period == Period.ALL
        if self.kind == Kind.COUNT:
            if every:
                return str(value // self.target) if value % self.target == 0 else None
            reached = value == self.target
        else:
            if every:
                return str(value // self.target) if value >= self.target else None
            reached = value >= self.target
        if not reached:
            return None
        return period if self.repeatable else ONCE


@dataclass(frozen=True)
class _Hit:
    achievement: Listening
    event: Any
    period: str
    value: int


async def listening(session: AsyncSession, pairs: set[tuple[int, str]]) -> dict[tuple[int, str], list[Listening]]:
    """The active achievements of each (program, event type)."""
    if not pairs:
        return {}
    rows = await session.scalars(
        select(Achievement)
        .where(Achievement.active.is_(True), tuple_(Achievement.program_id, Achievement.event).in_(sorted(pairs)))
        .order_by(Achievement.id)
    )
    found: dict[tuple[int, str], list[Listening]] = defaultdict(list)
    for row in rows:
        found[(row.program_id, row.event)].append(Listening.of(row))
    return found


async def _regions(session: AsyncSession, partners: set[tuple[int, int]]) -> dict[tuple[int, int], tuple[str, ...]]:
    if not partners:
        return {}
    rows = await session.execute(
        select(Membership.program_id, Membership.org_id, Membership.regions).where(
            tuple_(Membership.program_id, Membership.org_id).in_(sorted(partners))
        )
    )
    return {(p, o): tuple(r or ()) for p, o, r in rows.all()}


def _regions_of(payload: Mapping[str, Any], served: tuple[str, ...]) -> tuple[str, ...]:
    country = (payload.get("partner") or {}).get("country")
    return (*served, str(country)) if country else served


async def record_events(session: AsyncSession, events: Sequence[Any], now: dt.datetime) -> int:
    """Progress and earnings for processed outbox events (rows with id, program_id, event_type, lead_id, org_id,
    payload, at), in the caller's transaction. Returns the number of new hits."""
    usable = [event for event in events if event.org_id is not None and isinstance(event.payload, dict)]
    achievements = await listening(session, {(event.program_id, event.event_type) for event in usable})
    if not achievements:
        return 0
    usable = [event for event in usable if (event.program_id, event.event_type) in achievements]
    segmented = any(a.segment.regions for items in achievements.values() for a in items)
    served = await _regions(session, {(e.program_id, e.org_id) for e in usable}) if segmented else {}
    counted = {
        (achievement_id, event_id)
        for achievement_id, event_id in await session.execute(
            select(HITS.c.achievement_id, HITS.c.event_id).where(HITS.c.event_id.in_([e.id for e in usable]))
        )
    }
    hits: list[_Hit] = []
    for event in usable:
        regions = _regions_of(event.payload, served.get((event.program_id, event.org_id), ()))
        for achievement in achievements[(event.program_id, event.event_type)]:
            if (achievement.id, event.id) in counted or not achievement.open_at(event.at):
                continue
            value = achievement.value_at(event.payload, regions)
            if value is not None:
                hits.append(_Hit(achievement, event, key_of(achievement.period, event.at), value))
    if not hits:
        return 0
    await session.execute(
        insert(HITS),
        [
            {
                "achievement_id": hit.achievement.id,
                "event_id": hit.event.id,
                "org_id": hit.event.org_id,
                "period": hit.period,
                "value": hit.value,
                "at": hit.event.at,
            }
            for hit in hits
        ],
    )
    earnings = await _progress(session, hits, now)
    if earnings:
        conn = await session.connection()
        await conn.execute(dialect_insert(conn, EARNINGS).on_conflict_do_nothing(), earnings)
        # The badge's own moment: a notice (a toast on the partner's open page), once per earning like the earning.
        badges = {hit.achievement.id: hit.achievement for hit in hits}
        await notify_achievements(
            session,
            [
                EarnedBadge(
                    earning["program_id"],
                    earning["org_id"],
                    earning["key"],
                    badges[earning["achievement_id"]].name_de,
                    badges[earning["achievement_id"]].name_en,
                    earning["points"],
                )
                for earning in earnings
            ],
        )
        await _tell_webhooks(session, earnings, badges)
    return len(hits)


async def _tell_webhooks(session: AsyncSession, earnings: list[dict[str, Any]], badges: dict[int, Any]) -> None:
    """`achievement.earned` per earning, once per earning key and endpoint."""
    await webhooks.emit(
        session,
        [
            webhooks.Event(
                earning["program_id"],
                "achievement.earned",
                earning["earned_at"],
                {
                    "achievement_id": earning["achievement_id"],
                    "program_id": earning["program_id"],
                    "org_id": earning["org_id"],
                    "name": {
                        "de": badges[earning["achievement_id"]].name_de,
                        "en": badges[earning["achievement_id"]].name_en,
                    },
                    "occurrence": earning["occurrence"],
                    "points": earning["points"],
                    "lead_id": earning["lead_id"],
                    "user_id": earning["user_id"],
                },
                key=f"achievement:{earning['key']}",
            )
            for earning in earnings
        ],
    )


async def _progress(session: AsyncSession, hits: list[_Hit], now: dt.datetime) -> list[dict[str, Any]]:
    """Move each touched progress row (in key order, so processors lock them alike) and return the earnings the
    hits complete."""
    by_key: dict[tuple[int, int, str], list[_Hit]] = defaultdict(list)
    for hit in hits:
        by_key[(hit.achievement.id, hit.event.org_id, hit.period)].append(hit)
    conn = await session.connection()
    upsert = dialect_insert(conn, PROGRESS)
    adding = upsert.on_conflict_do_update(
        index_elements=["achievement_id", "org_id", "period"],
        set_={"value": PROGRESS.c.value + upsert.excluded.value, "updated_at": now},
    ).returning(PROGRESS.c.value)
    raising = upsert.on_conflict_do_update(
        index_elements=["achievement_id", "org_id", "period"],
        set_={
            "value": case((upsert.excluded.value > PROGRESS.c.value, upsert.excluded.value), else_=PROGRESS.c.value),
            "updated_at": now,
        },
    )
    earnings: dict[tuple[int, int, str], dict[str, Any]] = {}
    for (achievement_id, org_id, period), group in sorted(by_key.items(), key=lambda item: item[0]):
        achievement = group[0].achievement
        row = {
            "achievement_id": achievement_id,
            "org_id": org_id,
            "period": period,
            "program_id": achievement.program_id,
            "updated_at": now,
        }
        if achievement.kind == Kind.COUNT:
            after = cast(int, await conn.scalar(adding.values(**row, value=len(group))))
            reached = [(after - len(group) + index + 1, hit) for index, hit in enumerate(group)]
        else:
            await conn.execute(raising.values(**row, value=max(hit.value for hit in group)))
            reached = [(hit.value, hit) for hit in group]
        for value, hit in reached:
            occurrence = achievement.occurrence(period, value)
            if occurrence is not None:
                earnings.setdefault((achievement_id, org_id, occurrence), _earning(hit, occurrence))
    return list(earnings.values())


def _earning(hit: _Hit, occurrence: str) -> dict[str, Any]:
    event, achievement = hit.event, hit.achievement
    return {
        "achievement_id": achievement.id,
        "program_id": achievement.program_id,
        "org_id": event.org_id,
        "occurrence": occurrence,
        "key": earning_key(achievement.id, event.org_id, occurrence),
        "event_id": event.id,
        "lead_id": event.lead_id,
        "user_id": (event.payload.get("actor") or {}).get("user_id"),
        "points": achievement.points,
        "earned_at": event.at,
        "attempts": 0,
    }
