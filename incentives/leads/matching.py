"""Matching: which partner orgs may get a lead (hard filters) and in which order (an explainable score).

Every part of the score lies between 0 and 1; the score is their weighted mean, so a breakdown reads
"competence 1.0 × 3, tier 0.75 × 2, ...". Weights are per program (`Program.matching_weights`).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts.models import Membership, Org, Program
from incentives.accounts.roles import OrgKind
from incentives.leads.models import Lead, LeadOffer, LeadStatus, OfferState

DEFAULT_WEIGHTS: dict[str, float] = {
    "competence": 3.0,
    "tier": 2.0,
    "conversion": 2.0,
    "proximity": 2.0,
    "capacity": 1.0,
    "fairness": 1.5,
}
TIER_SCORE = {"platinum": 1.0, "gold": 0.75, "silver": 0.5, "registered": 0.25}
# Beta prior for conversion: a partner with no history counts as 2 won of 5 closed (40 %), so newcomers
# are neither starved nor favoured; real results outweigh the prior after a handful of leads.
PRIOR_WON, PRIOR_CLOSED = 2.0, 5.0
FAIRNESS_WINDOW = dt.timedelta(days=30)


@dataclass(frozen=True)
class Candidate:
    org_id: int
    score: float
    breakdown: dict[str, dict[str, float]]


@dataclass(frozen=True)
class Partner:
    org_id: int
    tier: str
    competencies: frozenset[str]
    certifications: frozenset[str]
    regions: tuple[str, ...]
    capacity: int | None
    city: str | None
    lat: float | None
    lon: float | None
    won: int
    closed: int
    open_leads: int
    recent_offers: int


def serves(regions: Iterable[str], country: str, postal_code: str | None) -> bool:
    """A region is a country (DE) or a country and postal prefix (DE-80 serves 80331)."""
    for region in regions:
        code, _, prefix = region.partition("-")
        if code == country and (not prefix or (postal_code or "").startswith(prefix)):
            return True
    return False


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(min(1.0, a)))


def eligible(lead: Lead, partner: Partner, excluded: set[int]) -> bool:
    return (
        partner.org_id not in excluded
        and serves(partner.regions, lead.country, lead.postal_code)
        and set(lead.required_certifications or []) <= partner.certifications
    )


def score(lead: Lead, partner: Partner, weights: dict[str, float]) -> Candidate:
    parts = {
        "competence": 1.0 if lead.product_line in partner.competencies else 0.0,
        "tier": TIER_SCORE.get(partner.tier, 0.0),
        "conversion": (partner.won + PRIOR_WON) / (partner.closed + PRIOR_CLOSED),
        "proximity": _proximity(lead, partner),
        "capacity": _free_capacity(partner),
        "fairness": 1.0 / (1.0 + partner.recent_offers / 10.0),
    }
    total_weight = sum(weights[name] for name in parts) or 1.0
    value = sum(parts[name] * weights[name] for name in parts) / total_weight
    breakdown = {name: {"value": round(parts[name], 4), "weight": weights[name]} for name in parts}
    return Candidate(partner.org_id, round(value, 4), breakdown)


def _proximity(lead: Lead, partner: Partner) -> float:
    if None not in (lead.lat, lead.lon, partner.lat, partner.lon):
        km = distance_km(lead.lat, lead.lon, partner.lat, partner.lon)  # type: ignore[arg-type]
        return 1.0 / (1.0 + km / 50.0)  # 50 km away scores 0.5
    if lead.city and partner.city and lead.city.casefold() == partner.city.casefold():
        return 1.0
    return 0.3  # unknown: neither rewarded nor ruled out


def _free_capacity(partner: Partner) -> float:
    if partner.capacity is None:
        return 0.5
    if partner.capacity == 0:
        return 0.0
    return max(0.0, partner.capacity - partner.open_leads) / partner.capacity


def weights_of(program: Program) -> dict[str, float]:
    return {**DEFAULT_WEIGHTS, **(program.matching_weights or {})}


async def load_partners(session: AsyncSession, program_id: int, now: dt.datetime) -> list[Partner]:
    """Every reseller membership of the program with the history the score needs (four queries)."""
    members = (
        await session.execute(
            select(Membership, Org)
            .join(Org, Org.id == Membership.org_id)
            .where(Membership.program_id == program_id, Org.kind == OrgKind.RESELLER)
        )
    ).all()
    results = dict(
        (org_id, (won, closed))
        for org_id, won, closed in (
            await session.execute(
                select(
                    Lead.reserved_by_org_id,
                    func.sum(case((Lead.status == LeadStatus.WON, 1), else_=0)),
                    func.count(),
                )
                .where(Lead.program_id == program_id, Lead.status.in_([LeadStatus.WON, LeadStatus.LOST]))
                .group_by(Lead.reserved_by_org_id)
            )
        ).all()
    )
    open_leads = dict(
        (
            await session.execute(
                select(Lead.reserved_by_org_id, func.count())
                .where(Lead.status == LeadStatus.RESERVED, Lead.reserved_by_org_id.is_not(None))
                .group_by(Lead.reserved_by_org_id)
            )
        ).all()
    )
    recent = dict(
        (
            await session.execute(
                select(LeadOffer.org_id, func.count())
                .where(LeadOffer.program_id == program_id, LeadOffer.offered_at >= now - FAIRNESS_WINDOW)
                .group_by(LeadOffer.org_id)
            )
        ).all()
    )
    return [
        Partner(
            org_id=org.id,
            tier=m.tier,
            competencies=frozenset(m.competencies or []),
            certifications=frozenset(m.certifications or []),
            regions=tuple(m.regions or []),
            capacity=m.capacity,
            city=org.city,
            lat=org.lat,
            lon=org.lon,
            won=int(results.get(org.id, (0, 0))[0] or 0),
            closed=int(results.get(org.id, (0, 0))[1] or 0),
            open_leads=int(open_leads.get(org.id, 0)),
            recent_offers=int(recent.get(org.id, 0)),
        )
        for m, org in members
    ]


def rank(lead: Lead, partners: list[Partner], weights: dict[str, float], excluded: set[int]) -> list[Candidate]:
    """Eligible partners, best first; ties go to the org that has had fewer offers, then the lower id."""
    by_org = {p.org_id: p for p in partners}
    candidates = [score(lead, p, weights) for p in partners if eligible(lead, p, excluded)]
    return sorted(candidates, key=lambda c: (-c.score, by_org[c.org_id].recent_offers, c.org_id))


async def excluded_orgs(session: AsyncSession, lead_id: int) -> set[int]:
    """Orgs that returned the lead: never offered it again."""
    rows = await session.scalars(
        select(LeadOffer.org_id).where(LeadOffer.lead_id == lead_id, LeadOffer.state == OfferState.RETURNED)
    )
    return set(rows.all())
