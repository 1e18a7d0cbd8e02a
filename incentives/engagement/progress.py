"""Reading achievements: a partner's progress on each (earned and locked badges), and managers' earned-by counts.

Progress is what the processor recorded (hits counted per period); a streak badge shows the live streak, which
moves with the lead events even before a matching event is processed.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts.models import Membership, Org
from incentives.accounts.roles import Role
from incentives.accounts.scope import Principal
from incentives.engagement.definitions import program_achievements
from incentives.engagement.models import Achievement, AchievementEarning, AchievementTally, Kind, Period
from incentives.errors import NotFound
from incentives.leaderboard.periods import key_of
from incentives.leads.streaks import streaks_of
from incentives.local_time import LOCAL
from incentives.rules.campaigns import Segment
from incentives.rules.services import ensure_manager

PARTNERS = frozenset({Role.RESELLER_MANAGER, Role.RESELLER_REP, Role.DISTRIBUTOR_MANAGER})


@dataclass(frozen=True)
class AchievementProgress:
    """One badge as a partner sees it: how far along, when (and how often) earned, until when it runs."""

    id: int
    name_de: str
    name_en: str
    description_de: str
    description_en: str
    progress: int
    target: int
    earned_at: dt.datetime | None
    times_earned: int
    ends_at: dt.datetime | None
    points: int | None

    @property
    def earned(self) -> bool:
        return self.times_earned > 0


def period_end(period: str, now: dt.datetime) -> dt.datetime | None:
    """When the week, month or quarter holding `now` ends (Europe/Berlin), in UTC; None for "all"."""
    local = now.astimezone(LOCAL)
    if period == Period.WEEK:
        start = local.date() + dt.timedelta(days=7 - local.weekday())
    elif period in (Period.MONTH, Period.QUARTER):
        months = 1 if period == Period.MONTH else 3 - (local.month - 1) % 3
        index = local.month - 1 + months
        start = dt.date(local.year + index // 12, index % 12 + 1, 1)
    else:
        return None
    return dt.datetime.combine(start, dt.time(), tzinfo=LOCAL).astimezone(dt.UTC)


def _ends_at(achievement: Achievement, now: dt.datetime) -> dt.datetime | None:
    ends = [end for end in (achievement.ends_at, period_end(achievement.period, now)) if end is not None]
    return min(ends) if ends else None


async def _membership(session: AsyncSession, program_id: int, org_id: int) -> tuple[str, tuple[str, ...]] | None:
    row = (
        await session.execute(
            select(Membership.tier, Membership.regions, Org.country)
            .join(Org, Org.id == Membership.org_id)
            .where(Membership.program_id == program_id, Membership.org_id == org_id)
        )
    ).first()
    if row is None:
        return None
    return row.tier, (*(row.regions or ()), row.country)


async def achievements_of(
    session: AsyncSession, program_id: int, org_id: int, now: dt.datetime
) -> list[AchievementProgress]:
    """The achievements a partner can earn in a program (its tier and regions; challenges that ended count only
    when earned), with its progress: earned ones first."""
    member = await _membership(session, program_id, org_id)
    if member is None:
        return []
    tier, regions = member
    achievements = [
        a
        for a in await program_achievements(session, program_id)
        if Segment(tuple(a.tiers or ()), tuple(a.regions or ()), ()).holds(tier, regions, None)
    ]
    if not achievements:
        return []
    ids = [a.id for a in achievements]
    earned: dict[int, list[dt.datetime]] = defaultdict(list)
    for achievement_id, at in await session.execute(
        select(AchievementEarning.achievement_id, AchievementEarning.earned_at)
        .where(AchievementEarning.org_id == org_id, AchievementEarning.achievement_id.in_(ids))
        .order_by(AchievementEarning.earned_at)
    ):
        earned[achievement_id].append(at)
    tallies = {
        (achievement_id, period): value
        for achievement_id, period, value in await session.execute(
            select(AchievementTally.achievement_id, AchievementTally.period, AchievementTally.value).where(
                AchievementTally.org_id == org_id, AchievementTally.achievement_id.in_(ids)
            )
        )
    }
    streaks = {streak.key: streak.current for streak in await streaks_of(session, program_id, org_id, now)}
    found = []
    for a in achievements:
        times = earned.get(a.id, [])
        if a.ends_at is not None and a.ends_at <= now and not times:
            continue
        if a.kind == Kind.STREAK:
            value = streaks.get(a.streak or "", 0)
        else:
            value = tallies.get((a.id, key_of(a.period, now)), 0)
        found.append(
            AchievementProgress(
                id=a.id,
                name_de=a.name_de,
                name_en=a.name_en,
                description_de=a.description_de,
                description_en=a.description_en,
                progress=_shown(a, value, bool(times)),
                target=a.target,
                earned_at=times[-1] if times else None,
                times_earned=len(times),
                ends_at=_ends_at(a, now),
                points=a.points,
            )
        )
    return sorted(found, key=lambda item: (not item.earned, item.id))


def _shown(achievement: Achievement, value: int, earned: bool) -> int:
    """Progress towards the next earning: full once a one-time badge is earned, the remainder of a multiple for
    a repeatable all-time one, else the period's value up to the target."""
    if earned and not achievement.repeatable:
        return achievement.target
    if achievement.repeatable and achievement.period == Period.ALL:
        return value % achievement.target
    return min(value, achievement.target)


async def partner_program(session: AsyncSession, principal: Principal, program_id: int) -> int:
    """The org whose progress a partner sees in `program_id`: its own, if a member; else 404."""
    if principal.role not in PARTNERS or await _membership(session, program_id, principal.org_id) is None:
        raise NotFound()
    return principal.org_id


@dataclass(frozen=True)
class Definition:
    """An achievement as managers see it, with the number of partners that earned it."""

    achievement: Achievement
    earned_by: int


async def definitions(session: AsyncSession, principal: Principal, program_id: int) -> list[Definition]:
    ensure_manager(principal, program_id)
    achievements = await program_achievements(session, program_id)
    counts = dict(
        (
            await session.execute(
                select(AchievementEarning.achievement_id, func.count(func.distinct(AchievementEarning.org_id)))
                .where(AchievementEarning.program_id == program_id)
                .group_by(AchievementEarning.achievement_id)
            )
        ).all()
    )
    return [Definition(a, int(counts.get(a.id, 0))) for a in achievements]
