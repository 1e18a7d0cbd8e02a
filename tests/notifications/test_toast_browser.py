"""A real Chromium: a reseller reserves from the pick list, sees what it earns, and when the processor pays,
the toast and the header balance appear on the open page without a reload (pushed: the page's event stream)."""

from __future__ import annotations

import pytest
from playwright.async_api import async_playwright, expect

from incentives import live
from incentives.accounts.roles import Role
from incentives.db import Database, utcnow
from incentives.rules.processor import process_events
from tests.factories import make_program, make_user
from tests.leads.helpers import make_lead, make_reseller
from tests.rules import add_test_rule
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS, log_in


@pytest.mark.browser
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_reservation_pays_and_the_open_page_shows_it(db: Database, server: str) -> None:
    world = await make_program(db)
    await add_test_rule(db, world.program_id, name_de="Kalter Lead", name_en="Cold lead")  # cold: 30
    rep = await make_reseller(db, world)
    manager = await make_user(db, world, rep.org_id, Role.RESELLER_MANAGER, locale="en")
    lead = await make_lead(db, world, temperature="cold", now=utcnow())
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page(locale="en-GB", viewport={"width": 390, "height": 844})
        await log_in(page, server, manager.email)
        await page.goto(f"{server}/picklist")
        header = page.locator("#pulse .header-balance")
        await expect(header).to_contain_text("0 points")
        card = page.locator(f"#lead-{lead.id}")
        await expect(card.locator(".earn")).to_have_text("+30 points when you reserve")
        await card.get_by_role("button", name="Reserve lead").click()
        await expect(page).to_have_url(f"{server}/leads/{lead.id}")
        await expect(page.locator(".moment")).to_contain_text("Lead reserved: it earns you 30 points")
        loads: list[str] = []
        page.on("load", lambda _: loads.append(page.url))

        live.enable(db)  # as the worker does: its commits' notices reach the open pages
        assert await process_events(db) == 1  # the processor pays after the commit, and keeps a notice

        toast = page.locator("#toasts .toast")
        await expect(toast).to_have_text("You earned 30 points: Cold lead", timeout=10_000)
        await expect(header).to_contain_text("30 points")
        assert loads == []  # no reload: the fragment the event stream asked for brought both
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390
        await page.screenshot(path="/tmp/home-toast-390.png")
        # Shown once: the next polls bring no second toast.
        await page.wait_for_timeout(4500)
        await expect(toast).to_have_count(1)
        await browser.close()
