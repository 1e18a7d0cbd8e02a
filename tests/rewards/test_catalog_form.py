"""The catalog is named for what a reader may do with it, and the reward form asks only the kind's fields."""

from __future__ import annotations

import pytest
from playwright.async_api import async_playwright, expect

from incentives.accounts.roles import Role
from incentives.db import Database
from tests.factories import make_user
from tests.rewards.helpers import make_rewards_world
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS, log_in
from tests.web.test_pages import csrf_of
from tests.web.test_rewards_pages import ITEM, _form_key, _items, browser_for


async def test_partner_managers_read_the_catalog_admins_manage_it(db: Database, server: str) -> None:
    rw = await make_rewards_world(db)
    pam_de = await make_user(db, rw.world, rw.world.admin.org_id, Role.PARTNER_MANAGER, locale="de")
    admin = await make_user(db, rw.world, rw.world.admin.org_id, Role.ADMIN, locale="en")
    for actor, shown, hidden in (
        (rw.pam, ">Reward catalog</a>", "Manage catalog"),
        (pam_de, ">Prämienkatalog</a>", "Katalog verwalten"),
        (admin, ">Manage catalog</a>", ">Reward catalog</a>"),
    ):
        async with browser_for(server, actor) as client:
            page = (await client.get("/approvals")).text
            assert shown in page and hidden not in page, actor.email
            assert page.count('href="/rewards/manage"') == 2  # the menu and the rewards area's own links


async def test_a_discount_drops_a_value_typed_before_the_kind_changed(db: Database, server: str) -> None:
    rw = await make_rewards_world(db)
    admin = await make_user(db, rw.world, rw.world.admin.org_id, Role.ADMIN, locale="de")
    async with browser_for(server, admin) as client:
        form = await client.get("/rewards/new")
        assert 'class="kind-only for-discount"' in form.text
        data = {**ITEM, "kind": "discount", "percent": "12,5", "csrftoken": csrf_of(form)}
        data["request_key"] = _form_key(form.text)
        saved = await client.post("/rewards/new", data=data)
        assert saved.status_code == 303, saved.text
    [item] = await _items(db, rw.program_id)
    assert item.kind == "discount" and item.value is None and str(item.percent) == "12.50"


@pytest.mark.browser
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_the_form_shows_only_the_chosen_kinds_fields(db: Database, server: str) -> None:
    rw = await make_rewards_world(db)
    admin = await make_user(db, rw.world, rw.world.admin.org_id, Role.ADMIN, locale="en")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page(locale="en-GB", viewport={"width": 390, "height": 844})
        await log_in(page, server, admin.email)
        await page.goto(f"{server}/rewards/new")
        value, percent = page.locator("#f-value"), page.locator("#f-percent")
        await expect(value).to_be_visible()  # MDF budget first
        await expect(percent).to_be_hidden()
        await page.locator("#f-kind").select_option("discount")
        await expect(value).to_be_hidden()
        await expect(percent).to_be_visible()
        await page.locator("#f-kind").select_option("bonus")
        await expect(value).to_be_visible()
        await expect(percent).to_be_hidden()
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390
        await browser.close()
