"""A reseller reserves a lead from the pick list in German, in a real Chromium at phone width."""

from __future__ import annotations

import pytest
from playwright.async_api import async_playwright, expect

from incentives.db import Database
from tests.factories import PASSWORD, make_program
from tests.leads.helpers import make_lead, make_reseller
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS


@pytest.mark.browser
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_reseller_reserves_from_the_pick_list_in_german(db: Database, server: str) -> None:
    world = await make_program(db)
    rep = await make_reseller(db, world)
    lead = await make_lead(db, world, temperature="hot")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page(locale="de-DE", viewport={"width": 390, "height": 844})
        await page.goto(f"{server}/login")
        await page.get_by_label("E-Mail-Adresse").fill(rep.email)
        await page.get_by_label("Passwort").fill(PASSWORD)
        await page.get_by_role("button", name="Anmelden").click()
        await page.goto(f"{server}/picklist")
        await expect(page.get_by_role("heading", name="Pickliste")).to_be_visible()
        card = page.locator(f"#lead-{lead.id}")
        await expect(card.get_by_text("heiß")).to_be_visible()
        await expect(page.get_by_text(lead.company)).to_have_count(0)
        await card.get_by_role("button", name="Lead reservieren").click()
        await expect(page.get_by_role("heading", name=lead.company)).to_be_visible()
        await expect(page.get_by_text(lead.contact_email)).to_be_visible()
        await expect(page.get_by_role("button", name="Rückmeldung senden")).to_be_visible()
        await browser.close()
