"""A real Chromium, in German and English, at desktop and phone width: a reseller reserves a lead and gives
feedback; when the processor pays, the toast, the header balance and its row on the open leaderboard move
without a reload."""

from __future__ import annotations

import pytest
from playwright.async_api import async_playwright, expect

from incentives import live
from incentives.accounts.roles import Role
from incentives.db import Database, utcnow
from incentives.leaderboard import jobs as leaderboard
from incentives.ledger.services import Award
from incentives.rules import payouts
from incentives.rules.processor import process_events
from tests.factories import PASSWORD, make_member, make_program, make_user
from tests.leads.helpers import make_lead, make_reseller
from tests.rules import add_test_rule
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS

TEXT = {
    "en": {
        "login": "Log in",
        "rank_before": "Rank 2 of 2",
        "rank_after": "Rank 1 of 2",
        "toast": "You earned 30 points",
    },
    "de": {"login": "Anmelden", "rank_before": "Rang 2 von 2", "rank_after": "Rang 1 von 2", "toast": "30 Punkte"},
}


@pytest.mark.browser
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("locale", "width"), [("de", 390), ("en", 1280), ("de", 1280), ("en", 390)])
async def test_feedback_pays_and_the_open_pages_move(db: Database, server: str, locale: str, width: int) -> None:
    text = TEXT[locale]
    world = await make_program(db)
    await add_test_rule(db, world.program_id, name_de="Kalter Lead", name_en="Cold lead")  # reserving cold: 30
    await add_test_rule(db, world.program_id, event="lead.feedback", condition="feedback.is_first", points="10")
    rival = await make_member(db, world)
    async with db.transaction() as session:
        await payouts.pay_awards(session, world.program_id, [Award(rival, 35, "rival")], [(None, None)], utcnow())
    await leaderboard.count_pending(db)
    rep = await make_reseller(db, world)
    manager = await make_user(db, world, rep.org_id, Role.RESELLER_MANAGER, locale=locale)
    lead = await make_lead(db, world, temperature="cold", now=utcnow())
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context(locale=locale, viewport={"width": width, "height": 900})
        page = await context.new_page()
        await page.goto(f"{server}/login")
        await page.locator("#email").fill(manager.email)
        await page.locator("#password").fill(PASSWORD)
        await page.get_by_role("button", name=text["login"]).click()
        board = await context.new_page()
        await board.goto(f"{server}/leaderboard?period=all&scope=program")
        await expect(board.locator(".board .me .figure")).to_have_text(text["rank_before"])

        await page.goto(f"{server}/picklist")
        card = page.locator(f"#lead-{lead.id}")
        await expect(card.locator(".earn")).to_contain_text("30")
        await card.locator("button[type=submit]").click()
        await expect(page).to_have_url(f"{server}/leads/{lead.id}")
        await page.locator(f"#status-{lead.id}").select_option("contacted")
        async with page.expect_response(f"{server}/leads/{lead.id}/feedback") as sent:
            await page.locator(f"#feedback-{lead.id} button[type=submit]").click()
        assert (await sent.value).ok
        await expect(page).to_have_url(f"{server}/leads/mine")  # the saved feedback leads on to my leads
        loads: list[str] = []
        page.on("load", lambda _: loads.append(page.url))
        board.on("load", lambda _: loads.append(board.url))

        live.enable(db)  # as the worker does: its commits' notices reach the open pages
        assert await process_events(db) == 2  # the reservation and the feedback, paid after their commits

        # Both tabs are told to fetch toasts; whichever asks first shows them (each is shown once per user).
        toasts = [tab.locator("#toasts .toast") for tab in (page, board)]
        for _ in range(50):
            if any([await toast.count() for toast in toasts]):
                break
            await page.wait_for_timeout(200)
        shown = [await toast.all_inner_texts() for toast in toasts]
        assert any(text["toast"] in toast for texts in shown for toast in texts), shown
        await expect(page.locator("#pulse .header-balance")).to_contain_text("40")
        await expect(board.locator(".board .me .figure")).to_have_text(text["rank_after"], timeout=10_000)
        await expect(board.locator(".board tr.mine td").nth(2)).to_have_text("40")
        assert loads == []  # nothing reloaded: the fragments the event streams asked for brought it all
        for shown in (page, board):
            assert await shown.evaluate("document.documentElement.scrollWidth") <= width
        await board.screenshot(path=f"/tmp/leaderboard-live-{locale}-{width}.png", full_page=True)
        await browser.close()
