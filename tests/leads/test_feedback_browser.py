"""A real Chromium: the feedback form shows only the fields the chosen status needs."""

from __future__ import annotations

import pytest
from playwright.async_api import async_playwright, expect

from incentives.db import Database
from incentives.leads import services
from tests.factories import make_program
from tests.leads.helpers import make_lead, make_reseller
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS, log_in


@pytest.mark.browser
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_the_feedback_form_asks_only_what_the_status_needs(db: Database, server: str) -> None:
    world = await make_program(db)
    rep = await make_reseller(db, world)
    lead = await make_lead(db, world)
    async with db.transaction() as session:
        await services.reserve_lead(session, rep.principal, lead.id)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page(locale="en-GB", viewport={"width": 390, "height": 844})
        await log_in(page, server, rep.email)
        await page.goto(f"{server}/leads/mine")
        deal, reason = page.locator(f"#deal-{lead.id}"), page.locator(f"#reason-{lead.id}")
        await expect(deal).to_be_hidden()
        await expect(reason).to_be_hidden()
        await page.locator(f"#status-{lead.id}").select_option("won")
        await expect(deal).to_be_visible()
        await expect(reason).to_be_hidden()
        await page.locator(f"#status-{lead.id}").select_option("lost")
        await expect(reason).to_be_visible()
        await expect(deal).to_be_hidden()
        await page.locator(f"#status-{lead.id}").select_option("contacted")
        await expect(deal).to_be_hidden()
        await expect(reason).to_be_hidden()
        await browser.close()
