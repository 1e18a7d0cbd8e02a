"""Read queries about campaigns for partners' pages: the campaigns a partner takes part in now."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts.models import Membership, Org
from incentives.rules.campaigns import Segment
from incentives.rules.models import Campaign


async def running_campaigns_for(
    session: AsyncSession, program_id: int, org_id: int, now: dt.datetime
) -> list[Campaign]:
    """Campaigns running now whose segment holds the partner (tier and regions; a campaign on some product lines
    holds it too, it pays on leads of those lines), the soonest to end first."""
    partner = (
        await session.execute(
            select(Membership.tier, Membership.regions, Org.country)
            .join(Org, Org.id == Membership.org_id)
            .where(Membership.program_id == program_id, Membership.org_id == org_id)
        )
    ).first()
    if partner is None:
        return []
    running = await session.scalars(
        select(Campaign)
        .where(Campaign.program_id == program_id, Campaign.starts_at <= now, Campaign.ends_at > now)
        .order_by(Campaign.ends_at, Campaign.id)
    )
    regions = (*(partner.regions or ()), partner.country)
    return [
        campaign
        for campaign in running
        if Segment(tuple(campaign.tiers), tuple(campaign.regions)).holds(partner.tier, regions, None)
    ]
