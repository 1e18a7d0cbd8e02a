"""Matching: which partner orgs may get a lead (hard filters) and in which order (an explainable score).

Every part of the score lies between 0 and 1; the score is their weighted mean, so a breakdown reads
"competence 1.0 × 3, tier 0.75 × 2, ...". Weights are per program (`Program.matching_weights`).
The history the score needs (won, closed and open leads, the last offer) is kept as counters on the
membership, updated in the same transaction as each transition, so ranking 2,000 partners is one query.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts.models import Membership, Org, Program
from incentives.accounts.roles import OrgKind
from incentives.leads.models import Lead

PARTS = ("competence", "tier", "conversion", "proximity", "capacity", "fairness")
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
# Rotation: a partner's fairness part grows back to 1 within a week after its last offer.
ROTATION_HOURS = 168.0


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
    last_offered_at: dt.datetime | None


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


def parts(lead: Lead, partner: Partner, now: dt.datetime) -> tuple[float, ...]:
    """The six parts of the score, in the order of PARTS."""
    return (
        1.0 if lead.product_line in partner.competencies else 0.0,
        TIER_SCORE.get(partner.tier, 0.0),
        (partner.won + PRIOR_WON) / (partner.closed + PRIOR_CLOSED),
        _proximity(lead, partner),
        _free_capacity(partner),
        _fairness(partner, now),
    )


def explain(org_id: int, values: tuple[float, ...], weights: dict[str, float]) -> Candidate:
    total = sum(weights[name] for name in PARTS) or 1.0
    score = sum(value * weights[name] for name, value in zip(PARTS, values, strict=True)) / total
    breakdown = {
        name: {"value": round(value, 4), "weight": weights[name]} for name, value in zip(PARTS, values, strict=True)
    }
    return Candidate(org_id, round(score, 4), breakdown)


def score(lead: Lead, partner: Partner, weights: dict[str, float], now: dt.datetime) -> Candidate:
    return explain(partner.org_id, parts(lead, partner, now), weights)


def _proximity(lead: Lead, partner: Partner) -> float:
    if lead.lat is not None and lead.lon is not None and partner.lat is not None and partner.lon is not None:
        return 1.0 / (1.0 + distance_km(lead.lat, lead.lon, partner.lat, partner.lon) / 50.0)  # 50 km: 0.5
    if lead.city and partner.city and lead.city.casefold() == partner.city.casefold():
        return 1.0
    return 0.3  # unknown: neither rewarded nor ruled out


def _free_capacity(partner: Partner) -> float:
    if partner.capacity is None:
        return 0.5
    if partner.capacity == 0:
        return 0.0
    return max(0.0, partner.capacity - partner.open_leads) / partner.capacity


def _fairness(partner: Partner, now: dt.datetime) -> float:
    if partner.last_offered_at is None:
        return 1.0
    hours = (now - partner.last_offered_at).total_seconds() / 3600
    return min(1.0, max(0.0, hours) / ROTATION_HOURS)


def weights_of(program: Program) -> dict[str, float]:
    return {**DEFAULT_WEIGHTS, **(program.matching_weights or {})}


async def load_partners(session: AsyncSession, program_id: int) -> list[Partner]:
    """Every reseller membership of the program, with the counters the score needs: one query."""
    rows = await session.execute(
        select(
            Org.id,
            Membership.tier,
            Membership.competencies,
            Membership.certifications,
            Membership.regions,
            Membership.capacity,
            Org.city,
            Org.lat,
            Org.lon,
            Membership.won_leads,
            Membership.closed_leads,
            Membership.open_leads,
            Membership.last_offered_at,
        )
        .join(Org, Org.id == Membership.org_id)
        .where(Membership.program_id == program_id, Org.kind == OrgKind.RESELLER)
    )
    return [
        Partner(
            org_id,
            tier,
            frozenset(comps or ()),
            frozenset(certs or ()),
            tuple(regions or ()),
            capacity,
            city,
            lat,
            lon,
            won,
            closed,
            open_leads,
            last_offered,
        )
        for (
            org_id,
            tier,
            comps,
            certs,
            regions,
            capacity,
            city,
            lat,
            lon,
            won,
            closed,
            open_leads,
            last_offered,
        ) in rows.all()
    ]


def rank(
    lead: Lead,
    partners: list[Partner],
    weights: dict[str, float],
    excluded: set[int],
    now: dt.datetime,
    limit: int | None = None,
) -> list[Candidate]:
    """Eligible partners, best first (ties: the one offered longest ago, then the lower id), explained.

    Only the first `limit` are returned; the hot loop computes plain numbers, the breakdown is built
    for those returned.
    """
    total = sum(weights[name] for name in PARTS) or 1.0
    w = [weights[name] / total for name in PARTS]
    never = dt.datetime.min.replace(tzinfo=dt.UTC)
    required = set(lead.required_certifications or [])
    scored = []
    for partner in partners:
        if (
            partner.org_id in excluded
            or not required <= partner.certifications
            or not serves(partner.regions, lead.country, lead.postal_code)
        ):
            continue
        values = parts(lead, partner, now)
        value = sum(v * x for v, x in zip(values, w, strict=True))
        scored.append((-round(value, 4), partner.last_offered_at or never, partner.org_id, values))
    scored.sort(key=lambda item: item[:3])
    return [explain(org_id, values, weights) for _, _, org_id, values in scored[:limit]]


async def count_offer(session: AsyncSession, program_id: int, org_ids: list[int], now: dt.datetime) -> None:
    await session.execute(
        update(Membership)
        .where(Membership.program_id == program_id, Membership.org_id.in_(org_ids))
        .values(last_offered_at=now)
    )


async def count_lead(
    session: AsyncSession, program_id: int, org_id: int, *, opened: int = 0, closed: int = 0, won: int = 0
) -> None:
    """Move the org's lead counters with a transition (reserve: opened=1; won: opened=-1, closed=1, won=1)."""
    await session.execute(
        update(Membership)
        .where(Membership.program_id == program_id, Membership.org_id == org_id)
        .values(
            open_leads=Membership.open_leads + opened,
            closed_leads=Membership.closed_leads + closed,
            won_leads=Membership.won_leads + won,
        )
    )
