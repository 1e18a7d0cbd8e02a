"""The notifications page groups repeats, marks a group or all read, and the header count follows."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import async_playwright, expect

from incentives.accounts.roles import Role
from incentives.db import Database
from incentives.errors import N_
from incentives.notifications import services
from tests.factories import make_member, make_program, make_user
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS, log_in
from tests.web.test_pages import csrf_of
from tests.web.test_rewards_pages import browser_for

HX = {"HX-Request": "true"}
OFFERED = N_("New leads on your pick list: %(count)s")
OVERDUE = N_("Your feedback on %(company)s is overdue. Please give it to reserve new leads.")


async def _world(db: Database, locale: str):  # type: ignore[no-untyped-def]
    world = await make_program(db)
    org = await make_member(db, world)
    manager = await make_user(db, world, org, Role.RESELLER_MANAGER, locale=locale)
    async with db.transaction() as session:
        for count in (2, 3, 2):
            await services.notify(
                session,
                program_id=world.program_id,
                org_id=org,
                kind="lead_offered",
                message=OFFERED,
                params={"count": count},
                link="/picklist",
            )
        for company in ("Acme GmbH", "Beta AG"):
            await services.notify(
                session,
                program_id=world.program_id,
                org_id=org,
                kind="feedback_overdue",
                message=OVERDUE,
                params={"company": company},
                link="/leads/mine",
            )
    return world, manager


async def test_repeats_are_one_row_and_a_group_is_read_at_once(db: Database, server: str) -> None:
    _, manager = await _world(db, "en")
    async with browser_for(server, manager) as client:
        page = await client.get("/notifications")
        assert page.text.count('<li class="card unread">') == 2
        assert "New leads on your pick list: 7" in page.text and "pick list: 2" not in page.text
        assert "Your feedback on Beta AG is overdue" in page.text and "1 more like it" in page.text
        assert "Acme GmbH" in page.text  # listed under the newer one
        assert "5 unread notifications" in page.text
        ids = re.findall(r'name="id" value="(\d+)"', page.text.split("pick list: 7", 1)[1].split("</form>", 1)[0])
        assert len(ids) == 3
        read = await client.post("/notifications/read", data={"csrftoken": csrf_of(page), "id": ids}, headers=HX)
        assert read.headers["HX-Trigger"] == "notifications-read" and "<html" not in read.text
        assert "2 unread notifications" in read.text and read.text.count('<li class="card unread">') == 1
        assert "New leads on your pick list: 7" in read.text  # still listed, read
        pulse = await client.get("/me/pulse", headers=HX)
        assert "2 unread notifications" in pulse.text
        everything = await client.post("/notifications/read", data={"csrftoken": csrf_of(page)}, headers=HX)
        assert "0 unread notifications" in everything.text and "Mark all as read" not in everything.text
        assert "unread notification" not in (await client.get("/me/pulse", headers=HX)).text


async def test_the_german_page_groups_in_german(db: Database, server: str) -> None:
    _, manager = await _world(db, "de")
    async with browser_for(server, manager) as client:
        page = await client.get("/notifications")
        assert "Neue Leads auf Ihrer Pickliste: 7" in page.text and "1 weitere ähnliche" in page.text
        assert "5 ungelesene Benachrichtigungen" in page.text and "Alle als gelesen markieren" in page.text


@pytest.mark.browser
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_marking_read_updates_the_header_count_without_a_reload(db: Database, server: str) -> None:
    _, manager = await _world(db, "en")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page(locale="en-GB", viewport={"width": 1280, "height": 900})
        await log_in(page, server, manager.email)
        await page.goto(f"{server}/notifications")
        header = page.locator("#pulse .header-unread .label")
        await expect(header).to_have_text("5 unread notifications")
        loads: list[str] = []
        page.on("load", lambda _: loads.append(page.url))
        await page.locator("li.unread").first.get_by_role("button", name="Mark as read").click()
        await expect(header).to_have_text("3 unread notifications")
        await page.get_by_role("button", name="Mark all as read").click()
        await expect(header).to_have_count(0)
        await expect(page.locator("li.unread")).to_have_count(0)
        assert loads == []
        await browser.close()
