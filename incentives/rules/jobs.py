"""Sweeps of the rules domain: turn outbox events into awards (and pay decisions left unpaid by a crash)."""

from __future__ import annotations

import datetime as dt

from incentives.db import Database
from incentives.jobs import outbox_job_started, run_job, sweep
from incentives.rules.processor import process_events


@sweep("rules.process_events")
async def process_outbox(db: Database, now: dt.datetime) -> int:
    return await process_events(db, now)


def process_events_job() -> int:
    """The RQ job a commit of outbox events enqueues (see incentives.jobs.OutboxWaker)."""
    outbox_job_started()
    taken: int = run_job(process_events)
    return taken
