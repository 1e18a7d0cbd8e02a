"""A reseller manager's team: per user of its own org in one program, the points earned (as the reps' leaderboard
counts them), leads reserved and feedback given in this week, month or quarter, and feedback overdue now.

Reseller managers only, for the programs their org is a member of; anything else answers NotFound, so a rep or
another org never sees a team's figures.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts.models import User
from incentives.accounts.queries import member_program_ids
from incentives.accounts.roles import Role
from incentives.accounts.scope import Principal
from incentives.db import Database
from incentives.errors import NotFound
from incentives.leaderboard import periods, scopes
from incentives.leaderboard.queries import board
from incentives.leads.models import Lead, LeadEvent, LeadStatus
from incentives.local_time import LOCAL
from incentives.reports.partner_home import partner_programs

PERIODS = ("week", "month", "quarter")
TEAM_LIMIT = 1000  # users of one reseller: far fewer in practice; the board is read in one go


@dataclass(frozen=True)
class RepActivity:
    user_id: int
    name: str
    role: str
    points: int  # earned in the period (awards less reversals credited to the user)
    reserved: int  # leads the user reserved in the period
    feedback: int  # feedback the user gave in the period (every status sent, repeats included)
    overdue: int  # the user's reserved leads whose feedback is overdue now


def period_start(kind: str, now: dt.datetime) -> dt.datetime:
    """When this week (Monday), month or quarter began in Europe/Berlin, in UTC (as the leaderboards count)."""
    local = now.astimezone(LOCAL).date()
    if kind == "week":
        first = local - dt.timedelta(days=local.weekday())
    elif kind == "month":
        first = local.replace(day=1)
    else:
        first = local.replace(month=(local.month - 1) // 3 * 3 + 1, day=1)
    return dt.datetime.combine(first, dt.time(), tzinfo=LOCAL).astimezone(dt.UTC)


async def team_programs(session: AsyncSession, principal: Principal) -> list[tuple[int, str]]:
    """The programs a reseller manager's org is a member of; any other role: NotFound."""
    if principal.role is not Role.RESELLER_MANAGER:
        raise NotFound()
    own = set(await member_program_ids(session, principal.org_id))
    return [(program_id, name) for program_id, name in await partner_programs(session, principal) if program_id in own]


async def team_activity(
    db: Database, session: AsyncSession, principal: Principal, program_id: int, period: str, now: dt.datetime
) -> list[RepActivity]:
    """Every active user of the manager's org with its figures in the current `period`, by name."""
    if period not in PERIODS:
        raise NotFound()
    if program_id not in {pid for pid, _ in await team_programs(session, principal)}:
        raise NotFound()
    org_id = principal.org_id
    users = (
        await session.execute(
            select(User.id, User.name, User.role)
            .where(User.org_id == org_id, User.program_id.is_(None), User.active.is_(True))
            .order_by(User.name, User.id)
        )
    ).all()
    found = await board(
        db,
        session,
        program_id,
        periods.parse(period, now),
        scopes.parse(f"reps:{org_id}"),
        limit=TEAM_LIMIT,
        now=now,
    )
    points = {row.subject_id: row.points for row in found.rows}
    start = period_start(period, now)
    acts = await session.execute(
        select(
            LeadEvent.actor_id,
            func.sum(case((LeadEvent.kind == "reserved", 1), else_=0)),
            func.sum(case((LeadEvent.kind == "feedback", 1), else_=0)),
        )
        .where(
            LeadEvent.program_id == program_id,
            LeadEvent.org_id == org_id,
            LeadEvent.kind.in_(("reserved", "feedback")),
            LeadEvent.at >= start,
            LeadEvent.at <= now,
        )
        .group_by(LeadEvent.actor_id)
    )
    counts = {actor: (int(reserved), int(feedback)) for actor, reserved, feedback in acts.all()}
    late = await session.execute(
        select(Lead.reserved_by_user_id, func.count())
        .where(
            Lead.program_id == program_id,
            Lead.reserved_by_org_id == org_id,
            Lead.status == LeadStatus.RESERVED,
            Lead.feedback_due_at <= now,
        )
        .group_by(Lead.reserved_by_user_id)
    )
    overdue = {user_id: int(n) for user_id, n in late.all()}
    return [
        RepActivity(
            user_id,
            name,
            role,
            points.get(user_id, 0),
            *counts.get(user_id, (0, 0)),
            overdue.get(user_id, 0),
        )
        for user_id, name, role in users
    ]
