"""'How to earn points' says each rule's condition in plain words and shows only what can pay the reader."""

from __future__ import annotations

import datetime as dt

import httpx

from incentives.accounts.roles import Role
from incentives.db import Database, utcnow
from incentives.rules.campaigns import Segment
from tests.factories import make_member, make_program, make_user
from tests.rules import add_test_rule
from tests.rules.test_campaigns import add_campaign
from tests.web.test_pages import login

DAY = dt.timedelta(days=1)


async def _world(db: Database, locale: str):  # type: ignore[no-untyped-def]
    world = await make_program(db)
    org = await make_member(db, world, tier="gold")  # serves DE-80
    rep = await make_user(db, world, org, Role.RESELLER_REP, locale=locale)
    now = utcnow()
    for name, start, end, segment in (
        ("Gold days", now - DAY, now + 9 * DAY, Segment(tiers=("gold",))),
        ("Silver days", now - DAY, now + 9 * DAY, Segment(tiers=("silver",))),
        ("France week", now + 10 * DAY, now + 20 * DAY, Segment(regions=("FR",))),
        ("Bavaria week", now + 21 * DAY, now + 30 * DAY, Segment(regions=("DE-8",))),
    ):
        await add_campaign(db, world, name_en=name, name_de=name, starts_at=start, ends_at=end, segment=segment)
    await add_test_rule(db, world.program_id, name_en="Cold pick", condition='lead.temperature == "cold"', points="30")
    await add_test_rule(
        db,
        world.program_id,
        name_en="Fast answer",
        event="lead.feedback",
        condition='feedback.is_first && feedback.hours_since_reserved <= 24.0 && lead.product_line == "Heat pumps"',
        points="10",
    )
    await add_test_rule(db, world.program_id, name_en="Gold only", condition='partner.tier == "gold"', points="5")
    await add_test_rule(db, world.program_id, name_en="Silver only", condition='partner.tier == "silver"', points="5")
    await add_test_rule(
        db, world.program_id, name_en="Big deals", event="lead.won", condition="deal.value > 10000.0", points="50"
    )
    return rep


async def test_rules_in_plain_words_and_only_my_campaigns(db: Database, http: httpx.AsyncClient) -> None:
    rep = await _world(db, "en")
    await login(http, rep.email)
    text = (await http.get("/points/earn")).text
    cold = text.split("Cold pick", 1)[1].split("</article>", 1)[0]
    assert "+30 points" in cold and "When you reserve a cold lead" in cold
    fast = text.split("Fast answer", 1)[1].split("</article>", 1)[0]
    assert "When you give feedback on a lead" in fast and "Only for the first feedback on each lead" in fast
    assert "Only with feedback within 24 hours of reserving" in fast
    assert "Only for leads of the product line Heat pumps" in fast
    assert "For Gold partners" in text and "Silver only" not in text
    big = text.split("Big deals", 1)[1].split("</article>", 1)[0]
    assert "When you win a deal" in big and "Further conditions apply" in big
    assert "Gold days" in text and "Bavaria week" in text
    assert "Silver days" not in text and "France week" not in text


async def test_the_german_page_says_it_in_german(db: Database, http: httpx.AsyncClient) -> None:
    rep = await _world(db, "de")
    await login(http, rep.email)
    text = (await http.get("/points/earn")).text
    assert "Wenn Sie einen kalten Lead reservieren" in text and "+30 Punkte" in text
    assert "Nur mit Rückmeldung innerhalb von 24 Stunden nach der Reservierung" in text
    assert "Nur für die erste Rückmeldung zu jedem Lead" in text and "Für Partner der Stufe Gold" in text
    assert "Weitere Bedingungen gelten" in text and "Silver days" not in text
