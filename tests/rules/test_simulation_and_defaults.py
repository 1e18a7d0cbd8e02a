"""Simulation equals what processing then pays; the default rule set on a real lead lifecycle."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import func, select

from incentives.db import Database
from incentives.leads import services as leads
from incentives.ledger import queries
from incentives.ledger.models import LedgerTransfer
from incentives.rules.defaults import install_default_rules
from incentives.rules.evaluation import ActiveRule
from incentives.rules.processor import process_events
from incentives.rules.simulation import simulate
from tests.factories import make_member, make_program
from tests.leads.helpers import make_lead, make_reseller
from tests.ledger import assert_clean
from tests.rules import T0, add_events, add_test_rule


async def test_simulation_equals_what_processing_pays(db: Database) -> None:
    world = await make_program(db)
    orgs = [await make_member(db, world) for _ in range(3)]
    rule = await add_test_rule(db, world.program_id, cap_per="day", cap_max_points=100)
    await add_events(db, world.program_id, orgs, 30, temperature="cold")
    await add_events(db, world.program_id, orgs, 9, temperature="hot", at=T0 + dt.timedelta(days=1))
    await add_events(db, world.program_id, orgs, 5, event_type="lead.won")  # another event type: not counted
    await add_events(db, world.program_id, orgs, 4, at=T0 + dt.timedelta(days=40))  # outside the period
    start, end = T0 - dt.timedelta(days=1), T0 + dt.timedelta(days=30)
    async with db.reader() as session:
        result = await simulate(session, ActiveRule.of(rule), start, end)
    assert result.events == 39
    await process_events(db, T0 + dt.timedelta(days=50))
    async with db.reader() as session:
        rows = await session.execute(
            select(
                LedgerTransfer.lead_id, LedgerTransfer.credit_account_id, LedgerTransfer.amount, LedgerTransfer.at
            ).where(LedgerTransfer.rule_id == rule.rule_id)
        )
        paid = rows.all()
        by_org: dict[int, int] = {}
        for org in orgs:
            balance = await queries.balance(session, world.program_id, org)
            by_org[org] = balance.lifetime_earned
    # The 4 late events pay 30 each to orgs[0], orgs[1], orgs[2], orgs[0]; the rest is the simulated period.
    late = {orgs[0]: 60, orgs[1]: 30, orgs[2]: 30}
    assert {org: by_org[org] - late[org] for org in orgs} == result.by_org
    assert result.points == sum(row.amount for row in paid) - 120
    assert result.awards == len(paid) - 4
    assert result.by_org == {org: 100 + 30 for org in orgs}  # capped at 100 on day one, 3 hot × 10 on day two


async def test_default_rules_on_a_real_lead_reverse_the_reservation_on_return(db: Database) -> None:
    world = await make_program(db)
    async with db.transaction() as session:
        installed = await install_default_rules(session, world.program_id)
    assert len(installed) == 5
    rep = await make_reseller(db, world)
    kept = await make_lead(db, world, temperature="cold")
    returned = await make_lead(db, world, temperature="cold")
    at = T0 + dt.timedelta(hours=2)
    async with db.transaction() as session:
        await leads.reserve_lead(session, rep.principal, kept.id, at)
    async with db.transaction() as session:
        await leads.reserve_lead(session, rep.principal, returned.id, at)
    async with db.transaction() as session:
        await leads.give_feedback(session, rep.principal, kept.id, status="contacted", now=at + dt.timedelta(hours=3))
    async with db.transaction() as session:
        await leads.give_feedback(
            session, rep.principal, kept.id, status="won", deal_value=Decimal("20000"), now=at + dt.timedelta(hours=30)
        )
    async with db.transaction() as session:
        await leads.return_lead(session, rep.principal, returned.id, "no time", at + dt.timedelta(hours=1))
    await process_events(db, at + dt.timedelta(days=2))
    async with db.reader() as session:
        balance = await queries.balance(session, world.program_id, rep.org_id)
        reversed_points = await session.scalar(
            select(func.sum(LedgerTransfer.amount)).where(
                LedgerTransfer.kind == "reverse", LedgerTransfer.lead_id == returned.id
            )
        )
    # kept: reserved 30, fast first feedback 40 + on time 6, won: 20000/100 × 2 + 50 = 450 (the on-time rule
    # paid this lead once already: no lead pays more than its rules' sum once). returned: reserved 30, reversed.
    assert reversed_points == 30
    assert balance.available == 30 + 40 + 6 + 450
    await assert_clean(db)
