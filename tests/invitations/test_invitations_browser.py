"""A real Chromium: a partner's manager sees an invitation in the navigation and accepts it, in German and
English; a new address follows its link, names its company and is in the program."""

from __future__ import annotations

import pytest
from playwright.async_api import async_playwright, expect
from sqlalchemy import select, update

from incentives.accounts.models import Membership, Program, User
from incentives.accounts.roles import Role
from incentives.accounts.scope import Principal
from incentives.db import Database, utcnow
from incentives.invitations import services
from tests.factories import make_member, make_program, make_user
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS, log_in

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("backend", ["sqlite"], indirect=True)]
TERMS = services.Terms(tier="gold", competencies=["heat_pumps"], certifications=[], regions=["DE-80"])
TEXT = {
    "de": ("Einladungen", "Annehmen", "Einladung angenommen", "Gold"),
    "en": ("Invitations", "Accept", "Invitation accepted", "Gold"),
}


@pytest.mark.parametrize("locale", ["de", "en"])
async def test_a_manager_accepts_an_invitation_in_the_browser(db: Database, server: str, locale: str) -> None:
    first = await make_program(db)
    org = await make_member(db, first)
    manager = await make_user(db, first, org, Role.RESELLER_MANAGER, locale=locale)
    second = await make_program(db, "Wärmepumpen Nord")
    async with db.transaction() as session:
        await services.invite(
            session,
            second.admin.principal,
            program_id=second.program_id,
            email=manager.email,
            terms=TERMS,
            now=utcnow(),
        )
    nav, accept, done, tier = TEXT[locale]
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 390, "height": 844})
        await log_in(page, server, manager.email)
        await page.locator("label.menu-button").click()  # on a phone the navigation folds into the menu
        await page.get_by_role("link", name=nav).first.click()
        card = page.locator("li.card", has_text="Wärmepumpen Nord")
        await expect(card).to_contain_text(tier)
        await card.get_by_role("button", name=accept).click()
        await expect(page.get_by_role("status")).to_contain_text(done)
        await expect(page.locator("li.card")).to_have_count(0)
        await browser.close()
    async with db.reader() as session:
        member = await session.scalar(
            select(Membership.tier).where(Membership.program_id == second.program_id, Membership.org_id == org)
        )
    assert member == "gold"


async def test_a_new_address_joins_through_its_link_in_german(db: Database, server: str) -> None:
    world = await make_program(db, "Solar Süd")
    async with db.transaction() as session:
        await session.execute(update(Program).where(Program.id == world.program_id).values(default_locale="de"))
    token = "browser-link-token"
    async with db.transaction() as session:
        invitation = await services.invite(
            session,
            world.admin.principal,
            program_id=world.program_id,
            email="neu@solar.example",
            terms=TERMS,
            now=utcnow(),
        )
        invitation.link_hash = services._hash(token)  # the e-mailed token is random: use one the test knows
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page(locale="de-DE", viewport={"width": 1280, "height": 900})
        await page.goto(f"{server}/join/{token}")
        await expect(page.get_by_role("heading", name="Dem Partnerprogramm von Solar Süd beitreten")).to_be_visible()
        await page.get_by_label("Firmenname").fill("Sonnenhaus GmbH")
        await page.get_by_label("Ihr Name").fill("Sina Sonne")
        await page.get_by_label("Passwort").fill("sonnig-und-lang")
        await page.get_by_role("button", name="Konto anlegen und beitreten").click()
        await expect(page.get_by_role("button", name="Abmelden")).to_be_visible()
        await browser.close()
    async with db.reader() as session:
        user = await session.scalar(select(User).where(User.email == "neu@solar.example"))
        assert user is not None and Principal.of(user).role is Role.RESELLER_MANAGER
        program = await session.scalar(select(Membership.program_id).where(Membership.org_id == user.org_id))
    assert program == world.program_id
