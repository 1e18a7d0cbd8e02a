"""Paying achievement points: the step after deciding, as the rules processor pays its decisions.

An earning with points is a decision; this books it on the ledger under its key (`achievement:{id}:{org}:
{occurrence}`) and marks it paid. The ledger's unique key turns any replay (a rerun after a crash, a second
processor paying the same rows) into a no-op, so each earning is paid once; the leaderboards note it in the
same unit of work and count it once the payments are done.

An earning whose lead was returned or invalid (engagement.take_back) keeps its badge, but paid points are
reversed under `reverse:{key}`, once, by `reverse_earnings`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update

from incentives.db import Database
from incentives.engagement.models import AchievementEarning
from incentives.errors import InvalidState
from incentives.leaderboard import jobs as leaderboard
from incentives.ledger.book import Cause
from incentives.ledger.services import Award
from incentives.rules import payouts

log = logging.getLogger(__name__)

BATCH = 500
MAX_ATTEMPTS = 10  # an earning failing this often waits for an admin instead of looping forever
EARNINGS = cast(Table, AchievementEarning.__table__)


def _award(earning: Any) -> Award:
    cause = Cause(lead_id=earning.lead_id, user_id=earning.user_id, reason=f"achievement:{earning.achievement_id}")
    return Award(org_id=earning.org_id, points=earning.points, key=earning.key, cause=cause)


async def _pay(db: Database, program_id: int, earnings: list[Any], now: dt.datetime, paid: dict[int, int]) -> None:
    """Book one program's earnings in one unit of work; one by one if the batch fails, noting what fails."""
    credited: list[tuple[int | None, int | None]] = [(e.user_id, None) for e in earnings]
    try:
        async with db.transaction() as session:
            transfers = await payouts.pay_awards(session, program_id, [_award(e) for e in earnings], credited, now)
    except Exception:
        log.warning("achievement payouts of program %s failed; paying one by one", program_id, exc_info=True)
    else:
        paid.update({e.id: t.id for e, t in zip(earnings, transfers, strict=True)})
        return
    errors: dict[int, str] = {}
    for earning in earnings:
        try:
            async with db.transaction() as session:
                [transfer] = await payouts.pay_awards(
                    session, program_id, [_award(earning)], [(earning.user_id, None)], now
                )
        except Exception as error:
            errors[earning.id] = f"{type(error).__name__}: {error}"[:2000]
        else:
            paid[earning.id] = transfer.id
    if errors:
        async with db.transaction() as session:
            await session.execute(
                update(EARNINGS)
                .where(EARNINGS.c.id == bindparam("earning"))
                .values(attempts=EARNINGS.c.attempts + 1, last_error=bindparam("error")),
                [{"earning": e, "error": message} for e, message in errors.items()],
            )


async def _earnings_after(db: Database, after_id: int, limit: int, *conditions: Any) -> Sequence[Any]:
    """The next `limit` earnings after `after_id` (by id) that meet `conditions`: one batch of a paying loop."""
    async with db.reader() as session:
        found = await session.execute(
            select(*EARNINGS.c).where(*conditions, EARNINGS.c.id > after_id).order_by(EARNINGS.c.id).limit(limit)
        )
        return found.all()


async def pay_earnings(db: Database, now: dt.datetime, limit: int = BATCH) -> int:
    """Pay unpaid earnings until none is left (or only failing ones); returns how many were paid."""
    total, after_id = 0, 0
    while True:
        earnings = await _earnings_after(
            db,
            after_id,
            limit,
            EARNINGS.c.paid_at.is_(None),
            EARNINGS.c.points.is_not(None),
            # Its lead was taken back before the points were booked: nothing to pay (or take back).
            EARNINGS.c.reversed_by_event_id.is_(None),
            EARNINGS.c.attempts < MAX_ATTEMPTS,
        )
        if not earnings:
            await leaderboard.count_pending(db)
            return total
        by_program: dict[int, list[Any]] = defaultdict(list)
        for earning in earnings:
            by_program[earning.program_id].append(earning)
        paid: dict[int, int] = {}
        for program_id, items in by_program.items():
            await _pay(db, program_id, items, now, paid)
        if paid:
            async with db.transaction() as session:
                await session.execute(
                    update(EARNINGS)
                    .where(EARNINGS.c.id == bindparam("earning"))
                    .values(paid_at=now, transfer_id=bindparam("transfer"), last_error=None),
                    [{"earning": e, "transfer": t} for e, t in paid.items()],
                )
        total += len(paid)
        after_id = earnings[-1].id
        if len(earnings) < limit:
            await leaderboard.count_pending(db)
            return total


async def reverse_earnings(db: Database, now: dt.datetime, limit: int = BATCH) -> int:
    """Take back the points of paid earnings whose lead was returned or invalid; returns how many were reversed.
    One unit of work each: the ledger's key makes a replay (a crash, a second processor) a no-op."""
    total, after_id = 0, 0
    while True:
        earnings = await _earnings_after(
            db,
            after_id,
            limit,
            EARNINGS.c.reversed_by_event_id.is_not(None),
            EARNINGS.c.transfer_id.is_not(None),
            EARNINGS.c.reversal_transfer_id.is_(None),
        )
        for earning in earnings:
            try:
                async with db.transaction() as session:
                    transfer = await payouts.take_back(
                        session,
                        program_id=earning.program_id,
                        org_id=earning.org_id,
                        award_id=earning.transfer_id,
                        key=f"reverse:{earning.key}",
                        cause=_award(earning).cause,
                        credited=(earning.user_id, None),
                        now=now,
                    )
                    await session.execute(
                        update(EARNINGS).where(EARNINGS.c.id == earning.id).values(reversal_transfer_id=transfer.id)
                    )
            except InvalidState:  # reversed already by other means (an admin): nothing left to take back
                async with db.transaction() as session:
                    await session.execute(
                        update(EARNINGS)
                        .where(EARNINGS.c.id == earning.id)
                        .values(reversal_transfer_id=earning.transfer_id)
                    )
            except Exception:
                log.warning("taking back achievement earning %s failed", earning.id, exc_info=True)
            else:
                total += 1
        if len(earnings) < limit:
            if total:
                await leaderboard.count_pending(db)
            return total
        after_id = earnings[-1].id
