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
from incentives.webhooks import outbox as webhooks


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
    await webhooks.emit(
        session,
        [
            _points_event("points.awarded", "earn", transfer, award.org_id, award.cause, credited=credit)
            for award, transfer, credit in zip(awards, transfers, credited, strict=True)
            if not transfer.replayed
        ],
    )
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
        event = _points_event("points.reversed", "reverse", transfer, org_id, cause, credited=credited)
        await webhooks.emit(session, [event])
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
    if not transfer.replayed:
        kind = "points.awarded" if points > 0 else "points.reversed"
        await webhooks.emit(session, [_points_event(kind, "adjust", transfer, org_id, cause)])
    return transfer


def _points_event(
    event_type: str,
    kind: str,
    transfer: Transfer,
    org_id: int,
    cause: Cause,
    *,
    credited: tuple[int | None, int | None] = (None, None),
) -> webhooks.Event:
    """`points.awarded` (an earning, or points a manager added) or `points.reversed` (an award taken back, or
    points a manager took): the ledger transfer and what caused it."""
    user_id, campaign_id = credited
    rule = None if cause.rule_id is None else {"id": cause.rule_id, "version": cause.rule_version}
    data = {
        "transfer_id": transfer.id,
        "program_id": transfer.program_id,
        "org_id": org_id,
        "points": transfer.amount,
        "kind": kind,
        "lead_id": cause.lead_id,
        "rule": rule,
        "user_id": user_id if user_id is not None else cause.user_id,
        "campaign_id": campaign_id,
        "reverses_transfer_id": transfer.reverses_id,
        "reason": cause.reason,
    }
    return webhooks.Event(transfer.program_id, event_type, transfer.at, data, key=f"transfer:{transfer.id}")
