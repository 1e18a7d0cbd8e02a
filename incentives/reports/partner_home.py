"""What a partner's home page shows for one program: balance, level, rank on the program board and in its
tier's league, expiring points, leads owing feedback, campaigns it is in; and the same in brief for each
reseller below a distributor. All of it read from the ledger, the boards, the leads and the rules."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts.models import Membership, Org, Program
from incentives.accounts.scope import Principal, visible_programs
from incentives.db import Database
from incentives.engagement.levels import LevelProgress, level_of
from incentives.engagement.progress import AchievementProgress, achievements_of
from incentives.leaderboard import periods, scopes
from incentives.leaderboard.queries import Board, board
from incentives.leads import queries as lead_queries
from incentives.leads.models import Lead
from incentives.leads.streaks import Streak, streaks_of
from incentives.ledger import queries as ledger_queries
from incentives.ledger.queries import Balance, Expiring
from incentives.rules.campaign_queries import running_campaigns_for
from incentives.rules.models import Campaign

OWING_SHOWN = 5


@dataclass(frozen=True)
class Standing:
    """The partner's row on one board this month."""

    scope: str  # "program" or "tier"
    rank: int
    of: int
    points: int
    movement: int | None  # places gained since the week began
    behind: int | None  # points behind the row above, None when first


@dataclass(frozen=True)
class PartnerHome:
    program_id: int
    org_id: int
    org_name: str
    tier: str
    balance: Balance
    level: LevelProgress
    standings: list[Standing]
    expiring: list[Expiring]
    owing: list[Lead]  # reserved leads of this program, the next feedback due first
    overdue: int
    campaigns: list[Campaign]
    streaks: list[Streak]
    next_achievements: list[AchievementProgress]  # the closest badges not earned yet, challenges first


NEXT_ACHIEVEMENTS = 3


def _next(achievements: list[AchievementProgress]) -> list[AchievementProgress]:
    open_ones = [a for a in achievements if not a.earned or a.progress < a.target]
    open_ones.sort(key=lambda a: (a.ends_at is None, -(a.progress / a.target if a.target else 0), a.id))
    return open_ones[:NEXT_ACHIEVEMENTS]


@dataclass(frozen=True)
class ResellerRow:
    org_id: int
    name: str
    tier: str
    available: int
    level: LevelProgress
    rank: Standing | None
    owing: int
    overdue: int


async def partner_programs(session: AsyncSession, principal: Principal) -> list[tuple[int, str]]:
    """(id, name) of the programs a partner sees (its own memberships, or those of the orgs below it)."""
    rows = await session.execute(
        select(Program.id, Program.name).where(visible_programs(principal)).order_by(Program.id)
    )
    return [(program_id, name) for program_id, name in rows.all()]


async def resellers_below(session: AsyncSession, program_id: int, distributor_id: int) -> list[tuple[int, str, str]]:
    """(org id, name, tier) of the program's resellers below the distributor, by name."""
    rows = await session.execute(
        select(Org.id, Org.name, Membership.tier)
        .join(Membership, Membership.org_id == Org.id)
        .where(Membership.program_id == program_id, Membership.distributor_id == distributor_id)
        .order_by(Org.name, Org.id)
    )
    return [(org_id, name, tier) for org_id, name, tier in rows.all()]


def _standing(scope: str, found: Board) -> Standing | None:
    if found.me is None:
        return None
    ahead = found.ahead
    return Standing(
        scope,
        found.me.rank,
        found.of,
        found.me.points,
        found.me.movement,
        ahead.points - found.me.points if ahead else None,
    )


async def _standings(
    db: Database, session: AsyncSession, program_id: int, org_id: int, tier: str, now: dt.datetime
) -> list[Standing]:
    month = periods.parse("month", now)
    found = []
    for scope, name in (("program", "program"), ("tier", f"tier:{tier}")):
        row = _standing(
            scope, await board(db, session, program_id, month, scopes.parse(name), limit=3, me=org_id, now=now)
        )
        if row is not None:
            found.append(row)
    return found


async def _owing(session: AsyncSession, program_id: int, org_id: int, now: dt.datetime) -> tuple[list[Lead], int]:
    own = [lead for lead in (await lead_queries.own_leads(session, org_id)).open if lead.program_id == program_id]
    overdue = sum(1 for lead in own if lead.feedback_due_at is not None and lead.feedback_due_at <= now)
    return own, overdue


async def partner_home(
    db: Database, session: AsyncSession, program_id: int, org_id: int, now: dt.datetime
) -> PartnerHome:
    """The home of one partner org in one program it is a member of (the caller checked the scope)."""
    name, tier = (
        await session.execute(
            select(Org.name, Membership.tier)
            .join(Membership, Membership.org_id == Org.id)
            .where(Membership.program_id == program_id, Membership.org_id == org_id)
        )
    ).one()
    owing, overdue = await _owing(session, program_id, org_id, now)
    return PartnerHome(
        program_id=program_id,
        org_id=org_id,
        org_name=name,
        tier=tier,
        balance=await ledger_queries.balance(session, program_id, org_id),
        level=await level_of(session, program_id, org_id, now),
        standings=await _standings(db, session, program_id, org_id, tier, now),
        expiring=await ledger_queries.expiring(session, program_id, org_id, now=now),
        owing=owing[:OWING_SHOWN],
        overdue=overdue,
        campaigns=await running_campaigns_for(session, program_id, org_id, now),
        streaks=await streaks_of(session, program_id, org_id, now),
        next_achievements=_next(await achievements_of(session, program_id, org_id, now)),
    )


async def reseller_rows(
    db: Database, session: AsyncSession, program_id: int, distributor_id: int, now: dt.datetime
) -> list[ResellerRow]:
    """One line per reseller below the distributor: balance, level, rank this month, feedback owed."""
    month = periods.parse("month", now)
    rows = []
    for org_id, name, tier in await resellers_below(session, program_id, distributor_id):
        owing, overdue = await _owing(session, program_id, org_id, now)
        ranked = await board(db, session, program_id, month, scopes.parse("program"), limit=1, me=org_id, now=now)
        rows.append(
            ResellerRow(
                org_id=org_id,
                name=name,
                tier=tier,
                available=(await ledger_queries.balance(session, program_id, org_id)).available,
                level=await level_of(session, program_id, org_id, now),
                rank=_standing("program", ranked),
                owing=len(owing),
                overdue=overdue,
            )
        )
    return rows
