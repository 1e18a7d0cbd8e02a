"""Editing, deleting and ending campaigns: every check of creating one, budget ≥ spent, delete only unpaid."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
from sqlalchemy import select

from incentives.accounts.roles import Role
from incentives.db import Database, utcnow
from incentives.errors import ValidationFailed
from incentives.rules.campaigns import CampaignInput, Segment, update_campaign
from incentives.rules.models import Campaign
from incentives.rules.processor import process_events
from tests.conftest import page_client
from tests.factories import make_member, make_program, make_user
from tests.rules import T0, add_events, add_test_rule
from tests.rules.test_campaign_refunds import budget_state
from tests.rules.test_campaigns import add_campaign
from tests.web.test_pages import csrf_of, login

DAY = dt.timedelta(days=1)


def campaign_body(program_id: int, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "program_id": program_id,
        "name": {"de": "Frühjahr", "en": "Spring"},
        "starts_at": (T0 - DAY).isoformat(),
        "ends_at": (T0 + DAY).isoformat(),
        "segment": {"tiers": ["gold"]},
        "multiplier": 2,
        "budget_points": 500,
    }
    body.update(changes)
    return body


async def stored(db: Database, campaign_id: int) -> Campaign | None:
    async with db.reader() as session:
        return await session.scalar(select(Campaign).where(Campaign.id == campaign_id))


async def test_edit_keeps_every_check_over_the_api(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    other = await make_program(db)
    org = await make_member(db, world)
    auth = world.admin.auth
    spring = (await http.post("/api/v1/campaigns", json=campaign_body(world.program_id), headers=auth)).json()
    later = campaign_body(
        world.program_id,
        name={"de": "Sommer", "en": "Summer"},
        starts_at=(T0 + 10 * DAY).isoformat(),
        ends_at=(T0 + 20 * DAY).isoformat(),
    )
    summer = (await http.post("/api/v1/campaigns", json=later, headers=auth)).json()
    await add_test_rule(db, world.program_id)  # 30 a cold lead; the campaign doubles it
    await add_events(db, world.program_id, [org], 5)
    await process_events(db, T0 + DAY)

    url = f"/api/v1/campaigns/{spring['id']}"
    edited = await http.put(url, json=campaign_body(world.program_id, multiplier=1.5, budget_points=200), headers=auth)
    assert edited.status_code == 200, edited.text
    assert (edited.json()["multiplier"], edited.json()["spent_points"], edited.json()["remaining_points"]) == (
        1.5,
        150,
        50,
    )
    cases: list[tuple[dict[str, Any], str]] = [
        ({"budget_points": 149}, "budget_points"),  # below what it has spent
        ({"ends_at": (T0 + 15 * DAY).isoformat()}, "starts_at"),  # now overlaps the summer campaign
        ({"multiplier": 11}, "multiplier"),
        ({"ends_at": (T0 - 2 * DAY).isoformat()}, "ends_at"),
        ({"program_id": other.program_id}, "program_id"),
    ]
    for change, field in cases:
        answer = await http.put(url, json={**campaign_body(world.program_id), **change}, headers=auth)
        assert answer.status_code == 422, change
        assert field in str(answer.json()["errors"]), answer.text
    german = await http.put(
        url, json=campaign_body(world.program_id, budget_points=149), headers={**auth, "Accept-Language": "de"}
    )
    assert "Muss mindestens 150 sein." in german.text
    after = await stored(db, spring["id"])
    assert after is not None and (after.multiplier, after.budget_points) == (1.5, 200)  # no partial change
    # Its own window may overlap itself.
    assert (
        await http.put(url, json=campaign_body(world.program_id, budget_points=150), headers=auth)
    ).status_code == 200
    assert (await http.put(url, json=campaign_body(world.program_id), headers=other.admin.auth)).status_code == 404

    # Paid already: DELETE ends it now; the unpaid summer campaign is deleted.
    assert (await http.delete(url, headers=other.admin.auth)).status_code == 404
    ended = await http.delete(url, headers=auth)
    assert ended.status_code == 200 and ended.json()["spent_points"] == 150
    kept = await stored(db, spring["id"])
    assert kept is not None and kept.ends_at <= utcnow() and kept.spent_points == 150
    gone = await http.delete(f"/api/v1/campaigns/{summer['id']}", headers=auth)
    assert gone.status_code == 204 and await stored(db, summer["id"]) is None
    assert (await http.get(f"/api/v1/campaigns/{summer['id']}", headers=auth)).status_code == 404
    openapi = (await http.get("/api/v1/openapi.json")).json()
    assert {"get", "put", "delete"} <= set(openapi["paths"]["/api/v1/campaigns/{id}"])


async def test_managers_edit_and_delete_campaigns_in_the_web_ui(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    other = await make_program(db)
    org = await make_member(db, world)
    rep = await make_user(db, world, org, Role.RESELLER_REP)
    start = utcnow() - DAY
    created = await http.post(
        "/api/v1/campaigns",
        json=campaign_body(
            world.program_id, starts_at=start.isoformat(), ends_at=(start + 30 * DAY).isoformat(), budget_points=100
        ),
        headers=world.admin.auth,
    )
    campaign_id = created.json()["id"]
    await login(http, world.admin.email)
    page = await http.get(f"/rules/campaigns/{campaign_id}", headers={"Accept-Language": "en"})
    assert page.status_code == 200 and "Edit campaign" in page.text and 'value="Spring"' in page.text
    assert "can be deleted" in page.text
    form = {
        "csrftoken": csrf_of(page),
        "name_de": "Frühling",
        "name_en": "Spring",
        "starts_on": start.date().isoformat(),
        "ends_on": (start + 20 * DAY).date().isoformat(),
        "tiers": "gold",
        "multiplier": "3",
        "budget_points": "0",
    }
    bad = await http.post(f"/rules/campaigns/{campaign_id}", data=form, headers={"Accept-Language": "en"})
    assert bad.status_code == 422 and "Must be at least 1." in bad.text
    saved = await http.post(f"/rules/campaigns/{campaign_id}", data={**form, "budget_points": "80"})
    assert saved.status_code == 303
    after = await stored(db, campaign_id)
    assert after is not None and (after.name_de, after.multiplier, after.budget_points) == ("Frühling", 3.0, 80)

    await add_test_rule(db, world.program_id)
    await add_events(db, world.program_id, [org], 1, at=utcnow() - dt.timedelta(hours=1))
    await process_events(db)
    page = await http.get(f"/rules/campaigns/{campaign_id}", headers={"Accept-Language": "en"})
    assert "End campaign now" in page.text and "60 of 80 points spent" in page.text
    removed = await http.post(f"/rules/campaigns/{campaign_id}/delete", data={"csrftoken": csrf_of(page)})
    assert removed.status_code == 303 and removed.headers["location"] == "/rules/campaigns?ended=1"
    listing = await http.get("/rules/campaigns?ended=1", headers={"Accept-Language": "en"})
    assert "ended now instead of deleted" in listing.text
    assert (await stored(db, campaign_id)) is not None

    for actor in (other.admin, rep):
        async with page_client(http.base_url) as client:
            await login(client, actor.email)
            assert (await client.get(f"/rules/campaigns/{campaign_id}")).status_code == 404
            token = csrf_of(await client.get("/dashboard"))
            answer = await client.post(f"/rules/campaigns/{campaign_id}/delete", data={"csrftoken": token})
            assert answer.status_code == 404
    assert (await stored(db, campaign_id)) is not None


async def test_patch_changes_only_the_given_fields(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    org = await make_member(db, world)
    rep = await make_user(db, world, org, Role.RESELLER_REP)
    other = await make_program(db)
    auth = world.admin.auth
    created = (await http.post("/api/v1/campaigns", json=campaign_body(world.program_id), headers=auth)).json()
    url = f"/api/v1/campaigns/{created['id']}"
    patched = await http.patch(url, json={"budget_points": 800, "name": {"de": "Lenz", "en": "Spring"}}, headers=auth)
    assert patched.status_code == 200, patched.text
    out = patched.json()
    assert (out["budget_points"], out["name"]["de"], out["multiplier"], out["segment"]["tiers"]) == (
        800,
        "Lenz",
        2.0,
        ["gold"],
    )
    unlimited = await http.patch(url, json={"budget_points": None}, headers=auth)
    assert unlimited.json()["budget_points"] is None and unlimited.json()["name"]["de"] == "Lenz"
    bad = await http.patch(url, json={"ends_at": (T0 - 3 * DAY).isoformat()}, headers=auth)
    assert bad.status_code == 422 and "ends_at" in str(bad.json()["errors"])
    assert (await http.patch(url, json={"multiplier": 0.5}, headers=auth)).status_code == 422
    assert (await http.patch(url, json={"budget_points": 5}, headers=other.admin.auth)).status_code == 404
    assert (await http.patch(url, json={"budget_points": 5}, headers=rep.auth)).status_code in (403, 404)
    assert (await http.delete(url, headers=rep.auth)).status_code in (403, 404)
    kept = await stored(db, created["id"])
    assert kept is not None and kept.budget_points is None and kept.multiplier == 2.0


async def test_lowering_the_budget_while_processing_spends_it_never_goes_below_spent(db: Database) -> None:
    world = await make_program(db)
    orgs = [await make_member(db, world) for _ in range(5)]
    await add_test_rule(db, world.program_id)  # 30 a cold lead, doubled: 30 extra from the budget each
    campaign = await add_campaign(db, world, multiplier=2.0, budget_points=1500)
    await add_events(db, world.program_id, orgs, 50)
    lowered = CampaignInput(
        world.program_id, "Frühjahr", "Spring", campaign.starts_at, campaign.ends_at, Segment(), 2.0, 600
    )

    async def lower() -> bool:
        """True when the edit won the race (spent was ≤ 600 then); refused otherwise."""
        try:
            async with db.transaction() as session:
                await update_campaign(session, world.admin.principal, campaign.id, lowered)
        except ValidationFailed:
            return False
        return True

    *_, won = await asyncio.gather(
        process_events(db, T0 + DAY, limit=4), process_events(db, T0 + DAY, limit=6), lower()
    )
    await process_events(db, T0 + DAY)
    spent, noted = await budget_state(db, campaign.id)
    after = await stored(db, campaign.id)
    assert after is not None and after.budget_points == (600 if won else 1500)
    assert spent == noted == (600 if won else 1500)  # every event asked for 30 extra: 50 × 30 = 1,500
