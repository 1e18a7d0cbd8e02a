"""A reversed reservation award gives the campaign points it consumed back to the campaign's budget."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import func, select

from incentives.db import Database
from incentives.leads.models import OutboxEvent
from incentives.rules.models import Campaign, DecisionKind, Effect, RuleAward
from incentives.rules.processor import process_events
from tests.factories import ProgramWorld, make_member, make_program
from tests.leads.helpers import make_lead
from tests.ledger import assert_clean
from tests.rules import T0, add_test_rule, earned, payload
from tests.rules.test_campaigns import add_campaign

NOW = T0 + dt.timedelta(days=3)


async def lead_events(db: Database, world: ProgramWorld, org_id: int, lead_ids: list[int], event_type: str) -> None:
    async with db.transaction() as session:
        session.add_all(
            OutboxEvent(
                program_id=world.program_id,
                event_type=event_type,
                lead_id=lead_id,
                org_id=org_id,
                payload=payload(event_type, org_id, T0),
                at=T0,
            )
            for lead_id in lead_ids
        )


async def budget_state(db: Database, campaign_id: int) -> tuple[int, int]:
    """(the campaign's counter, the sum of campaign points its decisions note): always equal."""
    async with db.reader() as session:
        spent = await session.scalar(select(Campaign.spent_points).where(Campaign.id == campaign_id))
        noted = await session.scalar(
            select(func.coalesce(func.sum(RuleAward.campaign_points), 0)).where(RuleAward.campaign_id == campaign_id)
        )
    return int(spent or 0), int(noted or 0)


async def setup(db: Database, budget: int, leads: int) -> tuple[ProgramWorld, int, Campaign, list[int]]:
    world = await make_program(db)
    org = await make_member(db, world)
    await add_test_rule(db, world.program_id)  # 30 points for a cold lead
    await add_test_rule(db, world.program_id, event="lead.returned", effect=Effect.REVERSE.value, points="0")
    campaign = await add_campaign(db, world, multiplier=2.0, budget_points=budget)
    lead_ids = [(await make_lead(db, world, offer=False)).id for _ in range(leads)]
    return world, org, campaign, lead_ids


async def test_a_return_refunds_exactly_the_campaign_share(db: Database) -> None:
    world, org, campaign, lead_ids = await setup(db, budget=100, leads=4)
    await lead_events(db, world, org, lead_ids, "lead.reserved")
    await process_events(db, NOW)
    # 30 + 30, 30 + 30, 30 + 30, 30 + 10 (the budget's remainder)
    assert await budget_state(db, campaign.id) == (100, 100)
    assert await earned(db, world.program_id) == 220
    await lead_events(db, world, org, [lead_ids[0], lead_ids[3]], "lead.returned")
    await process_events(db, NOW)
    assert await budget_state(db, campaign.id) == (60, 60)
    async with db.reader() as session:
        reversals = (
            await session.execute(
                select(RuleAward.lead_id, RuleAward.points, RuleAward.campaign_points).where(
                    RuleAward.kind == DecisionKind.REVERSE.value
                )
            )
        ).all()
    assert sorted(reversals) == sorted([(lead_ids[0], 60, -30), (lead_ids[3], 40, -10)])
    # The refunded budget pays the next reservation's extra points again.
    await lead_events(db, world, org, [lead_ids[0]], "lead.reserved")
    await process_events(db, NOW)
    assert await budget_state(db, campaign.id) == (90, 90)
    # A replayed return refunds nothing twice.
    await lead_events(db, world, org, [lead_ids[3]], "lead.returned")
    await process_events(db, NOW)
    assert await budget_state(db, campaign.id) == (90, 90)
    await assert_clean(db)


async def test_refunds_and_new_awards_at_once_keep_the_counter_exact(db: Database) -> None:
    world, org, campaign, lead_ids = await setup(db, budget=25 * 30, leads=50)
    first, second = lead_ids[:25], lead_ids[25:]
    await lead_events(db, world, org, first, "lead.reserved")
    await process_events(db, NOW)
    assert await budget_state(db, campaign.id) == (750, 750)
    # Returns of the first half and reservations of the second half, decided by three processors at once.
    await lead_events(db, world, org, first, "lead.returned")
    await lead_events(db, world, org, second, "lead.reserved")
    await asyncio.gather(*(process_events(db, NOW, limit=limit) for limit in (3, 5, 7)))
    await process_events(db, NOW)
    spent, noted = await budget_state(db, campaign.id)
    assert spent == noted and 0 <= spent <= 750
    async with db.reader() as session:
        paid_extra = await session.scalar(
            select(func.sum(RuleAward.campaign_points)).where(
                RuleAward.lead_id.in_(second), RuleAward.kind == DecisionKind.EARN.value
            )
        )
    assert spent == (paid_extra or 0)  # what stays spent is exactly what the second half's awards hold
    await assert_clean(db)
