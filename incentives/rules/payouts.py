"""Paying points: the ledger's booking and the leaderboard's count of it, together in the caller's unit of work.

Every earning goes through here (the rules processor's awards and reversals, managers' corrections), so the
leaderboard's rollup can never miss one or count one twice: a replayed booking (its key used before) was
counted when it was first booked. After the commit the caller hands the returned `Touched` to
`leaderboard.services.publish`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from incentives.leaderboard.services import Earned, Touched, record
from incentives.ledger import services as ledger
from incentives.ledger.services import Award, Cause, Transfer


async def pay_awards(
    session: AsyncSession,
    program_id: int,
    awards: Sequence[Award],
    credited: Sequence[tuple[int | None, int | None]],
    now: dt.datetime,
) -> tuple[list[Transfer], Touched]:
    """Book `awards` (one batch) and count them; `credited`: the rep and campaign of each award (or None)."""
    transfers = await ledger.award_batch(session, program_id=program_id, awards=awards, now=now)
    earned = [
        Earned(award.org_id, transfer.amount, transfer.at, user_id, campaign_id)
        for award, transfer, (user_id, campaign_id) in zip(awards, transfers, credited, strict=True)
        if not transfer.replayed
    ]
    return transfers, await record(session, program_id, earned)


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
) -> tuple[Transfer, Touched]:
    """Reverse an award and count it against the period the reversal falls into."""
    transfer = await ledger.reverse_award(
        session, program_id=program_id, award_id=award_id, key=key, cause=cause, now=now
    )
    if transfer.replayed:
        return transfer, Touched()
    user_id, campaign_id = credited
    return transfer, await record(
        session, program_id, [Earned(org_id, -transfer.amount, transfer.at, user_id, campaign_id)]
    )


async def adjust(
    session: AsyncSession,
    *,
    program_id: int,
    org_id: int,
    points: int,
    key: str,
    cause: Cause,
    now: dt.datetime | None = None,
) -> tuple[Transfer, Touched]:
    """A manager's correction. Points issued count as earned (as the ledger's `earned` does); points taken
    from a partner are spent, not unearned, and leave the boards alone."""
    transfer = await ledger.adjust_points(
        session, program_id=program_id, org_id=org_id, points=points, key=key, cause=cause, now=now
    )
    if transfer.replayed or points < 0:
        return transfer, Touched()
    return transfer, await record(session, program_id, [Earned(org_id, transfer.amount, transfer.at)])
