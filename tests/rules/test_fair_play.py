"""Fair play: feedback pays for progress once, a status never goes back, a return takes back all it paid."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from incentives.db import Database
from incentives.errors import InvalidState
from incentives.leads import corrections
from incentives.leads import services as leads
from incentives.leads.models import LeadEvent, OutboxEvent
from incentives.ledger import queries
from incentives.ledger import services as ledger
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


async def test_a_correction_back_takes_the_points_back_and_forward_pays(db: Database) -> None:
    world = await _world(db)
    rep = await make_reseller(db, world)
    lead = await make_lead(db, world, temperature="cold")
    async with db.transaction() as session:
        await leads.reserve_lead(session, rep.principal, lead.id, AT)
    async with db.transaction() as session:
        await leads.give_feedback(
            session, rep.principal, lead.id, status="won", deal_value=Decimal("20000"), now=AT + 30 * H
        )
    await process_events(db, AT + 31 * H)
    assert await _available(db, world, rep.org_id) == 30 + 6 + 450  # on time (48 h), not fast
    async with db.transaction() as session:  # the deal did not happen: back to proposal
        await corrections.correct_status(
            session, world.admin.principal, lead.id, status="proposal", reason="order cancelled", now=AT + 32 * H
        )
    await process_events(db, AT + 33 * H)
    assert await _available(db, world, rep.org_id) == 30
    async with db.transaction() as session:  # the same correction again is refused: nothing moves twice
        with pytest.raises(InvalidState):
            await corrections.correct_status(
                session, world.admin.principal, lead.id, status="proposal", reason="again", now=AT + 34 * H
            )
    async with db.transaction() as session:  # and forward again: won pays (once) as feedback would
        await corrections.correct_status(
            session,
            world.admin.principal,
            lead.id,
            status="won",
            reason="signed after all",
            deal_value=Decimal("20000"),
            now=AT + 35 * H,
        )
    await process_events(db, AT + 36 * H)
    await process_events(db, AT + 37 * H)
    assert await _available(db, world, rep.org_id) == 30 + 6 + 450
    async with db.reader() as session:
        audit = await session.scalar(select(func.count()).where(LeadEvent.kind == "status_corrected"))
    assert audit == 2
    await assert_clean(db)


async def test_an_invalid_lead_takes_back_everything_even_spent_points(db: Database) -> None:
    world = await _world(db)
    rep = await make_reseller(db, world)
    lead = await make_lead(db, world, temperature="cold")
    async with db.transaction() as session:
        await leads.reserve_lead(session, rep.principal, lead.id, AT)
    async with db.transaction() as session:
        await leads.give_feedback(session, rep.principal, lead.id, status="meeting", now=AT + H)
    await process_events(db, AT + 2 * H)
    assert await _available(db, world, rep.org_id) == 76
    async with db.transaction() as session:
        await ledger.adjust_points(
            session,
            program_id=world.program_id,
            org_id=rep.org_id,
            points=-50,
            key="spent-before",
            cause=ledger.Cause(reason="spent"),
            now=AT + 3 * H,
        )
    async with db.transaction() as session:
        await corrections.mark_invalid(
            session, world.admin.principal, lead.id, reason="fake", note="no such company", now=AT + 4 * H
        )
    await process_events(db, AT + 5 * H)
    async with db.reader() as session:
        balance = await queries.balance(session, world.program_id, rep.org_id)
        seen, full = await leads.lead_for(session, rep.principal, lead.id)
    assert balance.available == 0  # what was spent is a receivable, never a negative balance
    assert (seen.status, seen.invalid_reason, seen.invalid_note, full) == ("invalid", "fake", "no such company", True)
    with pytest.raises(InvalidState):
        async with db.transaction() as session:
            await leads.give_feedback(session, rep.principal, lead.id, status="proposal", now=AT + 6 * H)
    await assert_clean(db)
