"""The KPI dashboard in a real Chromium: the charts draw, the table alternative is there, nothing is refused."""

from __future__ import annotations

import pytest
from playwright.async_api import ConsoleMessage, async_playwright, expect

from incentives.accounts.roles import Role
from incentives.db import Database
from tests.factories import make_user
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS, log_in
from tests.web.test_kpi_dashboard import _world


@pytest.mark.browser
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("width", [1280, 390])
async def test_a_partner_manager_sees_the_charts_drawn(db: Database, server: str, width: int) -> None:
    found = await _world(db)
    world = found["world"]
    pam = await make_user(db, world, world.admin.org_id, Role.PARTNER_MANAGER, locale="en")  # type: ignore[attr-defined]
    problems: list[str] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page(locale="en-GB", viewport={"width": width, "height": 900})

        def console(message: ConsoleMessage) -> None:
            if message.type == "error" or "Content Security Policy" in message.text:
                problems.append(message.text)

        page.on("console", console)
        page.on("pageerror", lambda error: problems.append(str(error)))
        await log_in(page, server, pam.email)
        await page.goto(f"{server}/kpis")
        charts = page.locator("#kpi-series canvas[data-chart]")
        await expect(charts.first).to_have_attribute("data-drawn", "1", timeout=15_000)
        assert await charts.count() == 6  # every KPI but PLI (a snapshot) and the reservations
        for index in range(await charts.count()):
            box = await charts.nth(index).bounding_box()
            assert box is not None and box["width"] > 50 and box["height"] > 50, (index, box)
            assert await charts.nth(index).get_attribute("aria-label")
        # Chart.js drew something: the canvas is not blank.
        painted = await charts.first.evaluate(
            "c => c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some(v => v !== 0)"
        )
        assert painted
        table = page.locator("#kpi-series details.kpi-table table")
        assert await table.count() == 1
        assert await table.locator("tbody tr").count() >= 4
        await expect(page.locator("#kpi-tiles")).not_to_contain_text("Loading")
        await expect(page.locator("#kpi-scorecards table")).to_be_visible()
        # Nothing wider than the screen: the page does not scroll sideways.
        overflow = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, overflow
        await browser.close()
    assert not problems, problems
