"""Periodic sweeps of the rewards area: the 30-day expiry notice and unfinished redemptions."""

from __future__ import annotations

import datetime as dt
import functools

from sqlalchemy import or_, select

from incentives.db import Database
from incentives.errors import N_, DomainError
from incentives.jobs import sweep
from incentives.ledger import queries as ledger_queries
from incentives.ledger.errors import InsufficientPoints
from incentives.notifications.services import notify
from incentives.rewards.models import Redemption, RedemptionStatus
from incentives.rewards.services import fail_redemption, finish_redemption

NOTICE_BEFORE = dt.timedelta(days=30)
# A request younger than this may still be in flight in its web process; leave it alone.
GRACE = dt.timedelta(seconds=60)


@sweep("points.expiry_notice")
async def notify_expiring(db: Database, now: dt.datetime) -> int:
    """Tell each partner, once per expiry date, about points that expire within 30 days."""
    async with db.transaction() as session:
        rows = await ledger_queries.expiring_by_day(session, start=now, end=now + NOTICE_BEFORE)
        for row in rows:
            await notify(
                session,
                program_id=row.program_id,
                org_id=row.org_id,
                kind="points.expiring",
                message=N_("%(points)s points expire on %(date)s. Redeem them before then."),
                params={"points": {"points": row.points}, "date": {"date": row.first_at.isoformat()}},
                link="/wallet",
                dedup_key=f"points.expiring:{row.account_id}:{row.day}",
            )
    return len(rows)


@sweep("rewards.reconcile")
async def finish_redemptions(db: Database, now: dt.datetime) -> int:
    """Finish redemptions a crash left between two steps (hold, post, void); each step is keyed, so repeats are safe."""
    async with db.reader() as session:
        ids = list(
            await session.scalars(
                select(Redemption.id)
                .where(
                    or_(
                        (Redemption.status == RedemptionStatus.REQUESTED) & (Redemption.created_at < now - GRACE),
                        Redemption.status == RedemptionStatus.APPROVED,
                        Redemption.status.in_([RedemptionStatus.REJECTED, RedemptionStatus.CANCELLED])
                        & Redemption.resolution_id.is_(None)
                        & Redemption.hold_id.is_not(None),
                    )
                )
                .order_by(Redemption.id)
                .limit(500)
            )
        )
    done = 0
    for redemption_id in ids:  # one unit of work per redemption
        try:
            await db.run(functools.partial(finish_redemption, redemption_id=redemption_id, now=now))
            done += 1
        except InsufficientPoints:  # its points are gone: mark it failed, after the attempt rolled back
            await db.run(functools.partial(fail_redemption, redemption_id=redemption_id))
        except DomainError:
            pass
    return done
