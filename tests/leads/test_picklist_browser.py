"""A real Chromium on the pick list: keyboard focus and typed feedback survive the live refresh, and a card's
text stays inside the card at phone width."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.async_api import async_playwright, expect

from incentives import live
from incentives.db import Database, utcnow
from incentives.leads import services
from tests.factories import make_program
from tests.leads.helpers import make_lead, make_reseller
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS, log_in

LONG = "Wärmepumpen-Großanlagen­installationsdienstleistungsrahmenvertrag"


async def _long_lead(db, world):  # type: ignore[no-untyped-def]
    now = utcnow()
    data = services.LeadInput(
        program_id=world.program_id,
        company="Lange Namen GmbH",
        contact_name="Eva Kunde",
        contact_email="eva@kunde.example",
        country="DE",
        product_line=LONG.replace("\u00ad", ""),
        industry="Gebäudeenergieberatungsunternehmensverband",
        temperature="cold",
        postal_code="80331",
    )
    async with db.transaction() as session:
        lead = await services.create_lead(session, world.admin.principal, data, now)
        await services.qualify_lead(session, world.admin.principal, lead.id, now)
        await services.offer_lead(session, world.admin.principal, lead.id, now)
    return lead


@pytest.mark.browser
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_focus_stays_on_its_button_through_a_live_refresh(db: Database, server: str) -> None:
    world = await make_program(db)
    rep = await make_reseller(db, world)
    first, second = await make_lead(db, world, now=utcnow()), await _long_lead(db, world)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page(locale="de-DE", viewport={"width": 390, "height": 844})
        await log_in(page, server, rep.email)
        await page.goto(f"{server}/picklist")
        for card in (page.locator(f"#lead-{first.id}"), page.locator(f"#lead-{second.id}")):
            overflow = await card.evaluate(
                "c => [...c.querySelectorAll('*')].some(e => e.getBoundingClientRect().right > "
                "c.getBoundingClientRect().right + 0.5) || c.scrollWidth > c.clientWidth"
            )
            assert not overflow
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390
        button = page.locator(f"#reserve-{second.id}")
        await page.locator(f"#reserve-{first.id}").focus()
        await page.keyboard.press("Tab")
        await expect(button).to_be_focused()
        await page.wait_for_timeout(300)  # the page's event stream is open
        live.enable(db)  # as the worker does: a new offer's notice refreshes the open pick list
        third = await make_lead(db, world, now=utcnow())
        await expect(page.locator(f"#lead-{third.id}")).to_be_visible(timeout=5000)
        await expect(button).to_be_focused()
        await page.keyboard.press("Enter")  # the keyboard still acts on the same lead
        await expect(page).to_have_url(f"{server}/leads/{second.id}")
        await browser.close()


@pytest.mark.browser
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_typed_gate_feedback_survives_a_live_refresh(db: Database, server: str) -> None:
    world = await make_program(db)
    rep = await make_reseller(db, world)
    overdue = await make_lead(db, world, now=utcnow() - dt.timedelta(days=10))
    async with db.transaction() as session:
        await services.reserve_lead(session, rep.principal, overdue.id, utcnow() - dt.timedelta(days=9))
    await make_lead(db, world, now=utcnow())
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page(locale="en-GB", viewport={"width": 1280, "height": 900})
        await log_in(page, server, rep.email)
        await page.goto(f"{server}/picklist")
        note = page.locator(f"#note-{overdue.id}")
        await note.fill("Called twice, no answer")
        await expect(note).to_be_focused()
        await page.wait_for_timeout(300)
        live.enable(db)
        third = await make_lead(db, world, now=utcnow())
        await expect(page.locator(f"#lead-{third.id}")).to_be_visible(timeout=5000)
        await expect(note).to_have_value("Called twice, no answer")
        await expect(note).to_be_focused()
        await browser.close()
