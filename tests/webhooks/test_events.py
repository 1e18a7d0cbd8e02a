"""Each event family writes its deliveries in the transaction of its change, with what a CRM needs in `data`:
leads (offered, reserved, feedback, won, lost, returned, unclaimed), points, redemptions and achievements."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from incentives.db import Database
from incentives.engagement.jobs import process_outbox
from incentives.leads import services as leads
from incentives.ledger.book import Cause
from incentives.rewards import services as rewards
from incentives.rules import payouts
from incentives.webhooks.models import WebhookDelivery
from incentives.webhooks.outbox import EVENT_TYPES
from tests.engagement import add_test_achievement
from tests.factories import ProgramWorld, make_program
from tests.leads.helpers import T0, make_lead, make_reseller
from tests.rewards.helpers import make_reward, make_rewards_world, redeem
from tests.webhooks.receiver import subscribe

HOUR = dt.timedelta(hours=1)


async def written(db: Database, world: ProgramWorld) -> list[tuple[str, dict[str, Any]]]:
    async with db.reader() as session:
        rows = await session.execute(
            select(WebhookDelivery.event_type, WebhookDelivery.data)
            .where(WebhookDelivery.program_id == world.program_id)
            .order_by(WebhookDelivery.id)
        )
        return [(kind, data) for kind, data in rows]


async def test_a_leads_life_is_told_event_by_event(db: Database) -> None:
    world = await make_program(db)
    await subscribe(db, world, "http://127.0.0.1:9/hook", list(EVENT_TYPES))
    rep = await make_reseller(db, world)
    lead = await make_lead(db, world)
    async with db.transaction() as session:
        await leads.reserve_lead(session, rep.principal, lead.id, T0 + HOUR)
    async with db.transaction() as session:
        await leads.give_feedback(session, rep.principal, lead.id, status="contacted", now=T0 + 2 * HOUR)
    async with db.transaction() as session:
        await leads.give_feedback(
            session, rep.principal, lead.id, status="won", deal_value=Decimal("15000"), now=T0 + 3 * HOUR
        )
    found = await written(db, world)
    assert [kind for kind, _ in found] == [
        "lead.offered",
        "lead.reserved",
        "lead.feedback",
        "lead.feedback",
        "lead.won",
    ]
    offered, reserved, contacted, won_feedback, won = (data for _, data in found)
    assert offered["lead_id"] == lead.id and offered["status"] == "offered" and offered["offered_to"] == [rep.org_id]
    assert offered["wave"] == 1 and "external_id" in offered and offered["expires_at"].endswith("Z")
    assert (
        reserved["org"]["id"] == rep.org_id and reserved["status"] == "reserved" and reserved["user_id"] == rep.user_id
    )
    assert contacted["feedback"]["status"] == "contacted" and contacted["status"] == "reserved"
    assert won_feedback["status"] == "won"
    assert won["deal_value"] == {"amount": "15000.00", "currency": "EUR"} and won["status"] == "won"


async def test_lost_returned_and_unclaimed_leads(db: Database) -> None:
    world = await make_program(db)
    await subscribe(db, world, "http://127.0.0.1:9/hook", ["lead.lost", "lead.returned", "lead.unclaimed"])
    rep = await make_reseller(db, world)
    lost, returned = await make_lead(db, world), await make_lead(db, world)
    for lead in (lost, returned):
        async with db.transaction() as session:
            await leads.reserve_lead(session, rep.principal, lead.id, T0 + HOUR)
    async with db.transaction() as session:
        await leads.give_feedback(
            session, rep.principal, lost.id, status="lost", lost_reason="Zu teuer", now=T0 + 2 * HOUR
        )
    async with db.transaction() as session:
        await leads.return_lead(session, rep.principal, returned.id, "Kein Bedarf", T0 + 2 * HOUR)
    found = await written(db, world)
    # The only partner returned it: no wave is left, so it goes back unclaimed in the same transaction.
    assert [kind for kind, _ in found] == ["lead.lost", "lead.returned", "lead.unclaimed"]
    assert found[0][1]["lost"] == {"reason": "Zu teuer"} and found[0][1]["status"] == "lost"
    assert found[1][1]["lead_id"] == returned.id and found[1][1]["org"]["id"] == rep.org_id
    assert found[2][1] == {
        "lead_id": returned.id,
        "program_id": world.program_id,
        "external_id": None,
        "status": "unclaimed",
    }


async def test_points_awarded_and_taken_back(db: Database) -> None:
    rw = await make_rewards_world(db)
    world = rw.world
    await subscribe(db, world, "http://127.0.0.1:9/hook", ["points.awarded", "points.reversed"])
    for points in (300, -100):
        async with db.transaction() as session:
            await payouts.adjust(
                session,
                program_id=world.program_id,
                org_id=rw.org_id,
                points=points,
                key=f"test:{points}",
                cause=Cause(user_id=world.admin.user_id, reason="Korrektur"),
            )
    async with db.transaction() as session:  # a replay books nothing and tells nothing
        await payouts.adjust(
            session,
            program_id=world.program_id,
            org_id=rw.org_id,
            points=300,
            key="test:300",
            cause=Cause(user_id=world.admin.user_id, reason="Korrektur"),
        )
    found = await written(db, world)
    assert [(kind, d["org_id"], d["points"], d["kind"], d["reason"]) for kind, d in found] == [
        ("points.awarded", rw.org_id, 300, "adjust", "Korrektur"),
        ("points.reversed", rw.org_id, 100, "adjust", "Korrektur"),
    ]


async def test_redemptions_requested_approved_and_rejected(db: Database) -> None:
    rw = await make_rewards_world(db, points=1000)
    await subscribe(
        db, rw.world, "http://127.0.0.1:9/hook", ["redemption.requested", "redemption.approved", "redemption.rejected"]
    )
    reward_id = await make_reward(db, rw, "discount")
    approved = await redeem(db, rw.manager, reward_id)
    rejected = await redeem(db, rw.manager, reward_id)
    async with db.transaction() as session:
        await rewards.approve_redemption(session, rw.pam.principal, approved.id)
    async with db.transaction() as session:
        await rewards.reject_redemption(session, rw.pam.principal, rejected.id, reason="Budget erschöpft")
    found = await written(db, rw.world)
    assert [(kind, d["redemption_id"], d["status"]) for kind, d in found] == [
        ("redemption.requested", approved.id, "pending"),
        ("redemption.requested", rejected.id, "pending"),
        ("redemption.approved", approved.id, "fulfilled"),
        ("redemption.rejected", rejected.id, "rejected"),
    ]
    assert found[2][1]["fulfilment"]["coupon_code"]
    assert found[3][1]["reason"] == "Budget erschöpft" and found[3][1]["points"] == 100
    assert found[0][1]["org_id"] == rw.org_id and found[0][1]["reward"]["id"] == reward_id


async def test_an_achievement_earned_and_its_points(db: Database) -> None:
    world = await make_program(db)
    await subscribe(db, world, "http://127.0.0.1:9/hook", ["achievement.earned", "points.awarded"])
    rep = await make_reseller(db, world)
    badge = await add_test_achievement(db, world.program_id, target=1, points=25)
    lead = await make_lead(db, world)
    async with db.transaction() as session:
        await leads.reserve_lead(session, rep.principal, lead.id, T0 + HOUR)
    await process_outbox(db, T0 + 2 * HOUR)
    await process_outbox(db, T0 + 2 * HOUR)  # a second run tells nothing twice
    found = await written(db, world)
    assert [kind for kind, _ in found] == ["achievement.earned", "points.awarded"]
    earned, paid = found[0][1], found[1][1]
    assert (earned["achievement_id"], earned["org_id"], earned["points"]) == (badge.id, rep.org_id, 25)
    assert earned["name"] == {"de": "Testabzeichen", "en": "Test badge"} and earned["lead_id"] == lead.id
    assert (paid["org_id"], paid["points"], paid["kind"], paid["lead_id"]) == (rep.org_id, 25, "earn", lead.id)
