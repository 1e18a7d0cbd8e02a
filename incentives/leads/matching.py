"""Matching: which partner orgs may get a lead (hard filters) and in which order (an explainable score).

Every part of the score lies between 0 and 1; the score is their weighted mean, so a breakdown reads
"competence 1.0 × 3, tier 0.75 × 2, ...". Weights are per program (`Program.matching_weights`).
The history the score needs (won, closed and open leads, the last offer) is kept as counters on the
membership, updated in the same transaction as each transition, so ranking 2,000 partners is one query.
"""

from __future__ import annotations

import datetime as dt
import heapq
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts.models import Membership, Org, Program
from incentives.accounts.roles import OrgKind

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


class LeadFacts(Protocol):
    """What matching reads of a lead: an ORM `Lead`, or the plain row a sweep selects."""

    @property
    def product_line(self) -> str: ...
    @property
    def country(self) -> str: ...
    @property
    def postal_code(self) -> str | None: ...
    @property
    def city(self) -> str | None: ...
    @property
    def lat(self) -> float | None: ...
    @property
    def lon(self) -> float | None: ...
    @property
    def required_certifications(self) -> list[str]: ...


@dataclass(frozen=True)
class Candidate:
    org_id: int
    score: float
    breakdown: dict[str, dict[str, float]]


class Profile(NamedTuple):
    """What matching needs of a partner that changes only with its membership or org record."""

    org_id: int
    tier: str
    competencies: frozenset[str]
    certifications: frozenset[str]
    regions: tuple[str, ...]
    served: tuple[tuple[str, str], ...]  # the regions as (country, postal prefix)
    capacity: int | None
    city: str | None
    lat: float | None
    lon: float | None


class Partner(NamedTuple):
    """A profile with its current counters, flat: matching reads these fields in its hot loop.

    Named tuples, not dataclasses: a load builds thousands of them, and a tuple is built several times faster.
    """

    org_id: int
    tier: str
    competencies: frozenset[str]
    certifications: frozenset[str]
    regions: tuple[str, ...]
    served: tuple[tuple[str, str], ...]
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


def parts(lead: LeadFacts, partner: Partner, now: dt.datetime) -> tuple[float, ...]:
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


def score(lead: LeadFacts, partner: Partner, weights: dict[str, float], now: dt.datetime) -> Candidate:
    return explain(partner.org_id, parts(lead, partner, now), weights)


def _proximity(lead: LeadFacts, partner: Partner) -> float:
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


def _partner(p: Profile, won: int, closed: int, open_leads: int, last_offered: dt.datetime | None) -> Partner:
    return Partner(*p, won, closed, open_leads, last_offered)


# Profiles per program, cached in each process and checked against the database on every load.
# Memberships and orgs are only ever added (their counters change, but those are read fresh each
# time), so the database, the number of memberships, the highest membership id and the newest
# membership's time identify the profile set. Code that one day edits a membership or an org's
# location must clear this cache or extend the check.
_PROFILES: dict[int, tuple[tuple[Any, ...], dict[int, Profile]]] = {}


async def load_partners(session: AsyncSession, program_id: int) -> list[Partner]:
    """Every reseller membership of the program with the counters the score needs: one query for the counters,
    which also tells whether the cached profiles are still those of the program; a second one when not."""
    counters = (
        await session.execute(
            select(
                Membership.org_id,
                Membership.won_leads,
                Membership.closed_leads,
                Membership.open_leads,
                Membership.last_offered_at,
                Membership.id,
                Membership.created_at,
            ).where(Membership.program_id == program_id)
        )
    ).all()
    version = (
        str(session.bind.engine.url if session.bind else ""),
        len(counters),
        max((row.id for row in counters), default=None),
        max((row.created_at for row in counters), default=None),
    )
    cached = _PROFILES.get(program_id)
    if cached is None or cached[0] != version:
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
            )
            .join(Org, Org.id == Membership.org_id)
            .where(Membership.program_id == program_id, Org.kind == OrgKind.RESELLER)
        )
        profiles = {
            org_id: Profile(
                org_id,
                tier,
                frozenset(comps or ()),
                frozenset(certs or ()),
                tuple(regions or ()),
                tuple((code, prefix) for code, _, prefix in (r.partition("-") for r in regions or ())),
                capacity,
                city,
                lat,
                lon,
            )
            for org_id, tier, comps, certs, regions, capacity, city, lat, lon in rows.all()
        }
        cached = (version, profiles)
        _PROFILES[program_id] = cached
    profiles = cached[1]
    return [
        _partner(profiles[org_id], won, closed, open_leads, last_offered)
        for org_id, won, closed, open_leads, last_offered, _, _ in counters
        if org_id in profiles
    ]


def rank(
    lead: LeadFacts,
    partners: list[Partner],
    weights: dict[str, float],
    excluded: set[int],
    now: dt.datetime,
    limit: int | None = None,
    *,
    hard_capacity: bool = False,
) -> list[Candidate]:
    """Eligible partners, best first (ties: the one offered longest ago, then the lower id), explained.
    With `hard_capacity` (the program's capacity mode "hard") a partner at its capacity is not eligible.

    Only the first `limit` are returned. This is the hot loop of matching (thousands of partners per
    lead): it works on plain numbers and builds the breakdown only for those returned.
    """
    total = sum(weights[name] for name in PARTS) or 1.0
    w_comp, w_tier, w_conv, w_prox, w_cap, w_fair = (weights[name] / total for name in PARTS)
    never = dt.datetime.min.replace(tzinfo=dt.UTC)
    required = frozenset(lead.required_certifications or [])
    country, postal, product = lead.country, lead.postal_code or "", lead.product_line
    scored: list[tuple[float, dt.datetime, int, Partner]] = []
    for p in partners:
        if p.org_id in excluded or (required and not required <= p.certifications):
            continue
        if hard_capacity and p.capacity is not None and p.open_leads >= p.capacity:
            continue
        for code, prefix in p.served:
            if code == country and postal.startswith(prefix):
                break
        else:  # serves no region of the lead
            continue
        value = (
            (w_comp if product in p.competencies else 0.0)
            + w_tier * TIER_SCORE.get(p.tier, 0.0)
            + w_conv * (p.won + PRIOR_WON) / (p.closed + PRIOR_CLOSED)
            + w_prox * _proximity(lead, p)
            + w_cap * _free_capacity(p)
            + w_fair * _fairness(p, now)
        )
        scored.append((-round(value, 4), p.last_offered_at or never, p.org_id, p))
    best = heapq.nsmallest(limit, scored, key=_order) if limit is not None else sorted(scored, key=_order)
    return [score(lead, p, weights, now) for _, _, _, p in best]


def _order(item: tuple[float, dt.datetime, int, Partner]) -> tuple[float, dt.datetime, int]:
    return item[:3]


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


async def full_partners(session: AsyncSession, lead: LeadFacts, program_id: int) -> list[int]:
    """In hard capacity mode: the partners that serve the lead's region but hold their capacity of open leads,
    so are not offered it now (the offer explanation names them). Soft mode leaves nobody out."""
    mode = await session.scalar(select(Program.capacity_mode).where(Program.id == program_id))
    if mode != "hard":
        return []
    postal = lead.postal_code or ""
    return sorted(
        p.org_id
        for p in await load_partners(session, program_id)
        if p.capacity is not None
        and p.open_leads >= p.capacity
        and any(code == lead.country and postal.startswith(prefix) for code, prefix in p.served)
    )
