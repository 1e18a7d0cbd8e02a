"""Rule pages over real HTTP: list, editor (generated CEL, live validation, preview, versions), campaigns,
"how to earn points", and who finds nothing there."""

from __future__ import annotations

import datetime as dt

import httpx

from incentives.accounts.roles import Role
from incentives.db import Database, utcnow
from incentives.rules.campaigns import Segment
from incentives.rules.forms import generate
from tests.factories import make_member, make_program, make_user
from tests.rules import add_events, add_test_rule
from tests.rules.test_campaigns import add_campaign
from tests.web.test_pages import csrf_of, login

HX = {"HX-Request": "true"}


def test_common_fields_generate_cel() -> None:
    condition, points, errors = generate(
        {
            "event": "lead.feedback",
            "temperature": "",
            "within_hours": "24",
            "tier": "gold",
            "product_line": 'heat "pumps"',
            "base_points": "10",
            "cold_multiplier": "3",
        },
        "en",
    )
    assert errors == {}
    assert (
        condition
        == 'feedback.hours_since_reserved <= 24.0 && partner.tier == "gold" && lead.product_line == "heat \\"pumps\\""'
    )
    assert points == 'lead.temperature == "cold" ? 30 : 10'
    won = {"event": "lead.won", "temperature": "cold", "base_points": "5", "cold_multiplier": "2"}
    assert generate(won, "de")[:2] == (
        'lead.temperature == "cold"',
        "10",
    )
    wrong = {"event": "lead.won", "within_hours": "5", "base_points": "-1", "cold_multiplier": "11"}
    _, _, errors = generate(wrong, "de")
    assert set(errors) == {"within_hours", "base_points", "cold_multiplier"}


async def test_manager_edits_a_rule_with_validation_preview_and_versions(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    org = await make_member(db, world)
    await add_events(db, world.program_id, [org], 3, at=utcnow() - dt.timedelta(days=2))
    await login(http, world.admin.email)
    page = await http.get("/rules/new", headers={"Accept-Language": "en"})
    assert page.status_code == 200 and "Common cases" in page.text
    token = csrf_of(page)
    form = {"csrftoken": token, "name_de": "Reservierung", "name_en": "Reservation", "event": "lead.reserved"}

    bad = await http.post(
        "/rules/validate", data={**form, "condition": "lead.temprature == 1", "points": "5"}, headers=HX
    )
    assert bad.status_code == 200 and "Line 1, column 1" in bad.text and "temprature" in bad.text
    good = await http.post("/rules/validate", data={**form, "condition": "true", "points": "5"}, headers=HX)
    assert "are valid" in good.text

    generated = await http.post(
        "/rules/generate", data={**form, "temperature": "cold", "base_points": "12", "cold_multiplier": ""}, headers=HX
    )
    assert "lead.temperature == &#34;cold&#34;" in generated.text and ">12</textarea>" in generated.text

    preview = await http.post(
        "/rules/simulate", data={**form, "condition": 'lead.temperature == "cold"', "points": "12"}, headers=HX
    )
    assert "36 points in total" in preview.text and "3 awards" in preview.text

    refused = await http.post("/rules/new", data={**form, "condition": "1 +", "points": "5", "active": "1"})
    assert refused.status_code == 422 and "Condition" in refused.text
    saved = await http.post("/rules/new", data={**form, "condition": "true", "points": "5", "active": "1"})
    assert saved.status_code == 303
    location = saved.headers["location"]
    rule_url = location.split("?")[0]
    again = await http.post(rule_url, data={**form, "name_en": "Reserved", "condition": "true", "points": "6"})
    assert again.status_code == 303 and again.headers["location"].endswith("?saved=2")
    shown = await http.get(again.headers["location"])
    assert "Saved as version 2." in shown.text and "Version history" in shown.text
    assert shown.text.count("<code>5</code>") == 1 and shown.text.count("<code>6</code>") == 1
    # Editing a capped rule: the preview keeps its cap (3 events of 12 points, at most 20 a day).
    capped = await add_test_rule(db, world.program_id, cap_per="day", cap_max_points=20)
    preview = await http.post(
        "/rules/simulate",
        data={**form, "rule_id": str(capped.rule_id), "condition": "true", "points": "12"},
        headers=HX,
    )
    assert "20 points in total" in preview.text
    listed = await http.get("/rules")
    assert "Reserved" in listed.text and "a lead is reserved" in listed.text


async def test_pages_in_german(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    await add_test_rule(db, world.program_id)
    org = await make_member(db, world)
    rep = await make_user(db, world, org, Role.RESELLER_REP, locale="de")
    await login(http, world.admin.email)
    await http.post(
        "/language", data={"locale": "de", "csrftoken": csrf_of(await http.get("/rules")), "next": "/rules"}
    )
    page = await http.get("/rules")
    assert "Regeln" in page.text and "Testregel" in page.text
    await http.post("/logout", data={"csrftoken": csrf_of(page)})
    await login(http, rep.email)
    earn = await http.get("/points/earn")
    assert earn.status_code == 200 and "So sammeln Sie Punkte" in earn.text and "Testregel" in earn.text
    assert "kalter Lead: 30 Punkte" in earn.text


async def test_partner_sees_how_to_earn_points(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    org = await make_member(db, world)
    rep = await make_user(db, world, org, Role.RESELLER_REP, locale="en")
    now = utcnow()
    campaign = await add_campaign(
        db,
        world,
        starts_at=now - dt.timedelta(days=1),
        ends_at=now + dt.timedelta(days=9),
        multiplier=2.0,
        budget_points=5000,
        segment=Segment(tiers=("gold",)),
    )
    await add_test_rule(db, world.program_id, name_en="Reserving", cap_per="day", cap_max_points=300)
    await add_test_rule(db, world.program_id, name_en="Spring bonus", points="25", campaign_id=campaign.id)
    await add_test_rule(db, world.program_id, name_en="Won", event="lead.won", points="int(deal.value / 100.0)")
    await add_test_rule(db, world.program_id, name_en="Old", active=False)
    await login(http, rep.email)
    page = await http.get("/points/earn")
    assert page.status_code == 200
    text = page.text
    assert (
        "Reserving" in text and "cold lead: 30 points, warm: 10, hot: 10" in text and "At most 300 points a day" in text
    )
    assert "All points × 2" in text and "Spring bonus: <strong>25 points" in text and "5,000 points left" in text
    assert "points grow with the deal value" in text and "Old" not in text
    assert "When you win a deal" in text


async def test_scope_of_the_rule_pages(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    other = await make_program(db)
    rule = await add_test_rule(db, world.program_id)
    org = await make_member(db, world)
    rep = await make_user(db, world, org, Role.RESELLER_MANAGER)
    await login(http, rep.email)
    for path in ("/rules", "/rules/new", f"/rules/{rule.rule_id}", "/rules/campaigns"):
        assert (await http.get(path)).status_code == 404, path
    page = await http.get("/points/earn")
    assert page.status_code == 200
    posted = await http.post("/rules/validate", data={"csrftoken": csrf_of(page), "event": "lead.won"}, headers=HX)
    assert posted.status_code == 404
    await http.post("/logout", data={"csrftoken": csrf_of(page)})

    await login(http, other.admin.email)
    assert (await http.get(f"/rules/{rule.rule_id}")).status_code == 404
    page = await http.get("/rules")
    assert page.status_code == 200 and "Test rule" not in page.text
    assert (await http.get("/points/earn")).status_code == 404


async def test_campaign_list_shows_the_budget(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    now = utcnow()
    await add_campaign(
        db,
        world,
        starts_at=now - dt.timedelta(days=1),
        ends_at=now + dt.timedelta(days=9),
        budget_points=1000,
        multiplier=1.5,
        segment=Segment(regions=("DE-80",), product_lines=("heat_pumps",)),
    )
    await login(http, world.admin.email)
    page = await http.get("/rules/campaigns", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert "0 of 1,000 points spent" in page.text and "points × 1.5" in page.text and "DE-80" in page.text
    assert 'role="progressbar"' in page.text and "pays the remainder" in page.text


async def test_manager_creates_a_campaign_in_the_form(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    await login(http, world.admin.email)
    page = await http.get("/rules/campaigns/new", headers={"Accept-Language": "en"})
    assert page.status_code == 200 and "Segment" in page.text
    form = {
        "csrftoken": csrf_of(page),
        "name_de": "Frühling",
        "name_en": "Spring",
        "starts_on": "2026-03-01",
        "ends_on": "2026-03-31",
        "tiers": ["gold", "silver"],
        "regions": "de-8, AT",
        "product_lines": "heat_pumps",
        "multiplier": "1,5",
        "budget_points": "2000",
    }
    bad = await http.post("/rules/campaigns/new", data={**form, "regions": "Bavaria"})
    assert bad.status_code == 422 and "Regions are country codes" in bad.text
    bad = await http.post("/rules/campaigns/new", data={**form, "multiplier": "12"})
    assert bad.status_code == 422 and "Must be between 1 and 10." in bad.text
    created = await http.post("/rules/campaigns/new", data=form)
    assert created.status_code == 303
    clash = await http.post("/rules/campaigns/new", data={**form, "starts_on": "2026-03-31", "ends_on": "2026-04-02"})
    assert clash.status_code == 422 and "Overlaps the campaign" in clash.text
    listed = await http.get("/rules/campaigns")
    assert "Spring" in listed.text and "1 Mar 2026 – 31 Mar 2026" in listed.text and "points × 1.5" in listed.text
    assert "DE-8, AT" in listed.text and "0 of 2,000 points spent" in listed.text
