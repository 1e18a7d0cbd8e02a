"""Campaigns: multipliers in window and segment, campaign-only rules, budgets that hold under concurrency."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from incentives.db import Database
from incentives.errors import ValidationFailed
from incentives.leads.models import OutboxEvent
from incentives.rules.campaigns import CampaignInput, Segment, create_campaign
from incentives.rules.models import Campaign, RuleAward, RuleSkip
from incentives.rules.processor import process_events
from tests.factories import ProgramWorld, make_member, make_program
from tests.ledger import assert_clean
from tests.rules import T0, add_events, add_test_rule, earned, payload

NOW = T0 + dt.timedelta(days=3)
DAY = dt.timedelta(days=1)


async def add_campaign(db: Database, world: ProgramWorld, **fields: Any) -> Campaign:
    spec: dict[str, Any] = {
        "name_de": "Frühjahr",
        "name_en": "Spring",
        "starts_at": T0 - DAY,
        "ends_at": T0 + DAY,
    }
    spec.update(fields)
    async with db.transaction() as session:
        return await create_campaign(session, world.admin.principal, CampaignInput(program_id=world.program_id, **spec))


async def add_event(db: Database, program_id: int, org_id: int, at: dt.datetime = T0, **changes: Any) -> int:
    """One lead.reserved event; `tier=`, `product_line=` change the partner's tier and the lead's product line."""
    body = payload("lead.reserved", org_id, at)
    if "tier" in changes:
        body["partner"]["tier"] = changes["tier"]
    if "product_line" in changes:
        body["lead"]["product_line"] = changes["product_line"]
    async with db.transaction() as session:
        event = OutboxEvent(program_id=program_id, event_type="lead.reserved", org_id=org_id, payload=body, at=at)
        session.add(event)
        await session.flush()
        return event.id


async def paid_by_event(db: Database, program_id: int) -> dict[int, tuple[int, int]]:
    async with db.reader() as session:
        rows = await session.execute(
            select(RuleAward.event_id, RuleAward.points, RuleAward.campaign_points).where(
                RuleAward.program_id == program_id
            )
        )
        return {event_id: (points, extra) for event_id, points, extra in rows.all()}


async def test_multiplier_applies_in_window_and_segment_only(db: Database) -> None:
    world = await make_program(db)
    org = await make_member(db, world)
    await add_test_rule(db, world.program_id)  # 30 points for a cold lead
    campaign = await add_campaign(
        db, world, multiplier=1.5, segment=Segment(tiers=("gold",), regions=("DE-8",), product_lines=("heat_pumps",))
    )
    inside = await add_event(db, world.program_id, org)
    silver = await add_event(db, world.program_id, org, tier="silver")
    other_line = await add_event(db, world.program_id, org, product_line="solar")
    later = await add_event(db, world.program_id, org, at=T0 + 2 * DAY)
    await process_events(db, NOW)
    assert await paid_by_event(db, world.program_id) == {
        inside: (45, 15),
        silver: (30, 0),
        other_line: (30, 0),
        later: (30, 0),
    }
    async with db.reader() as session:
        assert await session.scalar(select(Campaign.spent_points).where(Campaign.id == campaign.id)) == 15
    assert await earned(db, world.program_id) == 45 + 3 * 30
    await assert_clean(db)


async def test_region_outside_the_partners_regions_pays_no_extra(db: Database) -> None:
    world = await make_program(db)
    org = await make_member(db, world)  # serves DE-80
    await add_test_rule(db, world.program_id)
    await add_campaign(db, world, multiplier=2.0, segment=Segment(regions=("AT",)))
    event = await add_event(db, world.program_id, org)
    await process_events(db, NOW)
    assert await paid_by_event(db, world.program_id) == {event: (30, 0)}


async def test_campaign_only_rule_pays_only_in_its_campaign(db: Database) -> None:
    world = await make_program(db)
    org = await make_member(db, world)
    campaign = await add_campaign(db, world, segment=Segment(tiers=("gold",)))
    await add_test_rule(db, world.program_id, points="7", campaign_id=campaign.id)
    inside = await add_event(db, world.program_id, org)
    await add_event(db, world.program_id, org, tier="silver")
    await add_event(db, world.program_id, org, at=T0 + 2 * DAY)
    await process_events(db, NOW)
    assert await paid_by_event(db, world.program_id) == {inside: (7, 7)}


async def test_budget_holds_under_50_concurrent_events(db: Database) -> None:
    world = await make_program(db)
    orgs = [await make_member(db, world) for _ in range(5)]
    campaign = await add_campaign(db, world, budget_points=1000)
    rule = await add_test_rule(db, world.program_id, campaign_id=campaign.id)  # 30 each: 50 × 30 = 1500 wanted
    await add_events(db, world.program_id, orgs, 50)
    # 50 processors over separate sessions, each taking one event at a time.
    await asyncio.gather(*(process_events(db, NOW, limit=1) for _ in range(50)))
    paid = await paid_by_event(db, world.program_id)
    assert sum(points for points, _ in paid.values()) == 1000
    assert sorted(points for points, _ in paid.values()) == [10] + [30] * 33  # the remainder, then nothing
    assert await earned(db, world.program_id) == 1000
    async with db.reader() as session:
        assert await session.scalar(select(Campaign.spent_points).where(Campaign.id == campaign.id)) == 1000
        skipped = await session.scalar(
            select(func.count()).select_from(RuleSkip).where(RuleSkip.rule_id == rule.rule_id)
        )
    assert skipped == 16
    await assert_clean(db)


async def test_multiplier_extra_stops_at_the_budget_base_points_do_not(db: Database) -> None:
    world = await make_program(db)
    orgs = [await make_member(db, world) for _ in range(2)]
    await add_test_rule(db, world.program_id)
    await add_campaign(db, world, multiplier=2.0, budget_points=100)
    await add_events(db, world.program_id, orgs, 5)
    await asyncio.gather(*(process_events(db, NOW, limit=1) for _ in range(5)))
    paid = sorted((await paid_by_event(db, world.program_id)).values())
    assert paid == [(30, 0), (40, 10), (60, 30), (60, 30), (60, 30)]
    assert await earned(db, world.program_id) == 5 * 30 + 100


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"ends_at": T0 - DAY}, "ends_at"),
        ({"multiplier": 11.0}, "multiplier"),
        ({"multiplier": 0.5}, "multiplier"),
        ({"budget_points": 0}, "budget_points"),
    ],
)
async def test_bad_campaigns_are_refused(db: Database, fields: dict[str, Any], field: str) -> None:
    world = await make_program(db)
    with pytest.raises(ValidationFailed) as raised:
        await add_campaign(db, world, **fields)
    assert [error.loc for error in raised.value.errors] == [(field,)]
    async with db.reader() as session:
        assert await session.scalar(select(func.count()).select_from(Campaign)) == 0


async def test_overlapping_campaigns_need_disjoint_segments(db: Database) -> None:
    world = await make_program(db)
    await add_campaign(db, world, segment=Segment(tiers=("gold",), regions=("DE",)))
    with pytest.raises(ValidationFailed):
        await add_campaign(db, world, starts_at=T0, ends_at=T0 + 5 * DAY, segment=Segment(regions=("DE-80",)))
    # Another tier, or a window after the first one's end, is fine.
    await add_campaign(db, world, segment=Segment(tiers=("silver",)))
    await add_campaign(db, world, starts_at=T0 + DAY, ends_at=T0 + 2 * DAY)


async def test_campaigns_over_http(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    other = await make_program(db)
    orgs = [await make_member(db, world) for _ in range(2)]
    body: dict[str, Any] = {
        "program_id": world.program_id,
        "name": {"de": "Frühjahr", "en": "Spring"},
        "starts_at": (T0 - DAY).isoformat(),
        "ends_at": (T0 + DAY).isoformat(),
        "segment": {"tiers": ["gold"], "regions": ["de-80"], "product_lines": ["heat_pumps"]},
        "multiplier": 2,
        "budget_points": 500,
    }
    created = await http.post("/api/v1/campaigns", json=body, headers=world.admin.auth)
    assert created.status_code == 201, created.text
    out = created.json()
    assert out["segment"]["regions"] == ["DE-80"] and out["remaining_points"] == 500
    clash = await http.post("/api/v1/campaigns", json=body, headers=world.admin.auth)
    assert clash.status_code == 422 and "Spring" in clash.text
    for bad in ({"multiplier": 10.5}, {"budget_points": -1}, {"starts_at": "2026-03-01T00:00:00"}):
        answer = await http.post("/api/v1/campaigns", json={**body, **bad}, headers=world.admin.auth)
        assert answer.status_code == 422, bad
    assert (await http.post("/api/v1/campaigns", json=body, headers=other.admin.auth)).status_code == 404

    await add_test_rule(db, world.program_id)
    await add_events(db, world.program_id, orgs, 4)
    await process_events(db, NOW)
    progress = (await http.get(f"/api/v1/campaigns/{out['id']}", headers=world.admin.auth)).json()
    assert (progress["spent_points"], progress["remaining_points"], progress["participants"]) == (120, 380, 2)
    listed = (await http.get("/api/v1/campaigns", headers=world.admin.auth)).json()["items"]
    assert [item["id"] for item in listed] == [out["id"]]
    assert (await http.get(f"/api/v1/campaigns/{out['id']}", headers=other.admin.auth)).status_code == 404
