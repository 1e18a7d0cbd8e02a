"""The rules endpoints over real HTTP: create, edit, validate with positions, simulate, scope and roles."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from incentives.accounts.roles import Role
from incentives.db import Database
from incentives.rules.processor import process_events
from tests.factories import make_member, make_program, make_user
from tests.rules import T0, add_events, earned


def rule_body(program_id: int, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "program_id": program_id,
        "name": {"de": "Kalte Leads", "en": "Cold leads"},
        "event": "lead.feedback",
        "condition": "feedback.is_first && feedback.hours_since_reserved <= 24.0",
        "points": 'lead.temperature == "cold" ? 30 : 10',
        "cap": {"per": "day", "max_points": 100},
        "active": True,
    }
    body.update(changes)
    return body


async def test_create_edit_list_and_simulate(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    orgs = [await make_member(db, world), await make_member(db, world)]
    auth = world.admin.auth
    created = await http.post("/api/v1/rules", json=rule_body(world.program_id), headers=auth)
    assert created.status_code == 201, created.text
    rule_id = created.json()["id"]
    assert created.json() == {"id": rule_id, "version": 1}
    edited = await http.put(f"/api/v1/rules/{rule_id}", json=rule_body(world.program_id, points="20"), headers=auth)
    assert edited.status_code == 200 and edited.json() == {"id": rule_id, "version": 2}
    listed = (await http.get("/api/v1/rules", headers=auth)).json()["items"]
    assert [(item["id"], item["version"], item["points"]) for item in listed] == [(rule_id, 2, "20")]
    history = (await http.get(f"/api/v1/rules/{rule_id}/versions", headers=auth)).json()["items"]
    assert [item["version"] for item in history] == [2, 1]

    await add_events(db, world.program_id, orgs, 14, event_type="lead.feedback")
    window = {"from": (T0 - dt.timedelta(days=1)).isoformat(), "to": (T0 + dt.timedelta(days=1)).isoformat()}
    simulated = await http.post(f"/api/v1/rules/{rule_id}/simulate", json=window, headers=auth)
    assert simulated.status_code == 200, simulated.text
    # 7 events per org at 20 points, capped at 100 a day: 20 × 5 each.
    assert simulated.json() == {
        "events": 14,
        "awards": 10,
        "points": 200,
        "skipped": 0,
        "campaign_points": 0,
        "by_org": [{"org_id": org, "points": 100} for org in sorted(orgs)],
    }
    draft = {
        "program_id": world.program_id,
        "event": "lead.feedback",
        "condition": "feedback.is_first",
        "points": "20",
        "cap": {"per": "day", "max_points": 90},
        **window,
    }
    simulated_draft = await http.post("/api/v1/rules/simulate", json=draft, headers=auth)
    assert simulated_draft.status_code == 200, simulated_draft.text
    assert simulated_draft.json()["by_org"] == [{"org_id": org, "points": 90} for org in sorted(orgs)]
    broken = await http.post("/api/v1/rules/simulate", json={**draft, "points": "x"}, headers=auth)
    assert broken.status_code == 422 and broken.json()["code"] == "invalid_expression"
    assert await earned(db, world.program_id) == 0  # simulation changes nothing
    await process_events(db, T0 + dt.timedelta(hours=1))
    assert await earned(db, world.program_id) == 200


async def test_bad_input_is_refused_with_the_position(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    auth = world.admin.auth
    bad = await http.post(
        "/api/v1/rules",
        json=rule_body(world.program_id, condition="feedback.is_first && feedback.hour <= 24.0"),
        headers=auth,
    )
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_expression"
    problem = bad.json()
    assert (problem["field"], problem["line"], problem["column"]) == ("condition", 1, 22)
    assert "unknown field feedback.hour" in problem["detail"]
    validate = await http.post(
        "/api/v1/rules/validate", json={"event": "lead.won", "condition": "true", "points": "deal.value"}, headers=auth
    )
    assert validate.status_code == 422 and validate.json()["field"] == "points"
    assert "must be of type int, but is double" in validate.json()["problem"]
    good = await http.post(
        "/api/v1/rules/validate",
        json={"event": "lead.won", "condition": "true", "points": "int(deal.value / 100.0)"},
        headers=auth,
    )
    assert good.status_code == 200 and good.json() == {"ok": True}
    for changes, where in (
        ({"points": "-5"}, ["points"]),
        ({"points": "1000000"}, ["points"]),
        ({"cap": {"per": "day", "max_points": 0}}, ["cap", "max_points"]),
        ({"cap": {"per": "year", "max_points": 10}}, ["cap", "per"]),
        ({"event": "lead.invented"}, ["event"]),
        ({"condition": 5}, ["condition"]),
    ):
        response = await http.post("/api/v1/rules", json=rule_body(world.program_id, **changes), headers=auth)
        assert response.status_code == 422, (changes, response.text)
        assert response.json()["code"] == "validation_error"
        assert any(error["loc"][-len(where) :] == where[-len(where) :] for error in response.json()["errors"]), (
            changes,
            response.json(),
        )
    assert (await http.get("/api/v1/rules", headers=auth)).json()["items"] == []


async def test_scope_and_roles(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    other = await make_program(db)
    org = await make_member(db, world)
    rep = await make_user(db, world, org, Role.RESELLER_REP)
    created = await http.post("/api/v1/rules", json=rule_body(world.program_id), headers=world.admin.auth)
    rule_id = created.json()["id"]
    foreign = other.admin.auth
    assert (await http.post("/api/v1/rules", json=rule_body(world.program_id), headers=foreign)).status_code == 404
    assert (
        await http.put(f"/api/v1/rules/{rule_id}", json=rule_body(world.program_id), headers=foreign)
    ).status_code == 404
    window = {"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"}
    assert (await http.post(f"/api/v1/rules/{rule_id}/simulate", json=window, headers=foreign)).status_code == 404
    assert (await http.get(f"/api/v1/rules?program_id={world.program_id}", headers=foreign)).status_code == 404
    assert (await http.post("/api/v1/rules", json=rule_body(world.program_id), headers=rep.auth)).status_code == 403
    # A rule found by id is no partner's: 404, as for an id that does not exist (tests/rules/test_scope_oracle.py).
    assert (
        await http.put(f"/api/v1/rules/{rule_id}", json=rule_body(world.program_id), headers=rep.auth)
    ).status_code == 404
    assert (await http.post("/api/v1/rules", json=rule_body(world.program_id))).status_code == 401
