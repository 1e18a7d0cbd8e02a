"""The rule editor's simple fields and its CEL text are one source of truth: editing shows a rule's values in
the fields (or says it is an advanced rule), caps are shown and editable, and 1,5 / 1.5 are accepted."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import async_playwright, expect

from incentives.accounts.roles import Role
from incentives.db import Database
from incentives.rules import services
from incentives.rules.forms import generate, helpers_of
from tests.factories import make_program, make_user
from tests.rules import add_test_rule
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS, log_in
from tests.web.test_pages import csrf_of, login


@pytest.mark.parametrize("locale", ["de", "en"])
def test_fields_written_are_read_back(locale: str) -> None:
    decimal = "1,5" if locale == "de" else "1.5"
    for fields in (
        {
            "event": "lead.feedback",
            "within_hours": decimal,
            "tier": "gold",
            "base_points": "10",
            "cold_multiplier": "3",
        },
        {"event": "lead.reserved", "temperature": "warm", "product_line": 'Wärme "Pumpen"', "base_points": "7"},
        {"event": "lead.won", "base_points": "100", "cold_multiplier": decimal},
    ):
        condition, points, errors = generate(fields, locale)
        assert not errors
        read = helpers_of(fields["event"], condition, points, locale)
        assert read is not None and generate(read, locale)[:2] == (condition, points)
        assert {k: v for k, v in read.items() if v} == {k: v for k, v in fields.items() if v}
    assert helpers_of("lead.feedback", "feedback.is_first && feedback.on_time", "10", locale) is None
    assert helpers_of("lead.won", "true", "int(deal.value / 100.0)", locale) is None


def _selected(page: str, name: str) -> str | None:
    select = re.search(rf'<select id="f-{name}" name="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert select is not None, name
    chosen = re.search(r'<option value="([^"]*)" selected', select.group(1))
    return chosen.group(1) if chosen else None


async def test_editing_shows_the_fields_or_says_advanced_and_edits_caps(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    admin = await make_user(db, world, world.admin.org_id, Role.ADMIN, locale="en")
    simple = await add_test_rule(
        db, world.program_id, condition='lead.temperature == "cold"', points="45", cap_per="day", cap_max_points=300
    )
    advanced = await add_test_rule(db, world.program_id, event="lead.feedback", condition="feedback.is_first")
    await login(http, admin.email)
    page = (await http.get(f"/rules/{simple.rule_id}")).text
    assert _selected(page, "temperature") == "cold" and 'name="base_points" type="text" value="45"' in page
    assert _selected(page, "cap_per") == "day" and 'name="cap_max_points" type="text" value="300"' in page
    assert "This is an advanced rule" not in page
    other = (await http.get(f"/rules/{advanced.rule_id}")).text
    assert "This is an advanced rule" in other and 'name="base_points" type="text" value=""' in other
    assert 'step="&quot;' not in page and "&quot;any&quot;" not in page
    form = {
        "csrftoken": csrf_of(await http.get("/rules")),
        "name_de": "Kalt",
        "name_en": "Cold",
        "event": "lead.reserved",
        "condition": 'lead.temperature == "cold"',
        "points": "45",
        "active": "1",
        "cap_per": "week",
        "cap_max_points": "1,500",
    }
    saved = await http.post(f"/rules/{simple.rule_id}", data=form)
    assert saved.status_code == 303
    half = await http.post(f"/rules/{simple.rule_id}", data={**form, "cap_max_points": ""})
    assert half.status_code == 422 and "A cap needs both a period and a maximum." in half.text
    none = await http.post(f"/rules/{simple.rule_id}", data={**form, "cap_per": "", "cap_max_points": ""})
    assert none.status_code == 303
    async with db.reader() as session:
        history = await services.rule_history(session, world.admin.principal, simple.rule_id)
    assert [(v.cap_per, v.cap_max_points) for v in history[:3]] == [(None, None), ("week", 1500), ("day", 300)]


@pytest.mark.browser
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_german_manager_types_one_and_a_half(db: Database, server: str) -> None:
    world = await make_program(db)
    manager = await make_user(db, world, world.admin.org_id, Role.PARTNER_MANAGER, locale="de")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page(locale="de-DE", viewport={"width": 1280, "height": 900})
        await log_in(page, server, manager.email)
        await page.goto(f"{server}/rules/new")
        await page.locator("#f-event").select_option("lead.feedback")
        await page.locator("#f-within_hours").fill("1,5")
        await page.locator("#f-base_points").fill("10")
        await page.locator("#f-cold_multiplier").fill("1,5")
        await expect(page.locator("textarea[name=condition]")).to_have_value(
            "feedback.hours_since_reserved <= 1.5", timeout=5000
        )
        await expect(page.locator("textarea[name=points]")).to_have_value('lead.temperature == "cold" ? 15 : 10')
        for name in ("within_hours", "cold_multiplier", "base_points"):
            assert await page.locator(f"#f-{name}").evaluate("e => e.checkValidity()"), name
        await page.locator("#f-name_de").fill("Schnell")
        await page.locator("#f-name_en").fill("Fast")
        await page.locator("#f-cap_per").select_option("day")
        await page.locator("#f-cap_max_points").fill("1.000")
        await page.get_by_role("button", name="Regel speichern").click()
        await expect(page.locator(".notice")).to_contain_text("Version 1")
        await expect(page.locator("#f-within_hours")).to_have_value("1,5")
        await expect(page.locator("#f-cold_multiplier")).to_have_value("1,5")
        await expect(page.locator("#f-cap_max_points")).to_have_value("1.000")
        await browser.close()
