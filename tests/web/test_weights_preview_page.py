"""The settings page's matching-weights preview: who the last offered leads would have gone to under the weights
typed, before saving, over HTTP (htmx and plain) and in Chromium; nothing is saved, and only admins may ask."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import async_playwright, expect
from sqlalchemy import update

from incentives.accounts.models import Org, Program
from incentives.accounts.roles import Role
from incentives.db import Database, utcnow
from tests.conftest import page_client
from tests.factories import PASSWORD, ProgramWorld, make_program, make_user
from tests.leads.helpers import make_lead, make_reseller
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS
from tests.web.test_pages import login
from tests.web.test_settings_pages import _form

BY_TIER = {"weight_competence": "0", "weight_tier": "10", "weight_conversion": "0", "weight_proximity": "0"}
BY_TIER |= {"weight_capacity": "0", "weight_fairness": "0"}


async def _offered(db: Database) -> tuple[ProgramWorld, list[int]]:
    """Three leads offered, one partner per wave: to the heat-pump expert first; tier alone would pick platinum."""
    world = await make_program(db)
    async with db.transaction() as session:
        await session.execute(update(Program).where(Program.id == world.program_id).values(offer_wave_size=1))
    expert = await make_reseller(db, world, tier="gold", competencies=["heat_pumps"])
    platinum = await make_reseller(db, world, tier="platinum", competencies=[])
    async with db.transaction() as session:
        await session.execute(update(Org).where(Org.id == expert.org_id).values(name="Wärme Experten GmbH"))
        await session.execute(update(Org).where(Org.id == platinum.org_id).values(name="Platin Partner AG"))
    leads = [await make_lead(db, world, now=utcnow()) for _ in range(3)]
    return world, [lead.id for lead in leads]


async def test_htmx_preview_shows_the_first_waves_under_the_typed_weights(
    db: Database, http: httpx.AsyncClient
) -> None:
    world, leads = await _offered(db)
    await login(http, world.admin.email)
    page = await http.get("/settings", headers={"Accept-Language": "en"})
    form = _form(page)
    same = await http.post("/settings/matching-preview", data=form, headers={"HX-Request": "true"})
    assert same.status_code == 200, same.text
    assert "<html" not in same.text and "Preview of these weights" in same.text
    assert "0 of the last 3 offered leads would have gone to a different first wave." in same.text
    assert len(re.findall(r"<tr", same.text)) == 1 + 3 and "<mark>" not in same.text
    assert all(f'href="/leads/{lead_id}"' in same.text for lead_id in leads)
    by_tier = await http.post("/settings/matching-preview", data=form | BY_TIER, headers={"HX-Request": "true"})
    rows = by_tier.text.split("<tbody>")[1].split("<tr")[1:]
    assert all("<mark>Platin Partner AG</mark>" in row or "Platin Partner AG" in row for row in rows)
    assert all(row.split("Would have gone to")[1].count("Platin Partner AG") == 1 for row in rows)
    assert re.search(r"[1-3] of the last 3 offered leads would have gone to a different first wave", by_tier.text)
    # Nothing was saved: the page still shows the weights as they were.
    assert _form(await http.get("/settings"))["weight_tier"] == form["weight_tier"]


async def test_the_preview_in_german_with_a_wrong_weight_and_without_htmx(
    db: Database, http: httpx.AsyncClient
) -> None:
    world, _ = await _offered(db)
    admin = await make_user(db, world, world.admin.org_id, Role.ADMIN, locale="de")
    await login(http, admin.email)
    form = _form(await http.get("/settings"))
    wrong = await http.post(
        "/settings/matching-preview", data=form | {"weight_tier": "viel"}, headers={"HX-Request": "true"}
    )
    assert wrong.status_code == 422 and "Bitte korrigieren Sie die markierten Felder." in wrong.text
    assert "Partnerstufe:" in wrong.text
    plain = await http.post("/settings/matching-preview", data=form | {"weight_tier": "2,5"})
    assert plain.status_code == 200 and "<html" in plain.text and "Vorschau dieser Gewichte" in plain.text
    assert 'value="2,5"' in plain.text  # the form as typed, not saved
    assert "der letzten 3 angebotenen Leads" in plain.text


async def test_only_the_programs_admins_may_preview(db: Database, server: str) -> None:
    world, _ = await _offered(db)
    manager = await make_user(db, world, world.admin.org_id, Role.PARTNER_MANAGER)
    rep = await make_reseller(db, world)
    other = await make_program(db)  # an admin of another program previews its own program, never this one
    for email in (manager.email, rep.email, other.admin.email):
        async with page_client(server) as client:
            await login(client, email)
            home = await client.get("/", follow_redirects=True)
            token = re.search(r'"x-csrftoken": "([^"]+)"', home.text)
            assert token is not None
            headers = {"HX-Request": "true", "X-CSRFToken": token.group(1)}
            tried = await client.post("/settings/matching-preview", data=BY_TIER, headers=headers)
            if email == other.admin.email:
                assert tried.status_code == 200 and "No lead was offered yet" in tried.text
            else:
                assert tried.status_code == 404


@pytest.mark.browser
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_an_admin_clicks_preview_before_saving(db: Database, server: str) -> None:
    world, _ = await _offered(db)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page(locale="en-GB", viewport={"width": 1280, "height": 900})
        await page.goto(f"{server}/login")
        await page.locator("#email").fill(world.admin.email)
        await page.locator("#password").fill(PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        await page.goto(f"{server}/settings")
        for name, value in BY_TIER.items():
            await page.locator(f"#f-{name}").fill(value)
        await page.get_by_role("button", name="Preview").click()
        preview = page.locator("#weights-preview")
        await expect(preview).to_contain_text("of the last 3 offered leads would have gone to a different first wave")
        await expect(preview.locator("tbody tr")).to_have_count(3)
        await expect(preview.locator("mark").first).to_have_text("Platin Partner AG")
        assert page.url.endswith("/settings")  # still the form, as typed: nothing saved
        await expect(page.locator("#f-weight_tier")).to_have_value("10")
        await browser.close()
