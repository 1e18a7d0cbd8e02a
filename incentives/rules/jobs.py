"""Sweeps of the rules domain: turn outbox events into awards (and pay decisions left unpaid by a crash), and
heal leaderboards that Redis missed updates of (their earnings are credited from the rules' decisions)."""

from __future__ import annotations

import datetime as dt

from redis.exceptions import RedisError

from incentives.db import Database
from incentives.jobs import sweep
from incentives.leaderboard import jobs as leaderboard
from incentives.leaderboard.services import stale_programs
from incentives.rules.leaderboard_feed import earned_with_credit
from incentives.rules.processor import process_events


@sweep("rules.process_events")
async def process_outbox(db: Database, now: dt.datetime) -> int:
    return await process_events(db, now)


@sweep("leaderboard.heal")
async def heal_leaderboards(db: Database, now: dt.datetime) -> int:
    """Rebuild the boards of programs whose Redis missed an update, once Redis answers again."""
    if db.redis is None:
        return 0
    async with db.reader() as session:
        stale = await stale_programs(session)
    if not stale:
        return 0
    try:
        await db.redis.ping()
    except RedisError:
        return 0  # still down: SQL keeps serving, the next sweep tries again
    for program_id in stale:
        await leaderboard.rebuild(db, earned_with_credit, program_id)
    return len(stale)
