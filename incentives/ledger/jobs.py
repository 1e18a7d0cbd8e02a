"""Periodic sweeps of the ledger: points expiry and holds whose time-out passed.

Each account or hold is one short unit of work that the sweep opens, so one failure costs one step and a
long sweep never holds a lock for long. Both steps are safe to repeat and to run concurrently.
"""

from __future__ import annotations

import datetime as dt

from incentives.db import Database
from incentives.errors import InvalidState, NotFound
from incentives.jobs import sweep
from incentives.ledger import services as ledger


@sweep("points.expire")
async def expire_points(db: Database, now: dt.datetime, program_id: int | None = None) -> int:
    """Expire every lot due by `now`, one transaction per account; returns the points expired."""
    async with db.reader() as session:
        due = await ledger.due_expiry(session, now=now, program_id=program_id)
    total = 0
    for account in due:
        async with db.transaction() as session:
            total += await ledger.expire_account(session, account, now=now)
    return total


@sweep("points.hold_timeouts")
async def void_timed_out_holds(db: Database, now: dt.datetime) -> int:
    """Void every unresolved hold whose time-out has passed, one transaction per hold; returns how many."""
    async with db.reader() as session:
        due = await ledger.timed_out_holds(session, now=now)
    voided = 0
    for hold_id, program_id in due:
        try:
            async with db.transaction() as session:
                await ledger.void_hold(
                    session,
                    program_id=program_id,
                    hold_id=hold_id,
                    key=None,
                    cause=ledger.Cause(reason="timeout"),
                    now=now,
                )
            voided += 1
        except (InvalidState, NotFound):
            pass  # resolved in the meantime by someone else: exactly what we wanted
    return voided
