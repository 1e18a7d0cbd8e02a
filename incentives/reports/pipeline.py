"""PLI, the pipeline index: a scope's open weighted pipeline per partner against the program's mean per partner.

The open pipeline is every lead a partner holds reserved now, worth its estimated value times the weight of its
last feedback stage (program setting `pipeline_weights`; contacted 10 %, meeting 25 %, proposal 50 % unless set;
no feedback yet or not reachable: 0). 100 is the program's average; None when the program has no open pipeline.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts.models import Program
from incentives.leads.models import Lead, LeadStatus
from incentives.reports.kpi_scopes import KpiScope, orgs_in, reseller_members

DEFAULT_WEIGHTS = {"contacted": 0.10, "meeting": 0.25, "proposal": 0.50}


async def weights_of(session: AsyncSession, program_id: int) -> dict[str, float]:
    stored = await session.scalar(select(Program.pipeline_weights).where(Program.id == program_id))
    return {**DEFAULT_WEIGHTS, **(stored or {})}


def _weighted(weights: dict[str, float]) -> Any:
    weight = case(*((Lead.last_feedback == stage, value) for stage, value in weights.items()), else_=0.0)
    return func.coalesce(func.sum(weight * func.coalesce(Lead.estimated_value, 0)), 0)


def _open(program_id: int) -> Any:
    return (Lead.program_id == program_id, Lead.status == LeadStatus.RESERVED)


async def _program_mean(session: AsyncSession, program_id: int, weights: dict[str, float]) -> float | None:
    total = await session.scalar(select(_weighted(weights)).where(*_open(program_id)))
    partners = await session.scalar(
        select(func.count()).select_from(reseller_members(program_id, KpiScope("program")).subquery())
    )
    if not partners or not total:
        return None
    return float(Decimal(str(total))) / partners


async def pipeline_index(
    session: AsyncSession, program_id: int, scope: KpiScope, weights: dict[str, float] | None = None
) -> float | None:
    weights = weights or await weights_of(session, program_id)
    mean = await _program_mean(session, program_id, weights)
    if mean is None:
        return None
    statement = select(_weighted(weights)).where(*_open(program_id))
    if scope.kind == "rep":
        statement = statement.where(Lead.reserved_by_user_id == scope.id)
        partners = 1
    else:
        if scope.of_partners:
            statement = statement.where(Lead.reserved_by_org_id.in_(orgs_in(program_id, scope)))
        members = reseller_members(program_id, scope).subquery()
        partners = int(await session.scalar(select(func.count()).select_from(members)) or 0)
    if not partners:
        return None
    total = float(Decimal(str(await session.scalar(statement) or 0)))
    return total / partners / mean * 100


async def pipelines_by_rep(
    session: AsyncSession, program_id: int, weights: dict[str, float] | None = None
) -> tuple[dict[int, float], float | None]:
    """Each rep's PLI (its open pipeline against the program's mean per partner), and what a rep with nothing
    open has: 0 while the program has a pipeline, else None."""
    weights = weights or await weights_of(session, program_id)
    mean = await _program_mean(session, program_id, weights)
    if mean is None:
        return {}, None
    statement = (
        select(Lead.reserved_by_user_id, _weighted(weights))
        .where(*_open(program_id), Lead.reserved_by_user_id.is_not(None))
        .group_by(Lead.reserved_by_user_id)
    )
    rows = (await session.execute(statement)).all()
    return {user_id: float(Decimal(str(total))) / mean * 100 for user_id, total in rows}, 0.0


async def pipelines_by_org(
    session: AsyncSession, program_id: int, scope: KpiScope, weights: dict[str, float] | None = None
) -> dict[int, float]:
    """Each partner's PLI in the scope (partners with nothing open have 0 while the program has a pipeline)."""
    weights = weights or await weights_of(session, program_id)
    mean = await _program_mean(session, program_id, weights)
    if mean is None:
        return {}
    statement = (
        select(Lead.reserved_by_org_id, _weighted(weights)).where(*_open(program_id)).group_by(Lead.reserved_by_org_id)
    )
    if scope.of_partners:
        statement = statement.where(Lead.reserved_by_org_id.in_(orgs_in(program_id, scope)))
    found = {
        org_id: float(Decimal(str(total))) / mean * 100 for org_id, total in (await session.execute(statement)).all()
    }
    members = await session.scalars(reseller_members(program_id, scope))
    return {org_id: found.get(org_id, 0.0) for org_id in members} | found
