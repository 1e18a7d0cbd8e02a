"""The points preview ("+30 when you reserve") equals what the processor then pays: rules, caps, campaign
multipliers, for reserving and for each feedback status, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from incentives.db import Database
from incentives.leads import queries as lead_queries
from incentives.leads import services as lead_services
from incentives.ledger import queries as ledger_queries
from incentives.rules.campaigns import CampaignInput, Segment, create_campaign
from incentives.rules.preview import feedback_preview, reserve_preview
from incentives.rules.processor import process_events
from tests.factories import Actor, ProgramWorld, make_program
from tests.leads.helpers import T0, make_lead, make_reseller
from tests.rules import add_test_rule

DAY = dt.timedelta(days=1)


async def _earned(db: Database, program_id: int, org_id: int) -> int:
    async with db.reader() as session:
        return (await ledger_queries.balance(session, program_id, org_id)).lifetime_earned


async def _rules(db: Database, world: ProgramWorld) -> None:
    program = world.program_id
    await add_test_rule(db, program)  # reserving: cold 30, else 10
    await add_test_rule(db, program, points="20", cap_per="day", cap_max_points=25)
    await add_test_rule(
        db, program, event="lead.feedback", condition="feedback.is_first && feedback.on_time", points="15"
    )
    await add_test_rule(db, program, event="lead.feedback", condition='feedback.status == "lost"', points="5")
    await add_test_rule(db, program, event="lead.won", condition="deal.value >= 10000.0", points="100")
    await add_test_rule(db, program, event="lead.returned", condition="true", points="0", effect="reverse")
    async with db.transaction() as session:
        await create_campaign(
            session,
            world.admin.principal,
            CampaignInput(
                program_id=program,
                name_de="Frühjahr",
                name_en="Spring",
                starts_at=T0 - DAY,
                ends_at=T0 + DAY,
                segment=Segment(tiers=("gold",)),
                multiplier=1.5,
                budget_points=1000,
            ),
        )


async def _reserve(db: Database, program_id: int, rep: Actor, lead_id: int, at: dt.datetime) -> int:
    """Reserve at `at`, let the processor pay, and return what it paid."""
    before = await _earned(db, program_id, rep.org_id)
    async with db.transaction() as session:
        await lead_services.reserve_lead(session, rep.principal, lead_id, at)
    await process_events(db, at)
    return await _earned(db, program_id, rep.org_id) - before


async def test_reserving_pays_what_the_pick_list_promised(db: Database) -> None:
    world = await make_program(db)
    await _rules(db, world)
    rep = await make_reseller(db, world)
    cold, other_cold, warm = (
        await make_lead(db, world, temperature="cold"),
        await make_lead(db, world, temperature="cold"),
        await make_lead(db, world, temperature="warm"),
    )
    at = T0 + dt.timedelta(hours=2)
    async with db.reader() as session:
        promised = await reserve_preview(session, rep.org_id, [cold.id, other_cold.id, warm.id, 999_999], at)
    # Cold 30 and 20 (cap room 25), each × 1.5 in the campaign: 45 + 30.
    assert promised == {cold.id: 75, other_cold.id: 75, warm.id: 45}
    assert await _reserve(db, world.program_id, rep, cold.id, at) == 75
    async with db.reader() as session:
        promised = await reserve_preview(session, rep.org_id, [other_cold.id, warm.id, cold.id], at)
    # The capped rule has 5 of its 25 left today: 45 + 7; the reserved lead is no longer on offer.
    assert promised == {other_cold.id: 52, warm.id: 22}
    assert await _reserve(db, world.program_id, rep, other_cold.id, at) == 52
    async with db.reader() as session:
        promised = await reserve_preview(session, rep.org_id, [warm.id], at + DAY)
    # After the campaign, on the next day: 10 + 20, no multiplier.
    assert promised == {warm.id: 30}
    assert await _reserve(db, world.program_id, rep, warm.id, at + DAY) == 30


async def test_each_feedback_status_pays_what_the_form_promised(db: Database) -> None:
    world = await make_program(db)
    await _rules(db, world)
    at = T0 + dt.timedelta(hours=2)
    for status, deal_value, lost_reason in (
        ("won", Decimal("12000"), None),
        ("lost", None, "price"),
        ("contacted", None, None),
    ):
        rep = await make_reseller(db, world)
        lead = await make_lead(db, world, temperature="warm", value=Decimal("12000"))
        await _reserve(db, world.program_id, rep, lead.id, at)
        async with db.reader() as session:
            reserved = await lead_queries.lead(session, lead.id)
            assert reserved is not None
            promised = (await feedback_preview(session, rep.org_id, [reserved], at + dt.timedelta(hours=3)))[lead.id]
        assert promised["contacted"] == 22  # first and on time: 15 × 1.5
        assert promised["won"] == 22 + 150
        assert promised["lost"] == 22 + 7
        before = await _earned(db, world.program_id, rep.org_id)
        async with db.transaction() as session:
            await lead_services.give_feedback(
                session,
                rep.principal,
                lead.id,
                status=status,
                deal_value=deal_value,
                lost_reason=lost_reason,
                now=at + dt.timedelta(hours=3),
            )
        await process_events(db, at + dt.timedelta(hours=3))
        assert await _earned(db, world.program_id, rep.org_id) - before == promised[status], status
