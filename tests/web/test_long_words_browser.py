"""Long German words on a 390 px phone: the cards of the pick list, the wallet, the reward catalog and the
achievements keep their text inside, hyphenated in the page's language (html lang) where the browser can, and
nothing widens the page. (This Chromium has no hyphenation dictionaries: here the last resort, a break anywhere,
keeps the text inside; the test checks that hyphens are asked for and that nothing overflows.)"""

from __future__ import annotations

import pytest
from playwright.async_api import async_playwright, expect
from sqlalchemy import update

from incentives.db import Database
from incentives.demo import PASSWORD, create_demo
from incentives.engagement.models import Achievement
from incentives.leads.models import Lead
from incentives.rewards.models import Reward
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS

LONG = "Wärmepumpenfachhandelspartnerschaftsjahresbonusgutschein"

# Each card's box, and whether any of its descendants reaches out of it; the page's width and language.
_MEASURE = """(selector) => {
  const cards = [...document.querySelectorAll(selector)];
  const out = [];
  for (const card of cards) {
    const box = card.getBoundingClientRect();
    for (const el of [card, ...card.querySelectorAll("*")]) {
      if (!el.getClientRects().length) continue;  // not shown: hidden inputs
      const r = el.getBoundingClientRect();
      if (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX === "visible"
          || r.right > box.right + 1 || r.left < box.left - 1) {
        out.push(el.tagName + ": " + el.textContent.trim().slice(0, 40));
      }
    }
  }
  const hyphens = cards.map((card) => getComputedStyle(card).hyphens);
  return { count: cards.length, out, hyphens, lang: document.documentElement.lang,
           width: document.documentElement.scrollWidth };
}"""

PAGES = (
    ("/picklist", "ul.cards > li > .card"),
    ("/wallet", ".wallet-figures .card, table.stack td"),
    ("/rewards", ".reward"),
    ("/achievements", ".badges > li, .streaks > li"),
)


@pytest.mark.browser
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_long_german_words_stay_inside_the_cards_on_a_phone(db: Database, server: str) -> None:
    await create_demo(db)
    async with db.transaction() as session:  # the longest words a program could give them
        await session.execute(update(Lead).values(industry=LONG, product_line="Photovoltaikgroßanlagen"))
        await session.execute(update(Reward).values(name_de=LONG, description_de=f"Für {LONG}e und mehr."))
        await session.execute(update(Achievement).values(name_de=LONG))
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page(locale="de-DE", viewport={"width": 390, "height": 844})
        await page.set_extra_http_headers({"Accept-Language": "de"})
        await page.goto(f"{server}/login")
        await page.locator("#email").fill("manager@reseller01.example")
        await page.locator("#password").fill(PASSWORD)
        await page.locator("form[action='/login'] button[type=submit]").click()
        await page.wait_for_url(f"{server}/dashboard")
        await expect(page.locator("#pulse .header-unread .count")).to_be_visible()  # the demo leaves some unread
        for path, selector in PAGES:
            await page.goto(f"{server}{path}")
            await expect(page.locator("#pulse .header-balance")).to_be_visible()
            measured = await page.evaluate(_MEASURE, selector)
            assert measured["count"] > 0, (path, measured)
            assert measured["lang"] == "de" and measured["width"] <= 390, (path, measured)
            assert measured["out"] == [], (path, measured["out"])
            assert set(measured["hyphens"]) == {"auto"}, (path, measured["hyphens"])
            # The header stays one line beside the balance and the unread count: the menu button is its icon.
            header = await page.locator("header.top").bounding_box()
            assert header is not None and header["height"] < 80, (path, header)
        await browser.close()
