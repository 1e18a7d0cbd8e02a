"""A real Chromium: the header is one line on a phone with a menu that opens by touch or keyboard, shows
everything on a wide screen, and switches the language in one click, staying on the same page."""

from __future__ import annotations

import pytest
from playwright.async_api import async_playwright, expect

from incentives.accounts.roles import Role
from incentives.db import Database
from tests.factories import make_member, make_org, make_program, make_user
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS, log_in


@pytest.mark.browser
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_the_phone_menu_opens_by_keyboard_and_tap_targets_are_large(db: Database, server: str) -> None:
    world = await make_program(db)
    org = await make_member(db, world)
    manager = await make_user(db, world, org, Role.RESELLER_MANAGER, locale="de")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page(locale="de-DE", viewport={"width": 390, "height": 844})
        await log_in(page, server, manager.email)
        await page.goto(f"{server}/wallet?kind=earned")
        header = await page.locator("header.top").bounding_box()
        assert header is not None and header["height"] < 80, header
        wallet = page.locator("header").get_by_role("link", name="Punktekonto")
        await expect(wallet).to_be_hidden()
        await page.locator("#menu-toggle").focus()
        await page.keyboard.press("Space")
        await expect(wallet).to_be_visible()
        for target in (wallet, page.get_by_role("button", name="English"), page.locator("label.menu-button")):
            box = await target.bounding_box()
            assert box is not None and box["height"] >= 44, (await target.inner_text(), box)
        await page.get_by_role("button", name="English").click()
        await expect(page).to_have_url(f"{server}/wallet?kind=earned")
        await expect(page.get_by_role("heading", name="Wallet", exact=True)).to_be_visible()
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390
        await browser.close()


@pytest.mark.browser
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_wide_screen_shows_navigation_and_tools_without_a_menu(db: Database, server: str) -> None:
    world = await make_program(db)
    org = await make_member(db, world)
    manager = await make_user(db, world, org, Role.RESELLER_MANAGER, locale="en")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page(locale="en-GB", viewport={"width": 1280, "height": 800})
        await log_in(page, server, manager.email)
        await page.goto(f"{server}/dashboard")
        await expect(page.locator("label.menu-button")).to_be_hidden()
        await expect(page.locator("header").get_by_role("link", name="Wallet")).to_be_visible()
        await expect(page.get_by_role("button", name="Log out")).to_be_visible()
        assert await page.locator("select[name=locale]").count() == 0
        await page.get_by_role("button", name="Deutsch").click()
        await expect(page.get_by_role("button", name="Abmelden")).to_be_visible()
        await expect(page.get_by_role("button", name="English")).to_be_visible()
        await browser.close()


# The header's parts on a wide screen: each must sit on the brand's line, whatever the role and language.
_HEADER_ROWS = """() => {
  const parts = [...document.querySelectorAll(
    "header.top > .brand, header.top nav > ul > li, header.top .pulse > *, header.top .tools > *")];
  const shown = parts.filter((el) => el.getClientRects().length > 0);
  const middle = (el) => { const r = el.getBoundingClientRect(); return Math.round(r.top + r.height / 2); };
  const brand = middle(shown[0]);
  return { brand, off: shown.filter((el) => Math.abs(middle(el) - brand) > 12).map((el) => el.textContent.trim()),
           height: document.querySelector("header.top").getBoundingClientRect().height };
}"""


@pytest.mark.browser
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_every_header_is_one_line_at_1280_in_german(db: Database, server: str) -> None:
    """The managers' many entries once wrapped to three lines; the rarer ones are now in a "More" menu."""
    world = await make_program(db)
    reseller = await make_member(db, world)
    distributor = await make_member(db, world, kind="distributor")
    users = [
        await make_user(db, world, world.admin.org_id, Role.ADMIN, locale="de"),
        await make_user(db, world, world.admin.org_id, Role.PARTNER_MANAGER, locale="de"),
        await make_user(db, world, await make_org(db, world, "agency"), Role.AGENCY, locale="de"),
        await make_user(db, world, distributor, Role.DISTRIBUTOR_MANAGER, locale="de"),
        await make_user(db, world, reseller, Role.RESELLER_MANAGER, locale="de"),
        await make_user(db, world, reseller, Role.RESELLER_REP, locale="de"),
    ]
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for user in users:
            context = await browser.new_context(locale="de-DE", viewport={"width": 1280, "height": 800})
            page = await context.new_page()
            await log_in(page, server, user.email)
            await page.goto(f"{server}/dashboard")
            await expect(page.get_by_role("button", name="Abmelden")).to_be_visible()
            rows = await page.evaluate(_HEADER_ROWS)
            assert rows["off"] == [] and rows["height"] < 80, (user.email, rows)
            await context.close()
        # The admin's rarer entries open from "Mehr" by keyboard, over the page, and close again.
        page = await browser.new_page(locale="de-DE", viewport={"width": 1280, "height": 800})
        await log_in(page, server, users[0].email)
        await page.goto(f"{server}/dashboard")
        webhooks = page.locator("header").get_by_role("link", name="Webhooks")
        await expect(webhooks).to_be_hidden()
        await page.locator("header summary").focus()
        await page.keyboard.press("Enter")
        await expect(webhooks).to_be_visible()
        header = await page.locator("header.top").bounding_box()
        assert header is not None and header["height"] < 80, header  # the list lies over the page
        await webhooks.click()
        await expect(page).to_have_url(f"{server}/webhooks")
        await expect(page.locator("header summary.current")).to_have_text("Mehr")
        await browser.close()
