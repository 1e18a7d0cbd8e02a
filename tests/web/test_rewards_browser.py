"""A real Chromium: a reseller manager redeems in German, a partner manager approves in English."""

from __future__ import annotations

import pytest
from playwright.async_api import Dialog, Page, async_playwright, expect

from incentives.db import Database
from tests.factories import PASSWORD, Actor
from tests.rewards.helpers import make_reward, make_rewards_world
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS


async def _log_in(page: Page, server: str, actor: Actor, button: str) -> None:
    await page.goto(f"{server}/login")
    await page.locator("#email").fill(actor.email)
    await page.locator("#password").fill(PASSWORD)
    await page.get_by_role("button", name=button).click()


@pytest.mark.browser
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_reseller_redeems_in_german_and_manager_approves_in_english(db: Database, server: str) -> None:
    rw = await make_rewards_world(db, points=1250, locale="de")
    await make_reward(db, rw, "discount", points=1000, name_de="5 % Rabatt", name_en="5% discount")
    await make_reward(db, rw, "mdf", points=5000, name_de="Großes MDF-Budget", name_en="Large MDF budget")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page(locale="de-DE", viewport={"width": 390, "height": 844})
        await _log_in(page, server, rw.manager, "Anmelden")
        htmx_posts: list[dict[str, str]] = []
        page.on(
            "request",
            lambda r: htmx_posts.append(r.headers) if r.method == "POST" and r.headers.get("hx-request") else None,
        )
        await page.goto(f"{server}/rewards")
        balance = page.locator("#balance")
        await expect(balance).to_contain_text("1.250")
        card = page.locator("article.reward", has_text="5 % Rabatt")
        out_of_reach = page.locator("article.reward", has_text="Großes MDF-Budget")
        await expect(out_of_reach.get_by_role("button", name="Einlösen")).to_be_disabled()
        await expect(out_of_reach).to_contain_text("Es fehlen noch 3.750 Punkte")
        asked: list[str] = []

        async def answer(dialog: Dialog) -> None:  # the question before points are spent: yes
            asked.append(dialog.message)
            await dialog.accept()

        page.on("dialog", answer)
        await card.get_by_role("button", name="Einlösen").dblclick()  # a double click redeems once
        await expect(page.locator("#reward-1 .done")).to_contain_text("Eingelöst")
        assert asked and asked[0].endswith("Ihrer 1.250 Punkte für 5 % Rabatt einlösen?"), asked
        # The card out of reach came along with the new balance.
        await expect(out_of_reach).to_contain_text("Es fehlen noch 4.750 Punkte")
        await expect(balance).to_contain_text("250")
        await expect(balance).to_contain_text("1.000")
        # htmx sent the session's CSRF token in its header (hx-headers on <body>), not only as a form field.
        assert htmx_posts and all(headers.get("x-csrftoken") for headers in htmx_posts)
        await page.goto(f"{server}/redemptions")
        await expect(page.locator("tbody tr")).to_have_count(1)
        await expect(page.locator("tbody")).to_contain_text("wartet auf Genehmigung")

        manager = await browser.new_page(locale="en-GB", viewport={"width": 1280, "height": 900})
        await _log_in(manager, server, rw.pam, "Log in")
        await manager.goto(f"{server}/approvals")
        item = manager.locator("article.approval")
        await expect(item).to_contain_text("5% discount")
        await expect(item).to_contain_text("1,000 points")
        await item.get_by_role("button", name="Approve").click()
        await expect(manager.locator("article.approval .done")).to_contain_text("fulfilled")
        await expect(manager.locator("article.approval code.coupon")).to_contain_text("RW-")

        await page.goto(f"{server}/notifications")
        await expect(page.locator(".notifications")).to_contain_text("wurde genehmigt")
        await browser.close()


@pytest.mark.browser
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_admin_manages_the_catalog_on_a_phone(db: Database, server: str) -> None:
    rw = await make_rewards_world(db)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page(locale="en-GB", viewport={"width": 390, "height": 844})
        await _log_in(page, server, rw.world.admin, "Log in")
        await page.goto(f"{server}/rewards/manage")
        await page.get_by_role("link", name="Add an item").click()
        await page.get_by_label("Kind").select_option("discount")
        await page.get_by_label("Points per unit").fill("800")
        await page.get_by_label("Name in German").fill("3 % Rabatt")
        await page.get_by_label("Name in English").fill("3% discount")
        await page.get_by_role("button", name="Add to the catalog").click()
        # The percentage is missing: said at the field, the rest stays filled in.
        await expect(page.locator("#e-percent")).to_contain_text("A discount item needs a percentage.")
        await expect(page.get_by_label("Name in English")).to_have_value("3% discount")
        await page.get_by_label("Discount in percent").fill("3")
        await page.get_by_role("button", name="Add to the catalog").dblclick()  # a double click adds once
        await expect(page.locator("table.manage tbody tr")).to_have_count(1)
        row = page.locator("table.manage tbody tr")
        await expect(row).to_contain_text("3% discount")
        await expect(row).to_contain_text("3%")
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing sticks out
        await row.get_by_role("button", name="Deactivate").click()
        await expect(row).to_contain_text("inactive")
        await expect(row.get_by_role("button", name="Deactivate")).to_have_count(0)
        await browser.close()
