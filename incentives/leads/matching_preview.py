"""Who would have been offered a program's last leads under other matching weights: a preview that changes nothing.

Each of the last 50 offered leads is ranked again with the proposed weights against the program's partners as they
are now (their counters and rotation today, not on the day of the offer: the history of each partner's counters is
not kept), and the first wave is compared with the one sent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts import services as accounts
from incentives.accounts.models import Org
from incentives.accounts.scope import Principal
from incentives.errors import NotFound
from incentives.leads import matching
from incentives.leads.models import Lead, LeadOffer

LAST_LEADS = 50


@dataclass(frozen=True)
class LeadPreview:
    lead_id: int
    offered_at: dt.datetime
    offered: list[int]  # the first wave as it was sent
    would_offer: list[int]  # the first wave under the proposed weights

    @property
    def changed(self) -> bool:
        return set(self.offered) != set(self.would_offer)


async def preview(
    session: AsyncSession, principal: Principal, program_id: int, weights: dict[str, float], now: dt.datetime
) -> list[LeadPreview]:
    program = await accounts.get_program(session, principal, program_id)
    if not principal.manages(program_id):
        raise NotFound()  # partners of the program see nothing of its matching
    proposed = {**matching.weights_of(program), **weights}
    first_offers = (
        select(LeadOffer.lead_id, func.min(LeadOffer.offered_at).label("at"))
        .where(LeadOffer.program_id == program_id, LeadOffer.wave == 1)
        .group_by(LeadOffer.lead_id)
        .order_by(func.min(LeadOffer.offered_at).desc(), LeadOffer.lead_id.desc())
        .limit(LAST_LEADS)
        .subquery()
    )
    leads = (
        await session.execute(select(Lead, first_offers.c.at).join(first_offers, first_offers.c.lead_id == Lead.id))
    ).all()
    if not leads:
        return []
    sent: dict[int, list[int]] = {}
    rows = await session.execute(
        select(LeadOffer.lead_id, LeadOffer.org_id)
        .where(LeadOffer.lead_id.in_([lead.id for lead, _ in leads]), LeadOffer.wave == 1)
        .order_by(LeadOffer.score.desc(), LeadOffer.org_id)
    )
    for lead_id, org_id in rows.all():
        sent.setdefault(lead_id, []).append(org_id)
    partners = await matching.load_partners(session, program_id)
    hard = program.capacity_mode == "hard"
    result = []
    for lead, at in sorted(leads, key=lambda row: (row[1], row[0].id), reverse=True):
        would = matching.rank(lead, partners, proposed, set(), now, limit=program.offer_wave_size, hard_capacity=hard)
        result.append(LeadPreview(lead.id, at, sent.get(lead.id, []), [c.org_id for c in would]))
    return result


@dataclass(frozen=True)
class NamedPreview:
    """A preview with what a page shows for its ids: each lead's company and each partner's name."""

    leads: list[LeadPreview]
    companies: dict[int, str]
    partners: dict[int, str]

    @property
    def changed(self) -> int:
        return sum(item.changed for item in self.leads)


async def named(session: AsyncSession, found: list[LeadPreview]) -> NamedPreview:
    """The names behind a preview's ids (the caller made the preview, so may see them)."""
    org_ids = sorted({org for item in found for org in (*item.offered, *item.would_offer)})
    partners = {
        org_id: name for org_id, name in await session.execute(select(Org.id, Org.name).where(Org.id.in_(org_ids)))
    }
    leads = [item.lead_id for item in found]
    companies = {
        lead_id: company
        for lead_id, company in await session.execute(select(Lead.id, Lead.company).where(Lead.id.in_(leads)))
    }
    return NamedPreview(found, companies, partners)
