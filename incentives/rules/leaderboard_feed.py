"""The leaderboard's earnings as the ledger booked them, credited to the rep and campaign the rules processor
noted for each award, and to the rep whose event earned an achievement's points (engagement/paying.py credits
them so when it pays): what `incentives leaderboard rebuild` recomputes the boards from."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.engagement.models import AchievementEarning
from incentives.leaderboard.services import Earned
from incentives.ledger import queries as ledger_queries
from incentives.rules.models import DecisionKind, RuleAward


async def earned_with_credit(session: AsyncSession, program_id: int) -> list[Earned]:
    changes = await ledger_queries.earning_changes(session, program_id)
    rows = await session.execute(
        select(RuleAward.transfer_id, RuleAward.user_id, RuleAward.campaign_id).where(
            RuleAward.program_id == program_id,
            RuleAward.kind == DecisionKind.EARN.value,
            RuleAward.transfer_id.is_not(None),
        )
    )
    credit = {transfer_id: (user_id, campaign_id) for transfer_id, user_id, campaign_id in rows}
    badges = await session.execute(
        select(AchievementEarning.transfer_id, AchievementEarning.user_id).where(
            AchievementEarning.program_id == program_id, AchievementEarning.transfer_id.is_not(None)
        )
    )
    credit.update({transfer_id: (user_id, None) for transfer_id, user_id in badges})
    earned = []
    for change in changes:
        # A reversal is credited like the award it takes back.
        user_id, campaign_id = credit.get(change.reverses_id or change.transfer_id, (None, None))
        earned.append(Earned(change.org_id, change.points, change.at, user_id, campaign_id))
    return earned
