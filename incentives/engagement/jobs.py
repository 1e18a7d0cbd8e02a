"""Jobs of engagement: pay earned achievements' points, and the outbox processing with that payment after it.

The outbox processing (after commit, and the RQ job) is the rules processor followed by the achievement pay
step, so a badge's points arrive with the event's awards; the sweep pays what a crash left unpaid.
"""

from __future__ import annotations

import datetime as dt

from incentives.db import Database, utcnow
from incentives.engagement.paying import pay_earnings, reverse_earnings
from incentives.jobs import outbox_job_started, run_job, sweep
from incentives.rules.processor import process_events


@sweep("engagement.pay_achievements")
async def pay_achievements(db: Database, now: dt.datetime) -> int:
    return await pay_earnings(db, now) + await reverse_earnings(db, now)


async def process_outbox(db: Database, now: dt.datetime | None = None) -> int:
    """Decide and pay the rules' awards and achievements of every unprocessed event; the events taken."""
    now = now or utcnow()
    taken = await process_events(db, now)
    await pay_earnings(db, now)
    await reverse_earnings(db, now)
    return taken


def process_outbox_job() -> int:
    """The RQ job a commit of outbox events enqueues (see incentives.jobs.OutboxWaker)."""
    outbox_job_started()
    taken: int = run_job(process_outbox)
    return taken
