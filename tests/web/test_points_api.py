"""The points endpoints over real HTTP: scope, roles, validation, Idempotency-Key, pagination."""

from __future__ import annotations

import httpx

from incentives.accounts.roles import Role
from incentives.db import Database
from incentives.ledger import services
from tests.factories import make_member, make_program, make_user


async def _award(db: Database, program_id: int, org_id: int, points: int, key: str) -> None:
    async with db.transaction() as session:
        await services.award_points(
            session,
            program_id=program_id,
            org_id=org_id,
            points=points,
            key=key,
            cause=services.Cause(rule_id=3, rule_version=2, lead_id=11),
        )


async def test_partner_sees_its_points_and_history(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    org = await make_member(db, world)
    rep = await make_user(db, world, org, Role.RESELLER_REP)
    for i in range(5):
        await _award(db, world.program_id, org, 10, f"e{i}")
    response = await http.get("/api/v1/points", headers=rep.auth)
    assert response.status_code == 200, response.text
    assert response.json()["items"] == [
        {
            "program_id": world.program_id,
            "org_id": org,
            "available": 50,
            "held": 0,
            "lifetime_earned": 50,
            "expiring": [],
        }
    ]
    seen = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = await http.get("/api/v1/points/transfers", params=params, headers=rep.auth)
        assert page.status_code == 200, page.text
        seen += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 5 and [item["points"] for item in seen] == [10] * 5
    assert seen[0]["kind"] == "earn" and seen[0]["rule"] == {"id": 3, "version": 2, "name": None}
    assert seen[0]["lead_id"] == 11
    bad = await http.get("/api/v1/points/transfers", params={"limit": "501"}, headers=rep.auth)
    assert bad.status_code == 422 and bad.json()["code"] == "validation_error"


async def test_scope_answers_404(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    mine, other = await make_member(db, world), await make_member(db, world)
    manager = await make_user(db, world, mine, Role.RESELLER_MANAGER)
    foreign = await make_program(db)
    for path in ("/api/v1/points", "/api/v1/points/transfers"):
        assert (await http.get(path, params={"org_id": other}, headers=manager.auth)).status_code == 404
        response = await http.get(path, params={"org_id": mine}, headers=foreign.admin.auth)
        assert response.status_code == 404 and response.json()["code"] == "not_found"
    response = await http.post(
        "/api/v1/points/adjustments",
        json={"program_id": world.program_id, "org_id": mine, "points": 5, "reason": "x"},
        headers=foreign.admin.auth,
    )
    assert response.status_code == 404
    pam = await make_user(db, world, world.admin.org_id, Role.PARTNER_MANAGER)
    seen = await http.get("/api/v1/points", params={"org_id": other}, headers=pam.auth)
    assert seen.status_code == 200 and seen.json()["items"][0]["org_id"] == other


async def test_adjustments_need_an_admin(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    org = await make_member(db, world)
    body = {"program_id": world.program_id, "org_id": org, "points": 5, "reason": "goodwill"}
    for role, org_id in ((Role.RESELLER_MANAGER, org), (Role.PARTNER_MANAGER, world.admin.org_id)):
        actor = await make_user(db, world, org_id, role)
        response = await http.post("/api/v1/points/adjustments", json=body, headers=actor.auth)
        assert response.status_code == 403 and response.json()["code"] == "forbidden"
    other_reseller = await make_user(db, world, await make_member(db, world), Role.RESELLER_MANAGER)
    response = await http.post("/api/v1/points/adjustments", json=body, headers=other_reseller.auth)
    assert response.status_code == 404


async def test_adjustments_validate_and_never_overdraw(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    org = await make_member(db, world)
    url = "/api/v1/points/adjustments"
    base = {"program_id": world.program_id, "org_id": org, "reason": "correction"}
    for bad in (
        {**base, "points": 0},
        {**base, "points": "5"},
        {**base, "points": 5, "reason": " "},
        {"program_id": world.program_id, "org_id": org, "points": 5},
    ):
        response = await http.post(url, json=bad, headers=world.admin.auth)
        assert response.status_code == 422 and response.json()["code"] == "validation_error", bad
    added = await http.post(url, json={**base, "points": 30}, headers=world.admin.auth)
    assert added.status_code == 201, added.text
    assert added.json()["points"] == 30 and added.json()["kind"] == "adjust"
    overdraw = await http.post(url, json={**base, "points": -31}, headers=world.admin.auth)
    assert overdraw.status_code == 422 and overdraw.json()["code"] == "insufficient_points"
    taken = await http.post(url, json={**base, "points": -30}, headers=world.admin.auth)
    assert taken.status_code == 201
    points = await http.get("/api/v1/points", params={"org_id": org}, headers=world.admin.auth)
    assert points.json()["items"][0]["available"] == 0


async def test_adjustment_idempotency_key(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    org = await make_member(db, world)
    url = "/api/v1/points/adjustments"
    body = {"program_id": world.program_id, "org_id": org, "points": 25, "reason": "fair"}
    headers = {**world.admin.auth, "Idempotency-Key": "adj-1"}
    first = await http.post(url, json=body, headers=headers)
    again = await http.post(url, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers.get("idempotent-replayed") == "true"
    conflict = await http.post(url, json={**body, "points": 26}, headers=headers)
    assert conflict.status_code == 409 and conflict.json()["code"] == "idempotency_conflict"
    points = await http.get("/api/v1/points", params={"org_id": org}, headers=world.admin.auth)
    assert points.json()["items"][0]["available"] == 25
    history = await http.get(
        "/api/v1/points/transfers", params={"org_id": org, "program_id": world.program_id}, headers=world.admin.auth
    )
    assert [item["reason"] for item in history.json()["items"]] == ["fair"]
