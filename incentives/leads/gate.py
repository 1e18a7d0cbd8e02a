"""The feedback gate: a partner that owes overdue feedback in a program may still see its pick list there, but
reserves nothing more until it answers (how many overdue leads are tolerated is the program's setting)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts.models import Program
from incentives.leads.models import Lead, LeadStatus


async def overdue_lead_ids(
    session: AsyncSession, org_id: int, now: dt.datetime, program_id: int | None = None
) -> dict[int, list[int]]:
    """The org's reserved leads whose feedback is overdue, by program."""
    query = select(Lead.program_id, Lead.id).where(
        Lead.reserved_by_org_id == org_id, Lead.status == LeadStatus.RESERVED, Lead.feedback_due_at <= now
    )
    if program_id is not None:
        query = query.where(Lead.program_id == program_id)
    result: dict[int, list[int]] = {}
    for program, lead_id in (await session.execute(query.order_by(Lead.feedback_due_at))).all():
        result.setdefault(program, []).append(lead_id)
    return result


async def blocked_programs(session: AsyncSession, org_id: int, now: dt.datetime) -> dict[int, list[int]]:
    """The feedback gate: programs in which the org owes more overdue feedback than the program allows."""
    overdue = await overdue_lead_ids(session, org_id, now)
    if not overdue:
        return {}
    limits = dict(
        (await session.execute(select(Program.id, Program.max_overdue_leads).where(Program.id.in_(overdue)))).all()
    )
    return {program: ids for program, ids in overdue.items() if len(ids) > limits[program]}
