"""What a partner can earn now: the current award rules of its programs and their running campaigns,
for the partners' "how to earn points" page."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts import queries as accounts
from incentives.rules import campaigns
from incentives.rules.models import Campaign, Effect, RuleVersion
from incentives.rules.queries import current_versions


@dataclass(frozen=True)
class Earning:
    rules: list[RuleVersion]  # active award rules, by event then rule id
    campaigns: list[campaigns.Progress]  # not ended yet, by start
    reverses: bool  # some active rule takes points back


async def ways_to_earn(session: AsyncSession, org_id: int, now: dt.datetime) -> Earning:
    programs = await accounts.member_program_ids(session, org_id)
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
    return Earning(list(rules), await campaigns.progress(session, list(running)), reversing is not None)
