"""A real Chromium logs in, switches the language and sees German text."""

from __future__ import annotations

import shutil

import pytest
from playwright.async_api import Page, async_playwright, expect

from incentives.accounts.roles import Role
from incentives.db import Database
from tests.factories import PASSWORD, make_member, make_program, make_user

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-gpu",
    "--disable-quic",
]


async def log_in(page: Page, server: str, email: str) -> None:
    """Log in through the login form, in whatever language the page is."""
    await page.goto(f"{server}/login")
    await page.locator("#email").fill(email)
    await page.locator("#password").fill(PASSWORD)
    await page.locator("form[action='/login'] button[type=submit]").click()


@pytest.mark.browser
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_log_in_switch_to_german_on_a_phone(db: Database, server: str) -> None:
    world = await make_program(db)
    org = await make_member(db, world)
    manager = await make_user(db, world, org, Role.RESELLER_MANAGER)  # no language setting yet
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page(locale="en-GB", viewport={"width": 390, "height": 844})
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        await page.goto(f"{server}/dashboard")
        await expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        await page.get_by_label("E-mail address").fill(manager.email)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        await expect(page.get_by_role("heading", name="Leads owing feedback")).to_be_visible()
        # On a phone the header is one line; the menu opens below it and holds the one-click language switch.
        header = await page.locator("header.top").bounding_box()
        assert header is not None and header["height"] < 80, header
        await expect(page.get_by_role("button", name="Log out")).to_be_hidden()
        await page.locator("label.menu-button").click()
        await expect(page.locator("header").get_by_role("link", name="Wallet")).to_be_visible()
        await page.get_by_role("button", name="Deutsch").click()
        await expect(page.get_by_role("heading", name="Leads mit offener Rückmeldung")).to_be_visible()
        await page.locator("label.menu-button").click()
        await expect(page.get_by_role("button", name="Abmelden")).to_be_visible()
        assert await page.locator("html").get_attribute("lang") == "de"
        # Remembered: a new browser context that logs in as the same user is German at once.
        fresh = await browser.new_page(locale="en-GB")
        await fresh.goto(f"{server}/login")
        await fresh.get_by_label("E-mail address").fill(manager.email)
        await fresh.get_by_label("Password").fill(PASSWORD)
        await fresh.get_by_role("button", name="Log in").click()
        await expect(fresh.get_by_role("button", name="Abmelden")).to_be_visible()
        # htmx runs under the Content-Security-Policy: the pulse polls (an htmx request) and nothing is refused.
        async with page.expect_response(lambda response: "/me/pulse" in response.url):
            await page.reload()
        assert await page.evaluate("typeof htmx") == "object"
        await browser.close()
    assert not [text for text in console if "Content Security Policy" in text], console
