"""Sending to a real receiver on loopback: signatures, one webhook-id across retries, backoff on the sender's
clock, failing for good, disabling after 3 days with a notice to the admins, and one send per claim."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from incentives.db import Database, utcnow
from incentives.leads import services as leads
from incentives.notifications.models import Notification
from incentives.webhooks.jobs import BACKOFF, deliver_due
from incentives.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.factories import make_program
from tests.leads.helpers import T0, make_lead, make_reseller
from tests.webhooks.receiver import emit_points, free_port, running_receiver, subscribe

SECOND = dt.timedelta(seconds=1)


async def deliveries(db: Database) -> list[WebhookDelivery]:
    async with db.reader() as session:
        return list(await session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


async def test_a_failing_receiver_gets_the_same_signed_message_until_it_answers(db: Database) -> None:
    world = await make_program(db)
    rep = await make_reseller(db, world)
    lead = await make_lead(db, world)
    with running_receiver() as receiver:
        _, secret = await subscribe(db, world, receiver.url, ["lead.reserved"])
        receiver.answers = [500, 503]
        reserved_at = T0 + dt.timedelta(hours=1)
        async with db.transaction() as session:
            await leads.reserve_lead(session, rep.principal, lead.id, reserved_at)
        [pending] = await deliveries(db)
        assert (pending.status, pending.attempts, pending.next_attempt_at) == ("pending", 0, reserved_at)

        assert await deliver_due(db, reserved_at) == 1  # 500
        [first] = await deliveries(db)
        assert (first.status, first.attempts, first.last_status_code) == ("pending", 1, 500)
        assert first.next_attempt_at == reserved_at + BACKOFF[0]
        assert await deliver_due(db, reserved_at + BACKOFF[0] - SECOND) == 0  # not due yet: nothing is sent
        assert await deliver_due(db, reserved_at + BACKOFF[0]) == 1  # 503
        [second] = await deliveries(db)
        assert second.next_attempt_at == reserved_at + BACKOFF[0] + BACKOFF[1]
        assert await deliver_due(db, second.next_attempt_at) == 1  # 204
        assert await deliver_due(db, second.next_attempt_at + dt.timedelta(days=1)) == 0

    [done] = await deliveries(db)
    assert (done.status, done.attempts, done.last_status_code) == ("delivered", 3, 204)
    assert done.next_attempt_at is None
    assert len(receiver.received) == 3
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1  # one message, three attempts
    assert receiver.received[0].headers["webhook-id"] == done.message_id
    for got in receiver.received:
        payload = Webhook(secret).verify(got.body, got.headers)  # signature and timestamp, by the library
        assert payload["type"] == "lead.reserved"
        assert payload["timestamp"] == "2026-03-02T10:00:00Z"
        data = payload["data"]
        assert (data["lead_id"], data["status"], data["org"]["id"]) == (lead.id, "reserved", rep.org_id)
        assert data["user_id"] == rep.user_id and "external_id" in data
    assert receiver.received[0].body == receiver.received[2].body


async def test_after_the_last_retry_a_delivery_fails(db: Database) -> None:
    world = await make_program(db)
    with running_receiver() as receiver:
        await subscribe(db, world, receiver.url, ["points.awarded"])
        receiver.answers = [500] * 20
        start = utcnow()
        await emit_points(db, world, at=start)
        at = start
        for wait in (dt.timedelta(0), *BACKOFF):
            at += wait
            assert await deliver_due(db, at) == 1
        assert await deliver_due(db, at + dt.timedelta(days=1)) == 0
    [failed] = await deliveries(db)
    assert (failed.status, failed.attempts, failed.next_attempt_at) == ("failed", 1 + len(BACKOFF), None)
    assert len(receiver.received) == 1 + len(BACKOFF)


async def test_an_endpoint_failing_for_three_days_is_disabled_and_the_admins_are_told(db: Database) -> None:
    world = await make_program(db)
    other = await make_program(db)
    dead = f"http://127.0.0.1:{free_port()}/hook"  # nobody listens: connection refused
    endpoint_id, _ = await subscribe(db, world, dead, ["points.awarded"])
    start = utcnow()
    await emit_points(db, world, at=start)
    assert await deliver_due(db, start) == 1
    async with db.reader() as session:
        endpoint = await session.get_one(WebhookEndpoint, endpoint_id)
        assert (endpoint.failing_since, endpoint.disabled_at) == (start, None)
    later = start + dt.timedelta(days=3) - SECOND
    await emit_points(db, world, at=later)
    assert await deliver_due(db, later) >= 1
    async with db.reader() as session:
        assert (await session.get_one(WebhookEndpoint, endpoint_id)).disabled_at is None
    at = start + dt.timedelta(days=3)
    await emit_points(db, world, at=at)
    assert await deliver_due(db, at) >= 1
    async with db.reader() as session:
        assert (await session.get_one(WebhookEndpoint, endpoint_id)).disabled_at == at
        notices = list(await session.scalars(select(Notification).where(Notification.kind == "webhook.disabled")))
    assert [(n.user_id, n.program_id, n.params["url"]) for n in notices] == [
        (world.admin.user_id, world.program_id, dead)
    ]
    assert other.admin.user_id not in {n.user_id for n in notices}
    # Disabled: no more deliveries are written for it, and the waiting ones are not sent.
    assert await emit_points(db, world, at=at) == 0
    assert await deliver_due(db, at + dt.timedelta(days=1)) == 0


async def test_a_redirect_is_not_followed_and_counts_as_a_failure(db: Database) -> None:
    world = await make_program(db)
    with running_receiver() as receiver:
        await subscribe(db, world, receiver.url.replace("/hook", "/moved"), ["points.awarded"])
        now = utcnow()
        await emit_points(db, world, at=now)
        assert await deliver_due(db, now) == 1
    [delivery] = await deliveries(db)
    assert (delivery.status, delivery.last_status_code) == ("pending", 307)
    assert receiver.received == []


async def test_two_senders_at_once_send_each_delivery_once(db: Database) -> None:
    world = await make_program(db)
    with running_receiver() as receiver:
        await subscribe(db, world, receiver.url, ["points.awarded"])
        now = utcnow()
        await emit_points(db, world, count=30, at=now)
        sent = await asyncio.gather(deliver_due(db, now), deliver_due(db, now))
    assert sum(sent) == 30
    ids = [json.loads(r.body)["data"]["n"] for r in receiver.received]
    assert sorted(ids) == list(range(30))
    assert {d.status for d in await deliveries(db)} == {"delivered"}


async def test_a_rolled_back_change_leaves_no_delivery(db: Database) -> None:
    world = await make_program(db)
    rep = await make_reseller(db, world)
    lead = await make_lead(db, world)
    await subscribe(db, world, "http://127.0.0.1:9/hook", ["lead.reserved"])

    class Failed(Exception):
        pass

    try:
        async with db.transaction() as session:
            await leads.reserve_lead(session, rep.principal, lead.id, T0 + dt.timedelta(hours=1))
            raise Failed
    except Failed:
        pass
    assert await deliveries(db) == []
