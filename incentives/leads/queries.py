"""Read queries of the leads domain for pages and the API: one lead, a partner's own leads, a lead's offers
and trail, the manager's overview and the API's lead list. Scope checks stay in services (`lead_for`,
`lead_scope`); these take what the caller is allowed to see."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts.models import Org
from incentives.leads.models import Lead, LeadEvent, LeadOffer, LeadStatus, OfferState

RECENTLY_CLOSED = 20


async def lead(session: AsyncSession, lead_id: int) -> Lead | None:
    return await session.get(Lead, lead_id)


@dataclass(frozen=True)
class OwnLeads:
    open: list[Lead]  # reserved, the next feedback due first
    closed: list[Lead]  # won or lost, the latest first


async def own_leads(session: AsyncSession, org_id: int) -> OwnLeads:
    """The leads a partner has reserved and not closed, and its recently closed ones."""
    reserved = await session.scalars(
        select(Lead)
        .where(Lead.reserved_by_org_id == org_id, Lead.status == LeadStatus.RESERVED)
        .order_by(Lead.feedback_due_at)
    )
    closed = await session.scalars(
        select(Lead)
        .where(Lead.reserved_by_org_id == org_id, Lead.status.in_([LeadStatus.WON, LeadStatus.LOST]))
        .order_by(Lead.closed_at.desc())
        .limit(RECENTLY_CLOSED)
    )
    return OwnLeads(list(reserved.all()), list(closed.all()))


async def reserved_among(session: AsyncSession, org_id: int, lead_ids: list[int]) -> list[Lead]:
    """Those of `lead_ids` the org holds reserved, soonest feedback due first (the gate's overdue leads)."""
    rows = await session.scalars(
        select(Lead)
        .where(Lead.id.in_(lead_ids), Lead.reserved_by_org_id == org_id, Lead.status == LeadStatus.RESERVED)
        .order_by(Lead.feedback_due_at)
    )
    return list(rows)


async def open_offers(session: AsyncSession, org_id: int, lead_ids: list[int]) -> list[tuple[Lead, dt.datetime]]:
    """Those of `lead_ids` offered to the org now (open offer, lead still offered), with when it was offered."""
    if not lead_ids:
        return []
    rows = await session.execute(
        select(Lead, LeadOffer.offered_at)
        .join(LeadOffer, LeadOffer.lead_id == Lead.id)
        .where(
            Lead.id.in_(lead_ids),
            LeadOffer.org_id == org_id,
            LeadOffer.state == OfferState.OPEN,
            Lead.status == LeadStatus.OFFERED,
        )
    )
    return [(found, offered_at) for found, offered_at in rows.all()]


async def offers_of(session: AsyncSession, lead_id: int) -> list[tuple[LeadOffer, str]]:
    """Every offer of a lead with the partner's name, by wave and then best score."""
    rows = await session.execute(
        select(LeadOffer, Org.name)
        .join(Org, Org.id == LeadOffer.org_id)
        .where(LeadOffer.lead_id == lead_id)
        .order_by(LeadOffer.wave, LeadOffer.score.desc())
    )
    return [(offer, name) for offer, name in rows.all()]


async def trail_of(session: AsyncSession, lead_id: int) -> list[LeadEvent]:
    """A lead's events, oldest first."""
    return list(
        (await session.scalars(select(LeadEvent).where(LeadEvent.lead_id == lead_id).order_by(LeadEvent.id))).all()
    )


@dataclass(frozen=True)
class ProgramLeads:
    overdue: list[tuple[str, int]]  # partners with overdue feedback and how many leads, the most first
    counts: dict[str, int]  # leads by status


async def program_leads(session: AsyncSession, program_id: int, now: dt.datetime) -> ProgramLeads:
    """The manager's overview of a program's leads: counts by status and the partners owing feedback."""
    overdue = await session.execute(
        select(Org.name, func.count())
        .join(Lead, Lead.reserved_by_org_id == Org.id)
        .where(Lead.program_id == program_id, Lead.status == LeadStatus.RESERVED, Lead.feedback_due_at <= now)
        .group_by(Org.name)
        .order_by(func.count().desc())
    )
    counts = await session.execute(
        select(Lead.status, func.count()).where(Lead.program_id == program_id).group_by(Lead.status)
    )
    return ProgramLeads(
        [(name, count) for name, count in overdue.all()],
        {found_status: count for found_status, count in counts.all()},
    )


async def leads_in_scope(
    session: AsyncSession,
    scope: ColumnElement[bool],
    *,
    status: str | None = None,
    program_id: int | None = None,
    before: int | None = None,
    limit: int,
) -> tuple[list[Lead], int | None]:
    """A page of the leads `scope` (a `services.lead_scope` clause) admits, newest first, and the next cursor."""
    query = select(Lead).where(scope)
    if status:
        query = query.where(Lead.status == status)
    if program_id is not None:
        query = query.where(Lead.program_id == program_id)
    if before:
        query = query.where(Lead.id < before)
    found = (await session.scalars(query.order_by(Lead.id.desc()).limit(limit + 1))).all()
    page = list(found[:limit])
    return page, page[-1].id if len(found) > limit else None
