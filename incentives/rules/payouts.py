"""Paying points: the ledger's booking and the note for the leaderboards' count, together in the caller's unit
of work.

Every earning goes through here (the rules processor's awards and reversals, managers' corrections), so the
leaderboards can never miss one or count one twice: a replayed booking (its key used before) was noted when it
was first booked. The counting job runs after the commit (`leaderboard.jobs.count_pending`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from incentives.leaderboard.services import Earned, count_later
from incentives.ledger import services as ledger
from incentives.ledger.services import Award, Cause, Transfer


async def pay_awards(
    session: AsyncSession,
    program_id: int,
    awards: Sequence[Award],
    credited: Sequence[tuple[int | None, int | None]],
    now: dt.datetime,
) -> list[Transfer]:
    """Book `awards` (one batch) and note them for the boards; `credited`: the rep and campaign of each award."""
    transfers = await ledger.award_batch(session, program_id=program_id, awards=awards, now=now)
    earned = [
        Earned(award.org_id, transfer.amount, transfer.at, user_id, campaign_id)
        for award, transfer, (user_id, campaign_id) in zip(awards, transfers, credited, strict=True)
        if not transfer.replayed
    ]
    await count_later(session, program_id, earned)
    return transfers


async def take_back(
    session: AsyncSession,
    *,
    program_id: int,
    org_id: int,
    award_id: int,
    key: str,
    cause: Cause,
    credited: tuple[int | None, int | None],
    now: dt.datetime,
) -> Transfer:
    """Reverse an award and count it against the period the reversal falls into."""
    transfer = await ledger.reverse_award(
        session, program_id=program_id, award_id=award_id, key=key, cause=cause, now=now
    )
    if not transfer.replayed:
        user_id, campaign_id = credited
        await count_later(session, program_id, [Earned(org_id, -transfer.amount, transfer.at, user_id, campaign_id)])
    return transfer


async def adjust(
    session: AsyncSession,
    *,
    program_id: int,
    org_id: int,
    points: int,
    key: str,
    cause: Cause,
    now: dt.datetime | None = None,
) -> Transfer:
    """A manager's correction. Points issued count as earned (as the ledger's `earned` does); points taken
    from a partner are spent, not unearned, and leave the boards alone."""
    transfer = await ledger.adjust_points(
        session, program_id=program_id, org_id=org_id, points=points, key=key, cause=cause, now=now
    )
    if not transfer.replayed and points > 0:
        await count_later(session, program_id, [Earned(org_id, transfer.amount, transfer.at)])
    return transfer
