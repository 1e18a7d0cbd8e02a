"""The webhooks API over real HTTP: subscribe (secret once), list, delivery log, retry now, remove; bad input with
translated 422s; everyone but the program's admins finds nothing (404); production refuses private addresses."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from incentives.accounts.roles import Role
from incentives.config import Settings
from incentives.db import Database, utcnow
from incentives.errors import ValidationFailed
from incentives.webhooks.jobs import deliver_due
from incentives.webhooks.services import check_url
from tests.conftest import run_server
from tests.factories import make_member, make_program, make_user
from tests.webhooks.receiver import emit_points, running_receiver


def _body(program_id: int, url: str, **fields: Any) -> dict[str, Any]:
    return {"program_id": program_id, "url": url, "events": ["points.awarded", "lead.won"], **fields}


async def test_an_admin_subscribes_reads_the_log_and_sends_again_now(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    with running_receiver() as receiver:
        created = await http.post(
            "/api/v1/webhooks", headers=world.admin.auth, json=_body(world.program_id, receiver.url, description="CRM")
        )
        assert created.status_code == 201, created.text
        hook_id, secret = created.json()["id"], created.json()["secret"]
        assert secret.startswith("whsec_")
        listed = (await http.get("/api/v1/webhooks", headers=world.admin.auth)).json()["items"]
        assert [(h["id"], h["url"], h["events"], h["enabled"]) for h in listed] == [
            (hook_id, receiver.url, ["lead.won", "points.awarded"], True)
        ]
        assert "secret" not in listed[0]  # shown once

        now = utcnow()
        await emit_points(db, world, at=now)
        assert await deliver_due(db, now) == 1
        log = (await http.get(f"/api/v1/webhooks/{hook_id}/deliveries", headers=world.admin.auth)).json()
        [item] = log["items"]
        assert {k: item[k] for k in ("event_type", "status", "attempts", "last_status_code", "next_attempt_at")} == {
            "event_type": "points.awarded",
            "status": "delivered",
            "attempts": 1,
            "last_status_code": 204,
            "next_attempt_at": None,
        }
        retried = await http.post(f"/api/v1/webhooks/{hook_id}/deliveries/{item['id']}/retry", headers=world.admin.auth)
        assert retried.status_code == 202, retried.text
        assert retried.json()["status"] == "pending"
        assert await deliver_due(db, utcnow() + dt.timedelta(seconds=1)) == 1
        assert len(receiver.received) == 2
        first, again = receiver.received
        assert first.headers["webhook-id"] == again.headers["webhook-id"]
        Webhook(secret).verify(again.body, again.headers)

        removed = await http.delete(f"/api/v1/webhooks/{hook_id}", headers=world.admin.auth)
        assert removed.status_code == 204
        assert (await http.get("/api/v1/webhooks", headers=world.admin.auth)).json()["items"] == []
        gone = await http.get(f"/api/v1/webhooks/{hook_id}/deliveries", headers=world.admin.auth)
        assert gone.status_code == 404


async def test_only_the_programs_admins_see_its_webhooks(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    other = await make_program(db)
    org = await make_member(db, world)
    partners = [
        await make_user(db, world, org, Role.RESELLER_REP),
        await make_user(db, world, org, Role.RESELLER_MANAGER),
        await make_user(db, world, world.admin.org_id, Role.PARTNER_MANAGER),
    ]
    created = await http.post(
        "/api/v1/webhooks", headers=world.admin.auth, json=_body(world.program_id, "http://127.0.0.1:9/x")
    )
    hook_id = created.json()["id"]
    await emit_points(db, world)
    log = await http.get(f"/api/v1/webhooks/{hook_id}/deliveries", headers=world.admin.auth)
    delivery_id = log.json()["items"][0]["id"]
    for outsider in [other.admin, *partners]:
        calls = [
            http.get(f"/api/v1/webhooks/{hook_id}/deliveries", headers=outsider.auth),
            http.post(f"/api/v1/webhooks/{hook_id}/deliveries/{delivery_id}/retry", headers=outsider.auth),
            http.delete(f"/api/v1/webhooks/{hook_id}", headers=outsider.auth),
            http.post("/api/v1/webhooks", headers=outsider.auth, json=_body(world.program_id, "http://127.0.0.1:9/y")),
        ]
        for call in calls:
            answer = await call
            assert (answer.status_code, answer.json()["code"]) == (404, "not_found"), (outsider.email, answer.text)
        if outsider is other.admin:
            assert (await http.get("/api/v1/webhooks", headers=outsider.auth)).json()["items"] == []
        else:
            assert (await http.get("/api/v1/webhooks", headers=outsider.auth)).status_code == 404
    # another program's delivery id under one's own webhook is not found either
    own = await http.post(
        "/api/v1/webhooks", headers=other.admin.auth, json=_body(other.program_id, "http://127.0.0.1:9/z")
    )
    crossed = await http.post(
        f"/api/v1/webhooks/{own.json()['id']}/deliveries/{delivery_id}/retry", headers=other.admin.auth
    )
    assert crossed.status_code == 404


async def test_bad_urls_and_unknown_events_are_refused_in_the_readers_language(
    db: Database, http: httpx.AsyncClient
) -> None:
    world = await make_program(db)
    cases = [
        ({"url": "ftp://crm.example/hook"}, ["url"], "Muss eine http- oder https-URL sein."),
        ({"url": "nonsense"}, ["url"], "Muss eine http- oder https-URL sein."),
        (
            {"url": "https://user:pw@crm.example/hook"},
            ["url"],
            "Darf keinen Benutzernamen und kein Passwort enthalten.",
        ),
        ({"events": ["lead.won", "lead.exploded"]}, ["events", 1], "Unbekannte Ereignisart: lead.exploded"),
        ({"events": []}, ["events"], "Bitte wählen Sie mindestens eine Ereignisart."),
    ]
    for fields, loc, message in cases:
        body = {**_body(world.program_id, "https://crm.example/hook"), **fields}
        answer = await http.post("/api/v1/webhooks", headers={**world.admin.auth, "Accept-Language": "de"}, json=body)
        assert answer.status_code == 422, answer.text
        problem = answer.json()
        assert problem["code"] == "validation_error"
        assert [(e["loc"], e["msg"]) for e in problem["errors"]] == [(loc, message)]
    english = await http.post(
        "/api/v1/webhooks",
        headers={**world.admin.auth, "Accept-Language": "en"},
        json={**_body(world.program_id, "x"), "events": ["nope"]},
    )
    assert {e["msg"] for e in english.json()["errors"]} == {"Unknown event type: nope", "Must be an http or https URL."}
    assert (await http.get("/api/v1/webhooks", headers=world.admin.auth)).json()["items"] == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost:8080/hook",
        "http://10.1.2.3/",
        "http://192.168.0.10/",
        "http://[::1]/",
        "http://169.254.169.254/latest",
        "http://[::ffff:127.0.0.1]/",
    ],
)
async def test_production_refuses_loopback_and_private_addresses(url: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        await check_url(url, allow_private=False)
    assert refused.value.errors[0].loc == ("url",)
    assert await check_url(url, allow_private=True) == url
    assert await check_url("https://93.184.215.14/hook", allow_private=False) == "https://93.184.215.14/hook"


@pytest.fixture
def production_server(settings: Settings) -> Iterator[str]:
    yield from run_server(Settings(**{**settings.__dict__, "environment": "production", "secret_key": "p" * 40}))


async def test_a_production_server_refuses_a_private_url(db: Database, production_server: str) -> None:
    world = await make_program(db)
    async with httpx.AsyncClient(base_url=production_server) as client:
        answer = await client.post(
            "/api/v1/webhooks", headers=world.admin.auth, json=_body(world.program_id, "http://127.0.0.1:8000/hook")
        )
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["loc"] == ["url"]
