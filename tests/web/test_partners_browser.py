"""A real Chromium: a German admin opens Partners, adds a partner with a German
capacity ("1.200") and sees it on its page and in the list."""

from __future__ import annotations

import pytest
from playwright.async_api import async_playwright, expect
from sqlalchemy import select

from incentives.accounts.models import Membership, Org
from incentives.accounts.roles import Role
from incentives.db import Database
from tests.factories import make_program, make_user
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS, log_in

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("backend", ["sqlite"], indirect=True)]


async def test_an_admin_adds_a_partner_in_german(db: Database, server: str) -> None:
    world = await make_program(db)
    admin = await make_user(db, world, world.admin.org_id, Role.ADMIN, locale="de")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        await log_in(page, server, admin.email)
        await page.goto(f"{server}/partners")
        await page.get_by_role("link", name="Partner hinzufügen").click()
        await page.locator("#f-name").fill("Sonnenschein Solar GmbH")
        await page.get_by_label("Art", exact=True).select_option("distributor")
        await page.get_by_label("Land", exact=True).select_option("AT")
        await page.get_by_label("Partnerstufe", exact=True).select_option("gold")
        await page.get_by_label("Kompetenzen", exact=True).fill("Wärmepumpen, PV")
        await page.get_by_label("Regionen", exact=True).fill("AT-10, AT")
        await page.get_by_label("Kapazität", exact=True).fill("1.200")
        await page.get_by_role("button", name="Partner hinzufügen").click()
        await expect(page.get_by_role("status")).to_contain_text("Der Partner ist hinzugefügt.")
        await expect(page.locator("h1")).to_have_text("Sonnenschein Solar GmbH")
        await expect(page.get_by_label("Kapazität", exact=True)).to_have_value("1200")
        await page.goto(f"{server}/partners?q=sonnen")
        row = page.locator("tr", has_text="Sonnenschein Solar GmbH")
        await expect(row).to_contain_text("Distributor")
        await expect(row).to_contain_text("1.200")
        await expect(row).to_contain_text("Noch keine Benutzer")
        await browser.close()
    async with db.reader() as session:
        org = await session.scalar(select(Org).where(Org.name == "Sonnenschein Solar GmbH"))
        assert org is not None and org.kind == "distributor" and org.country == "AT"
        membership = await session.scalar(select(Membership).where(Membership.org_id == org.id))
    assert membership is not None and membership.capacity == 1200 and membership.regions == ["AT", "AT-10"]
