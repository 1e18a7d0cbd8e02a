"""A partner's level in a program: the highest level whose threshold its points of the last 12 months reach,
and how many points the next one needs ("240 points to Gold"). Read from the ledger; the tier is untouched."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts.levels import Level, parse_levels
from incentives.accounts.models import Program
from incentives.errors import NotFound
from incentives.ledger import queries as ledger_queries


@dataclass(frozen=True)
class NextLevel:
    key: str
    name_de: str
    name_en: str
    threshold: int
    points_needed: int

    def name(self, locale: str) -> str:
        return self.name_de if locale == "de" else self.name_en


@dataclass(frozen=True)
class LevelProgress:
    key: str
    name_de: str
    name_en: str
    threshold: int
    points: int  # earned over the last 12 months
    next: NextLevel | None

    def name(self, locale: str) -> str:
        return self.name_de if locale == "de" else self.name_en

    @property
    def percent(self) -> int:
        """How far from this level's threshold to the next one, 0–100 (100 at the top level)."""
        if self.next is None:
            return 100
        span = self.next.threshold - self.threshold
        return min(100, max(0, (self.points - self.threshold) * 100 // span))


def year_before(now: dt.datetime) -> dt.datetime:
    """The same moment 12 months earlier (28 February for a 29 February)."""
    try:
        return now.replace(year=now.year - 1)
    except ValueError:
        return now.replace(year=now.year - 1, day=28)


def progress(levels: list[Level], points: int) -> LevelProgress:
    """Where `points` stand on `levels` (lowest first, the first at 0)."""
    reached = [level for level in levels if level.threshold <= points] or levels[:1]
    current = reached[-1]
    above = [level for level in levels if level.threshold > points]
    following = None
    if above:
        up = above[0]
        following = NextLevel(up.key, up.name_de, up.name_en, up.threshold, up.threshold - points)
    return LevelProgress(current.key, current.name_de, current.name_en, current.threshold, points, following)


async def level_of(session: AsyncSession, program_id: int, org_id: int, now: dt.datetime) -> LevelProgress:
    """The org's level in the program, from the points it earned in the 12 months up to `now`."""
    setting = await session.scalar(select(Program.levels).where(Program.id == program_id))
    if setting is None:
        raise NotFound()
    points = await ledger_queries.earned_between(session, program_id, org_id, year_before(now), now)
    return progress(parse_levels(setting), points)
