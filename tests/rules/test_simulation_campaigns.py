"""Simulation applies campaign multipliers, budgets and campaign-only rules as processing does."""

from __future__ import annotations

import datetime as dt

import httpx

from incentives.db import Database, utcnow
from incentives.rules.evaluation import ActiveRule
from incentives.rules.processor import process_events
from incentives.rules.simulation import simulate
from tests.factories import make_member, make_program
from tests.rules import T0, add_events, add_test_rule, earned
from tests.rules.test_campaigns import add_campaign
from tests.web.test_pages import csrf_of, login

DAY = dt.timedelta(days=1)


async def test_simulation_with_a_multiplier_equals_what_processing_pays(db: Database) -> None:
    world = await make_program(db)
    orgs = [await make_member(db, world) for _ in range(2)]
    rule = await add_test_rule(db, world.program_id)  # 30 for a cold lead
    await add_campaign(db, world, multiplier=2.0, budget_points=100)  # T0 - 1 day .. T0 + 1 day
    await add_events(db, world.program_id, orgs, 5)  # in the campaign: 30 + 30 extra, until the budget is spent
    await add_events(db, world.program_id, orgs, 2, at=T0 + 3 * DAY)  # after it: 30
    async with db.reader() as session:
        result = await simulate(session, ActiveRule.of(rule), T0 - 2 * DAY, T0 + 5 * DAY)
    assert (result.points, result.campaign_points, result.awards) == (7 * 30 + 100, 100, 7)
    await process_events(db, T0 + 5 * DAY)
    assert await earned(db, world.program_id) == result.points


async def test_simulation_of_a_campaign_only_rule_pays_only_within_its_campaign(db: Database) -> None:
    world = await make_program(db)
    org = await make_member(db, world)
    campaign = await add_campaign(db, world, budget_points=35)
    rule = await add_test_rule(db, world.program_id, points="10", campaign_id=campaign.id)
    await add_events(db, world.program_id, [org], 5)
    await add_events(db, world.program_id, [org], 2, at=T0 + 3 * DAY)
    async with db.reader() as session:
        result = await simulate(session, ActiveRule.of(rule), T0 - 2 * DAY, T0 + 5 * DAY, campaign.id)
    assert (result.points, result.campaign_points, result.awards) == (35, 35, 4)  # 10, 10, 10, the last 5
    await process_events(db, T0 + 5 * DAY)
    assert await earned(db, world.program_id) == 35


async def test_the_editor_preview_shows_campaign_points(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    org = await make_member(db, world)
    now = utcnow()
    await add_campaign(db, world, starts_at=now - 5 * DAY, ends_at=now + DAY, multiplier=1.5)
    await add_events(db, world.program_id, [org], 4, at=now - 2 * DAY)
    await login(http, world.admin.email)
    page = await http.get("/rules/new", headers={"Accept-Language": "en"})
    form = {
        "csrftoken": csrf_of(page),
        "event": "lead.reserved",
        "condition": "true",
        "points": "10",
        "name_de": "x",
        "name_en": "x",
    }
    preview = await http.post("/rules/simulate", data=form, headers={"HX-Request": "true", "Accept-Language": "en"})
    assert preview.status_code == 200
    assert "60 points in total" in preview.text and "of which 20 points from campaign multipliers" in preview.text
