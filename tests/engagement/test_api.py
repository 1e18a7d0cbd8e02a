"""The achievements API over real HTTP: create with translated 422s, list for managers and partners, scope."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from incentives.accounts.roles import Role
from incentives.db import Database
from incentives.engagement.jobs import process_outbox
from tests.engagement import add_event
from tests.factories import make_member, make_program, make_user
from tests.rules import T0


def _body(program_id: int, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "program_id": program_id,
        "name": {"de": "Kalte Leads", "en": "Cold leads"},
        "event": "lead.reserved",
        "condition": 'lead.temperature == "cold"',
        "target": 2,
        "points": 20,
    }
    body.update(fields)
    return body


async def test_a_manager_defines_an_achievement_and_a_partner_sees_its_progress(
    db: Database, http: httpx.AsyncClient
) -> None:
    world = await make_program(db)
    org = await make_member(db, world)
    rep = await make_user(db, world, org, Role.RESELLER_REP)
    created = await http.post(
        "/api/v1/achievements",
        headers=world.admin.auth,
        json=_body(
            world.program_id,
            description={"de": "Zwei kalte Leads", "en": "Two cold leads"},
            period="month",
            repeatable=True,
            segment={"tiers": ["gold"], "regions": ["de"]},
        ),
    )
    assert created.status_code == 201, created.text
    badge_id = created.json()["id"]
    for minute in range(2):
        await add_event(db, world.program_id, org, at=T0 + dt.timedelta(minutes=minute))
    await process_outbox(db, T0 + dt.timedelta(hours=1))
    listed = await http.get(f"/api/v1/achievements?program_id={world.program_id}", headers=world.admin.auth)
    assert listed.status_code == 200
    [item] = listed.json()["items"]
    assert (item["id"], item["earned_by"], item["segment"]["regions"], item["period"]) == (badge_id, 1, ["DE"], "month")
    mine = await http.get(f"/api/v1/achievements?program_id={world.program_id}", headers=rep.auth)
    assert mine.status_code == 200
    [progress] = mine.json()["items"]
    assert progress["id"] == badge_id and progress["target"] == 2 and progress["times_earned"] == 1
    assert progress["earned_at"] == "2026-03-02T09:01:00Z" and progress["name"]["de"] == "Kalte Leads"


async def test_bad_definitions_answer_translated_422s(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    auth = {**world.admin.auth, "Accept-Language": "de"}
    bad = await http.post(
        "/api/v1/achievements", headers=auth, json=_body(world.program_id, condition="lead.temperature == ")
    )
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_expression"
    assert bad.json()["field"] == "condition" and bad.json()["line"] == 1
    assert "Zeile 1" in bad.json()["detail"]
    typed = await http.post("/api/v1/achievements", headers=auth, json=_body(world.program_id, condition="deal.value"))
    assert typed.status_code == 422 and typed.json()["code"] == "invalid_expression"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"target": 0}, "target"),
        ({"kind": "level"}, "kind"),
        ({"kind": "streak"}, "streak"),
        ({"period": "day"}, "period"),
        ({"event": "lead.offered"}, "event"),
        ({"points": 0}, "points"),
        ({"starts_at": "2026-03-02T00:00:00Z", "ends_at": "2026-03-01T00:00:00Z"}, "ends_at"),
    ]
    for fields, field in cases:
        answer = await http.post("/api/v1/achievements", headers=auth, json=_body(world.program_id, **fields))
        assert answer.status_code == 422, (fields, answer.text)
        problem = answer.json()
        assert problem["code"] == "validation_error" and problem["errors"][0]["loc"][-1] == field, problem
        assert problem["title"] != "Validation failed" and problem["errors"][0]["msg"].startswith(("Muss", "Nur")), (
            problem
        )
    english = await http.post(
        "/api/v1/achievements",
        headers={**world.admin.auth, "Accept-Language": "en"},
        json=_body(world.program_id, target=0),
    )
    assert english.json()["errors"][0]["msg"].startswith("Must be between")


async def test_scope_other_programs_and_roles(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    other = await make_program(db)
    org = await make_member(db, world)
    rep = await make_user(db, world, org, Role.RESELLER_REP)
    foreign = await http.post("/api/v1/achievements", headers=other.admin.auth, json=_body(world.program_id))
    assert foreign.status_code == 404 and foreign.json()["code"] == "not_found"
    assert (await http.post("/api/v1/achievements", headers=rep.auth, json=_body(world.program_id))).status_code == 403
    url = f"/api/v1/achievements?program_id={other.program_id}"
    assert (await http.get(url, headers=rep.auth)).status_code == 404  # a program the partner is not in
    assert (await http.get(url, headers=world.admin.auth)).status_code == 404
    # A partner sees its own progress only: another org's hits are not counted for it.
    neighbour = await make_member(db, world)
    created = await http.post("/api/v1/achievements", headers=world.admin.auth, json=_body(world.program_id))
    assert created.status_code == 201
    await add_event(db, world.program_id, neighbour)
    await process_outbox(db, T0 + dt.timedelta(hours=1))
    [mine] = (await http.get(f"/api/v1/achievements?program_id={world.program_id}", headers=rep.auth)).json()["items"]
    assert (mine["progress"], mine["times_earned"]) == (0, 0)
