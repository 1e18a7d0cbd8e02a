"""Two real browsers on one pick list, each served by its own web process: the lead one partner reserves turns,
within 2 s and without a reload, into a note in the other partner's open page; a click on a lead just taken says
so in place.

The two web processes are two apps on the same database, each with its own engine, connections and live hub
(on PostgreSQL each LISTENs on its own connection, as two processes do; on SQLite the process's hubs share).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from incentives.accounts.roles import Role
from incentives.config import Settings
from incentives.db import Database, utcnow
from incentives.leads import services
from tests.conftest import run_server
from tests.factories import make_program, make_user
from tests.leads.helpers import make_lead, make_reseller
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS, log_in


async def _pick_list(browser: Browser, server: str, email: str, locale: str) -> Page:
    page = await browser.new_page(locale=locale, viewport={"width": 390, "height": 844})
    await log_in(page, server, email)
    await page.goto(f"{server}/picklist")
    return page


@pytest.fixture
def other_server(settings: Settings) -> Iterator[str]:
    """A second web process on the same database."""
    yield from run_server(settings)


@pytest.mark.browser
async def test_a_reserved_lead_leaves_the_other_open_pick_list_within_two_seconds(
    db: Database, server: str, other_server: str
) -> None:
    world = await make_program(db)
    first, second = await make_reseller(db, world), await make_reseller(db, world)
    one = await make_user(db, world, first.org_id, Role.RESELLER_REP, locale="de")
    other = await make_user(db, world, second.org_id, Role.RESELLER_REP, locale="en")
    taken, clicked = await make_lead(db, world, now=utcnow()), await make_lead(db, world, now=utcnow())
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        winner = await _pick_list(browser, server, one.email, "de-DE")
        watcher = await _pick_list(browser, other_server, other.email, "en-GB")
        card = watcher.locator(f"#lead-{taken.id}")
        await expect(card.get_by_role("button", name="Reserve lead")).to_be_visible()
        await watcher.wait_for_timeout(300)  # the page's event stream is open
        start = time.monotonic()
        await winner.locator(f"#lead-{taken.id}").get_by_role("button", name="Lead reservieren").click()
        await expect(card).to_contain_text("already reserved by another partner", timeout=2000)
        assert time.monotonic() - start < 2
        await expect(card.get_by_role("button")).to_have_count(0)
        # A lead taken without a notice reaching the page (the test's own database sends none: live.enable was
        # not called for it): the click on it says so in place, in the card.
        await winner.close()
        async with db.transaction() as session:
            await services.reserve_lead(session, first.principal, clicked.id)
        other_card = watcher.locator(f"#lead-{clicked.id}")
        await other_card.get_by_role("button", name="Reserve lead").click()
        await expect(other_card).to_contain_text("already reserved by another partner", timeout=2000)
        await browser.close()
