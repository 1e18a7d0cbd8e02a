"""The pick list: teasers of the leads offered to an org across all its programs, and the feedback gate."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import case, select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts.models import Program
from incentives.leads.gate import blocked_programs
from incentives.leads.models import Lead, LeadOffer, LeadStatus, OfferState

SORTS = ("time_left", "temperature", "value")
VALUE_BANDS = ((Decimal(10_000), "under_10k"), (Decimal(50_000), "10k_50k"), (Decimal(250_000), "50k_250k"))


@dataclass(frozen=True)
class Teaser:
    lead_id: int
    program_id: int
    program: str
    temperature: str
    product_line: str
    industry: str | None
    country: str
    postal_prefix: str | None
    value_band: str
    offered_at: dt.datetime
    expires_at: dt.datetime | None
    can_reserve: bool


@dataclass
class PickList:
    can_reserve: bool
    blocked_by: list[int]
    items: list[Teaser] = field(default_factory=list)


def value_band(value: Decimal | None) -> str:
    if value is None:
        return "unknown"
    for limit, band in VALUE_BANDS:
        if value < limit:
            return band
    return "over_250k"


async def pick_list(
    session: AsyncSession,
    org_id: int,
    now: dt.datetime,
    *,
    temperature: str | None = None,
    sort: str = "time_left",
    limit: int = 200,
) -> PickList:
    """What the org may pick now. Teasers only: never company, contact or notes."""
    blocked = await blocked_programs(session, org_id, now)
    hot_first = case({"hot": 0, "warm": 1, "cold": 2}, value=Lead.temperature)
    order = {
        "time_left": (Lead.expires_at.asc(), Lead.id),
        "temperature": (hot_first, Lead.expires_at.asc(), Lead.id),
        "value": (Lead.estimated_value.desc().nulls_last(), Lead.id),
    }[sort if sort in SORTS else "time_left"]
    query = (
        select(
            Lead.id,
            Lead.program_id,
            Program.name,
            Lead.temperature,
            Lead.product_line,
            Lead.industry,
            Lead.country,
            Lead.postal_code,
            Lead.estimated_value,
            LeadOffer.offered_at,
            Lead.expires_at,
        )
        .join(LeadOffer, LeadOffer.lead_id == Lead.id)
        .join(Program, Program.id == Lead.program_id)
        .where(LeadOffer.org_id == org_id, LeadOffer.state == OfferState.OPEN, Lead.status == LeadStatus.OFFERED)
        .order_by(*order)
        .limit(limit)
    )
    if temperature:
        query = query.where(Lead.temperature == temperature)
    rows = (await session.execute(query)).all()
    items = [
        Teaser(
            lead_id=r[0],
            program_id=r[1],
            program=r[2],
            temperature=r[3],
            product_line=r[4],
            industry=r[5],
            country=r[6],
            postal_prefix=(r[7] or "")[:2] or None,
            value_band=value_band(r[8]),
            offered_at=r[9],
            expires_at=r[10],
            can_reserve=r[1] not in blocked,
        )
        for r in rows
    ]
    blocked_ids = sorted({lead_id for ids in blocked.values() for lead_id in ids})
    return PickList(can_reserve=not blocked, blocked_by=blocked_ids, items=items)
