"""Fair play: feedback pays for progress once, a status never goes back, a return takes back all it paid."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from incentives.db import Database
from incentives.errors import InvalidState
from incentives.leads import services as leads
from incentives.leads.models import OutboxEvent
from incentives.ledger import queries
from incentives.rules.defaults import install_default_rules
from incentives.rules.models import RuleSkip
from incentives.rules.processor import process_events
from tests.factories import ProgramWorld, make_program
from tests.leads.helpers import make_lead, make_reseller
from tests.ledger import assert_clean
from tests.rules import T0

H = dt.timedelta(hours=1)
AT = T0 + 2 * H


async def _world(db: Database) -> ProgramWorld:
    world = await make_program(db)
    async with db.transaction() as session:
        await install_default_rules(session, world.program_id)
    return world


async def _available(db: Database, world: ProgramWorld, org_id: int) -> int:
    async with db.reader() as session:
        return (await queries.balance(session, world.program_id, org_id)).available


async def test_repeated_status_is_a_note_that_pays_nothing(db: Database) -> None:
    world = await _world(db)
    rep = await make_reseller(db, world)
    lead = await make_lead(db, world, temperature="cold")
    async with db.transaction() as session:
        await leads.reserve_lead(session, rep.principal, lead.id, AT)
    for n in range(20):
        async with db.transaction() as session:
            await leads.give_feedback(session, rep.principal, lead.id, status="proposal", now=AT + (n + 1) * H)
    await process_events(db, AT + 30 * H)
    # reserved 30 (cold), fast first feedback 40, on time 6: once, not twenty times.
    assert await _available(db, world, rep.org_id) == 30 + 40 + 6
    async with db.reader() as session:
        payloads = list(
            await session.scalars(select(OutboxEvent.payload).where(OutboxEvent.event_type == "lead.feedback"))
        )
        repeats = await session.scalar(select(func.count()).where(RuleSkip.reason == "a repeated status pays nothing"))
    assert [p["feedback"]["is_new_status"] for p in payloads] == [True] + [False] * 19
    assert repeats == 19  # the on-time rule would have paid each repeat
    await assert_clean(db)


async def test_status_cannot_go_back(db: Database) -> None:
    world = await _world(db)
    rep = await make_reseller(db, world)
    lead = await make_lead(db, world)
    async with db.transaction() as session:
        await leads.reserve_lead(session, rep.principal, lead.id, AT)
    async with db.transaction() as session:
        await leads.give_feedback(session, rep.principal, lead.id, status="proposal", now=AT + H)
    for earlier in ("contacted", "meeting", "not_reachable"):
        with pytest.raises(InvalidState) as refused:
            async with db.transaction() as session:
                await leads.give_feedback(session, rep.principal, lead.id, status=earlier, now=AT + 2 * H)
        assert refused.value.status == 409 and refused.value.code == "invalid_state"
    async with db.transaction() as session:  # forward still works
        await leads.give_feedback(
            session, rep.principal, lead.id, status="won", deal_value=Decimal("1000"), now=AT + 3 * H
        )
    async with db.reader() as session:
        count = await session.scalar(select(func.count()).where(OutboxEvent.event_type == "lead.feedback"))
    assert count == 2


async def test_return_after_feedback_takes_back_everything(db: Database) -> None:
    world = await _world(db)
    rep = await make_reseller(db, world)
    lead = await make_lead(db, world, temperature="cold")
    async with db.transaction() as session:
        await leads.reserve_lead(session, rep.principal, lead.id, AT)
    async with db.transaction() as session:
        await leads.give_feedback(session, rep.principal, lead.id, status="contacted", now=AT + H)
    await process_events(db, AT + 2 * H)
    assert await _available(db, world, rep.org_id) == 30 + 40 + 6
    async with db.transaction() as session:
        await leads.return_lead(session, rep.principal, lead.id, "no time after all", AT + 3 * H)
    await process_events(db, AT + 4 * H)
    await process_events(db, AT + 5 * H)  # a rerun takes back nothing twice
    async with db.reader() as session:
        balance = await queries.balance(session, world.program_id, rep.org_id)
    assert (balance.available, balance.lifetime_earned) == (0, 0)
    await assert_clean(db)


async def test_a_storm_of_the_same_feedback_pays_once(db: Database) -> None:
    world = await _world(db)
    rep = await make_reseller(db, world)
    lead = await make_lead(db, world, temperature="cold")
    async with db.transaction() as session:
        await leads.reserve_lead(session, rep.principal, lead.id, AT)

    async def meeting() -> None:
        async with db.transaction() as session:
            await leads.give_feedback(session, rep.principal, lead.id, status="meeting", now=AT + H)

    await asyncio.gather(*[meeting() for _ in range(100)])
    await process_events(db, AT + 2 * H)
    async with db.reader() as session:
        payloads = list(
            await session.scalars(select(OutboxEvent.payload).where(OutboxEvent.event_type == "lead.feedback"))
        )
    assert len(payloads) == 100
    assert sum(p["feedback"]["is_new_status"] for p in payloads) == 1
    assert await _available(db, world, rep.org_id) == 30 + 40 + 6
    await assert_clean(db)
