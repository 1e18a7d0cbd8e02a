"""The wallet lists business events: one row per redemption with its status, awards with their reason."""

from __future__ import annotations

from incentives.db import Database
from incentives.rewards import services
from tests.rewards.helpers import make_reward, make_rewards_world, redeem
from tests.web.test_rewards_pages import browser_for

HX = {"HX-Request": "true"}


async def test_a_redemption_is_one_row_with_its_status(db: Database, server: str) -> None:
    rw = await make_rewards_world(db, points=3000, locale="en")
    reward = await make_reward(db, rw, "bonus", points=800, name_en="Team dinner", name_de="Teamessen")
    approved, rejected, waiting = [await redeem(db, rw.manager, reward) for _ in range(3)]
    async with db.transaction() as session:
        await services.approve_redemption(session, rw.pam.principal, approved.id)
    async with db.transaction() as session:
        await services.reject_redemption(session, rw.pam.principal, rejected.id, reason="No budget")
    async with browser_for(server, rw.manager) as client:
        page = (await client.get("/wallet")).text
        history = page.split('id="history"', 1)[1]
        # Three redemptions and the opening award: four rows, no bookkeeping rows.
        assert history.count('<td data-label="Date">') == 4
        assert "held for a redemption" not in history and "released" not in history
        assert history.count("Team dinner") == 3
        assert "fulfilled" in history and "rejected" in history and "waiting for approval" in history
        assert "(800 returned)" in history and history.count("-800") == 2
        for redemption in (approved, rejected, waiting):
            assert f"#redemption-{redemption.id}" in history
        assert "–" in history  # the opening balance has no reason and says so
        redeemed = await client.get("/wallet?kind=redeemed", headers=HX)
        assert redeemed.text.count("Team dinner") == 3 and "<html" not in redeemed.text
        earned = await client.get("/wallet?kind=earned", headers=HX)
        assert "Team dinner" not in earned.text and "+3,000" in earned.text


async def test_the_german_wallet_names_status_and_reward(db: Database, server: str) -> None:
    rw = await make_rewards_world(db, points=1000, locale="de")
    reward = await make_reward(db, rw, "bonus", points=400, name_en="Team dinner", name_de="Teamessen")
    cancelled = await redeem(db, rw.manager, reward)
    async with db.transaction() as session:
        await services.cancel_redemption(session, rw.manager.principal, cancelled.id)
    async with browser_for(server, rw.manager) as client:
        history = (await client.get("/wallet")).text.split('id="history"', 1)[1]
        assert history.count('<td data-label="Datum">') == 2
        assert "Teamessen" in history and "storniert" in history and "(400 zurückgebucht)" in history
        assert "Einlösung" in history and "freigegeben" not in history


async def test_paging_skips_the_bookkeeping_and_still_fills_a_page(db: Database, server: str) -> None:
    rw = await make_rewards_world(db, points=100_000, locale="en")
    reward = await make_reward(db, rw, "bonus", points=10, auto_approve_up_to=10)
    for _ in range(55):
        await redeem(db, rw.manager, reward)
    async with browser_for(server, rw.manager) as client:
        first = (await client.get("/wallet")).text.split('id="history"', 1)[1]
        assert first.count('<td data-label="Date">') == 50 and "Show more" in first
        cursor = first.split("cursor=", 1)[1].split("&", 1)[0]
        more = await client.get(f"/wallet?kind=all&cursor={cursor}", headers=HX)
        assert more.text.count('<td data-label="Date">') == 6 and "Show more" not in more.text
