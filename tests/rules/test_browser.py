"""A manager writes a rule in a real Chromium: a typo is flagged as typed, fixed, previewed, saved."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.async_api import async_playwright, expect

from incentives.db import Database, utcnow
from tests.factories import PASSWORD, make_member, make_program
from tests.rules import add_events
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS


@pytest.mark.browser
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_manager_fixes_a_validation_error_and_sees_the_simulation(db: Database, server: str) -> None:
    world = await make_program(db)
    orgs = [await make_member(db, world), await make_member(db, world)]
    await add_events(db, world.program_id, orgs, 4, at=utcnow() - dt.timedelta(days=3))
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page(locale="en-US", viewport={"width": 1280, "height": 900})
        await page.goto(f"{server}/login")
        await page.get_by_label("E-mail address").fill(world.admin.email)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        await page.goto(f"{server}/rules/new")
        await page.get_by_label("Name in German").fill("Kalte Leads reservieren")
        await page.get_by_label("Name in English").fill("Reserve cold leads")
        await page.get_by_label("Pays when").select_option("lead.reserved")
        condition = page.get_by_label("Condition (CEL)")
        await condition.fill("")
        await condition.press_sequentially('lead.temprature == "cold"')
        await expect(page.locator("#validation")).to_contain_text("Line 1, column 1")
        await expect(page.locator("#validation")).to_contain_text("temprature")
        await condition.fill("")
        await condition.press_sequentially('lead.temperature == "cold"')
        await expect(page.locator("#validation")).to_contain_text("are valid")
        points = page.get_by_label("Points (CEL, a whole number)")
        await points.fill("")
        await points.press_sequentially("25")
        await page.get_by_role("button", name="Preview the last 30 days").click()
        await expect(page.locator("#simulation")).to_contain_text("100 points in total")
        await expect(page.locator("#simulation tbody tr")).to_have_count(2)
        await page.get_by_role("button", name="Save rule").click()
        await expect(page.get_by_text("Saved as version 1.")).to_be_visible()
        await expect(page.get_by_role("heading", name="Version history")).to_be_visible()
        await browser.close()
