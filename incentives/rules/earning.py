"""What a partner can earn now: the current award rules of its programs and the campaigns its tier and regions
take part in, for the partners' "how to earn points" page."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts.models import Membership, Org
from incentives.rules import campaigns
from incentives.rules.models import Campaign, Effect, RuleVersion
from incentives.rules.plain import clause, clauses_of
from incentives.rules.queries import current_versions


@dataclass(frozen=True)
class Earning:
    rules: list[RuleVersion]  # active award rules, by event then rule id
    campaigns: list[campaigns.Progress]  # not ended yet, by start
    reverses: bool  # some active rule takes points back


async def ways_to_earn(session: AsyncSession, org_id: int, now: dt.datetime) -> Earning:
    memberships = (
        await session.execute(
            select(Membership.program_id, Membership.tier, Membership.regions, Org.country)
            .join(Org, Org.id == Membership.org_id)
            .where(Membership.org_id == org_id)
        )
    ).all()
    tiers = {m.program_id: m.tier for m in memberships}
    regions = {m.program_id: (*(m.regions or ()), m.country) for m in memberships}
    programs = list(tiers)
    rules = await session.scalars(
        current_versions()
        .where(
            RuleVersion.program_id.in_(programs),
            RuleVersion.active.is_(True),
            RuleVersion.effect == Effect.AWARD.value,
            or_(RuleVersion.valid_to.is_(None), RuleVersion.valid_to > now),
        )
        .order_by(RuleVersion.event, RuleVersion.rule_id)
    )
    running = await session.scalars(
        select(Campaign).where(Campaign.program_id.in_(programs), Campaign.ends_at > now).order_by(Campaign.starts_at)
    )
    reversing = await session.scalar(
        current_versions()
        .where(
            RuleVersion.program_id.in_(programs),
            RuleVersion.active.is_(True),
            RuleVersion.effect == Effect.REVERSE.value,
        )
        .limit(1)
    )
    # Only what can pay this partner: a campaign of its tier and regions (one on some product lines pays on
    # leads of those lines), a rule that names no other tier.
    mine = [
        c
        for c in running
        if campaigns.Segment(tuple(c.tiers), tuple(c.regions)).holds(tiers[c.program_id], regions[c.program_id], None)
    ]
    paying = [rule for rule in rules if _tier_fits(rule, tiers[rule.program_id])]
    return Earning(paying, await campaigns.progress(session, mine), reversing is not None)


def _tier_fits(rule: RuleVersion, tier: str) -> bool:
    clauses = clauses_of(rule.condition)
    named = clause(clauses, "tier") if clauses else None
    return named is None or named.value == tier
