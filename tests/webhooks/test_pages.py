"""The admins' webhooks page: add a subscription (secret shown once), send a test event, read the log and send
again now, rotate the secret (the old one signs beside it), remove; German throughout; nobody else finds it."""

from __future__ import annotations

import json
import re

import httpx
from standardwebhooks.webhooks import Webhook

from incentives.accounts.roles import Role
from incentives.db import Database, utcnow
from incentives.webhooks.jobs import deliver_due
from tests.factories import make_member, make_program, make_user
from tests.web.test_pages import csrf_of, login
from tests.webhooks.receiver import running_receiver

DE = {"Accept-Language": "de"}
HX = {"HX-Request": "true"}


def secret_in(page: httpx.Response) -> str:
    match = re.search(r'<code class="secret">(whsec_[^<]+)</code>', page.text)
    assert match, "no secret shown"
    return match.group(1)


async def test_an_admin_manages_a_webhook_on_the_page(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    await login(http, world.admin.email)
    with running_receiver() as receiver:
        page = await http.get("/webhooks", headers=DE)
        assert page.status_code == 200 and "Noch keine Webhooks." in page.text
        bad = await http.post("/webhooks", data={"csrftoken": csrf_of(page), "url": "ftp://x.example/"}, headers=DE)
        assert bad.status_code == 422
        assert "Muss eine http- oder https-URL sein." in bad.text
        assert "Bitte wählen Sie mindestens eine Ereignisart." in bad.text
        form = {"csrftoken": csrf_of(page), "url": receiver.url, "description": "CRM", "events": ["lead.won"]}
        added = await http.post("/webhooks", data=form, headers=DE)
        assert added.status_code == 200 and "Signaturgeheimnis" in added.text
        secret = secret_in(added)
        again = await http.get("/webhooks", headers=DE)
        assert secret not in again.text and receiver.url in again.text  # shown once
        hook_id = int(re.search(r'href="/webhooks/(\d+)"', again.text).group(1))  # type: ignore[union-attr]

        detail = await http.get(f"/webhooks/{hook_id}", headers=DE)
        assert "Noch keine Zustellungen." in detail.text
        token = csrf_of(detail)
        tested = await http.post(f"/webhooks/{hook_id}/test", data={"csrftoken": token}, headers={**DE, **HX})
        assert tested.status_code == 200 and "<html" not in tested.text and "Ausstehend" in tested.text
        assert await deliver_due(db, utcnow()) == 1
        [sent] = receiver.received
        assert Webhook(secret).verify(sent.body, sent.headers)["type"] == "webhook.test"

        log = await http.get(f"/webhooks/{hook_id}", headers={**DE, **HX})
        assert "Zugestellt" in log.text and "HTTP 204" in log.text
        delivery_id = re.search(r'id="delivery-(\d+)"', log.text).group(1)  # type: ignore[union-attr]
        retried = await http.post(
            f"/webhooks/{hook_id}/deliveries/{delivery_id}/retry", data={"csrftoken": token}, headers={**DE, **HX}
        )
        assert retried.status_code == 200 and "Ausstehend" in retried.text

        rotated = await http.post(f"/webhooks/{hook_id}/rotate", data={"csrftoken": token}, headers=DE)
        new_secret = secret_in(rotated)
        assert new_secret != secret and "24 Stunden" in rotated.text
        assert await deliver_due(db, utcnow()) == 1
        resent = receiver.received[1]
        assert resent.headers["webhook-id"] == sent.headers["webhook-id"]
        for key in (secret, new_secret):  # both sign for a day
            Webhook(key).verify(resent.body, resent.headers)
        assert json.loads(resent.body)["data"]["endpoint_id"] == hook_id

        removed = await http.post(f"/webhooks/{hook_id}/delete", data={"csrftoken": token}, headers=DE)
        assert removed.status_code == 303
        assert (await http.get(f"/webhooks/{hook_id}", headers=DE)).status_code == 404


async def test_nobody_but_admins_finds_the_page(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    org = await make_member(db, world)
    manager = await make_user(db, world, world.admin.org_id, Role.PARTNER_MANAGER)
    rep = await make_user(db, world, org, Role.RESELLER_REP)
    for user in (manager, rep):
        http.cookies.clear()
        await login(http, user.email)
        assert (await http.get("/webhooks")).status_code == 404
