"""Web Push to a real push endpoint on loopback: encrypted for the browser's keys (RFC 8291), signed with the
server's VAPID key (RFC 8292), in the reader's language, once per notification even with two senders at once;
gone subscriptions are dropped. The subscription routes refuse bad input and other users' subscriptions."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from dataclasses import dataclass

import http_ece
import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from py_vapid import Vapid
from sqlalchemy import select

from incentives.accounts.roles import Role
from incentives.db import Database
from incentives.errors import N_
from incentives.notifications import jobs as push_jobs
from incentives.notifications import push
from incentives.notifications.models import PushSubscription
from incentives.notifications.services import notify
from tests.conftest import page_client
from tests.factories import PASSWORD, make_program, make_user
from tests.leads.helpers import make_reseller
from tests.webhooks.receiver import running_receiver

KEYS = push.PushKeys(push.new_private_key(), "mailto:ops@incentives.example")


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class Browser:
    """What a browser keeps for a push subscription: its P-256 key pair and auth secret."""

    private: ec.EllipticCurvePrivateKey
    auth: bytes

    @classmethod
    def new(cls) -> Browser:
        return cls(ec.generate_private_key(ec.SECP256R1()), os.urandom(16))

    @property
    def p256dh(self) -> str:
        return b64(self.private.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint))

    def read(self, body: bytes) -> dict[str, str]:
        plain = http_ece.decrypt(body, private_key=self.private, auth_secret=self.auth, version="aes128gcm")
        found: dict[str, str] = json.loads(plain)
        return found


async def offer_notice(db: Database, world: object, org_id: int, user_id: int | None = None) -> None:
    async with db.transaction() as session:
        await notify(
            session,
            program_id=world.program_id,  # type: ignore[attr-defined]
            org_id=org_id,
            user_id=user_id,
            kind="lead_offered",
            message=N_("New leads on your pick list: %(count)s"),
            params={"count": 1234},
            link="/picklist",
        )


async def test_a_notice_reaches_each_subscribed_browser_encrypted_signed_and_translated(db: Database) -> None:
    world = await make_program(db)
    rep = await make_reseller(db, world)
    german = await make_user(db, world, rep.org_id, Role.RESELLER_MANAGER, locale="de")
    outsider = await make_reseller(db, world)
    browsers = {who: Browser.new() for who in ("rep", "german", "outsider")}
    with running_receiver() as receiver:
        async with db.transaction() as session:
            for who, actor in (("rep", rep), ("german", german), ("outsider", outsider)):
                browser = browsers[who]
                await push.subscribe(
                    session,
                    actor.principal,
                    endpoint=f"{receiver.url}?{who}",
                    p256dh=browser.p256dh,
                    auth=b64(browser.auth),
                )
        receiver.answers = [201, 201]
        await offer_notice(db, world, rep.org_id)
        assert await push_jobs.push_pending(db, KEYS) == 2
        assert await push_jobs.push_pending(db, KEYS) == 0  # claimed once: nothing is sent twice

    assert len(receiver.received) == 2  # the outsider's org was not notified
    by_text = {}
    for got in receiver.received:
        assert got.headers["content-encoding"] == "aes128gcm"
        assert int(got.headers["ttl"]) > 0
        scheme, _, params = got.headers["authorization"].partition(" ")
        fields = dict(part.strip().split("=", 1) for part in params.split(","))
        token, key = fields["t"], fields["k"]
        assert scheme == "vapid" and key == KEYS.public_key
        assert Vapid.verify(got.headers["authorization"])  # signed by the server's private key
        claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
        assert claims["sub"] == KEYS.subject and claims["aud"] == receiver.url.split("/hook")[0]
        for who in ("rep", "german"):
            try:
                by_text[who] = browsers[who].read(got.body)
            except Exception:  # encrypted for the other browser
                continue
    assert by_text["rep"] == {
        "title": "Partner incentives",
        "body": "New leads on your pick list: 1,234",
        "url": "/picklist",
        "tag": by_text["rep"]["tag"],
    }
    assert by_text["german"]["body"] == "Neue Leads auf Ihrer Pickliste: 1.234"
    assert by_text["german"]["title"] != "Partner incentives"


async def test_two_senders_at_once_push_each_notice_once_and_gone_subscriptions_are_dropped(db: Database) -> None:
    world = await make_program(db)
    rep = await make_reseller(db, world)
    other = await make_user(db, world, rep.org_id, Role.RESELLER_MANAGER)
    with running_receiver() as receiver:
        async with db.transaction() as session:
            await push.subscribe(
                session,
                rep.principal,
                endpoint=f"{receiver.url}?a",
                p256dh=Browser.new().p256dh,
                auth=b64(os.urandom(16)),
            )
        for _ in range(5):
            await offer_notice(db, world, rep.org_id, user_id=rep.user_id)
        await offer_notice(db, world, rep.org_id, user_id=other.user_id)  # not for the subscribed user
        sent = await asyncio.gather(push_jobs.push_pending(db, KEYS), push_jobs.push_pending(db, KEYS))
        assert sum(sent) == 5 and len(receiver.received) == 5

        receiver.answers = [410]
        await offer_notice(db, world, rep.org_id)
        assert await push_jobs.push_pending(db, KEYS) == 0
    async with db.reader() as session:
        assert (await session.scalars(select(PushSubscription))).all() == []  # the push service said it is gone


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_the_subscription_routes_need_a_login_refuse_bad_keys_and_others_endpoints(
    db: Database, server: str
) -> None:
    world = await make_program(db)
    rep = await make_reseller(db, world)
    thief = await make_reseller(db, world)
    good = {
        "endpoint": "https://push.example.net/send/abc123",
        "keys": {"p256dh": Browser.new().p256dh, "auth": b64(os.urandom(16))},
    }
    async with page_client(server, timeout=30) as anonymous:
        refused = await anonymous.post("/push/subscriptions", json=good)
        assert refused.status_code in (303, 403)  # to the login, or refused by the CSRF check first
    async with page_client(server, timeout=30) as client, page_client(server, timeout=30) as other:
        for actor, browser in ((rep, client), (thief, other)):
            page = await browser.get("/login")
            csrf = page.text.split('name="csrftoken" value="')[1].split('"')[0]
            await browser.post("/login", data={"email": actor.email, "password": PASSWORD, "csrftoken": csrf})
            browser.headers["X-CSRFToken"] = csrf
        bad = {**good, "keys": {"p256dh": "not base64!", "auth": ""}}
        answer = await client.post("/push/subscriptions", json=bad, headers={"X-CSRFToken": await token(client)})
        assert answer.status_code == 422
        answer = await client.post("/push/subscriptions", json=good, headers={"X-CSRFToken": await token(client)})
        assert answer.status_code == 201
        answer = await client.post(
            "/push/subscriptions",
            json={"endpoint": "ftp://x/yyyyyyyy", "keys": good["keys"]},
            headers={"X-CSRFToken": await token(client)},
        )
        assert answer.status_code == 422
        stolen = await other.post(
            "/push/subscriptions/delete",
            json={"endpoint": good["endpoint"]},
            headers={"X-CSRFToken": await token(other)},
        )
        assert stolen.status_code == 404
        mine = await client.post(
            "/push/subscriptions/delete",
            json={"endpoint": good["endpoint"]},
            headers={"X-CSRFToken": await token(client)},
        )
        assert mine.status_code == 200
    async with db.reader() as session:
        assert (await session.scalars(select(PushSubscription))).all() == []


async def token(client: httpx.AsyncClient) -> str:
    page = await client.get("/notifications")
    return page.text.split('"x-csrftoken": "')[1].split('"')[0]
