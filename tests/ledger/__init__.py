"""Ledger tests; shared helpers: a program with partner orgs, balances, and the verify check."""

from __future__ import annotations

import datetime as dt

from incentives.db import Database
from incentives.ledger import queries
from incentives.ledger.verify import verify
from tests.factories import make_member, make_program

T0 = dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC)


async def program_with_partners(db: Database, count: int = 1) -> tuple[int, list[int]]:
    world = await make_program(db)
    return world.program_id, [await make_member(db, world) for _ in range(count)]


async def assert_clean(db: Database) -> None:
    async with db.reader() as session:
        differences = await verify(session)
    assert differences == [], [str(d) for d in differences]


async def balance(db: Database, program_id: int, org_id: int) -> queries.Balance:
    async with db.reader() as session:
        return await queries.balance(session, program_id, org_id)
