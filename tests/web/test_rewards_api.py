"""The rewards endpoints over real HTTP: the workflow, every error code of the issue, and scope (404)."""

from __future__ import annotations

import httpx

from incentives.accounts.roles import Role
from incentives.db import Database
from tests.factories import make_member, make_user
from tests.rewards.helpers import give_points, make_reward, make_rewards_world

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100


async def _points(http: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, int]:
    response = await http.get("/api/v1/points", headers=auth)
    item: dict[str, int] = response.json()["items"][0]
    return item


async def test_catalog_redeem_approve_and_fulfil(db: Database, http: httpx.AsyncClient) -> None:
    rw = await make_rewards_world(db, points=1000)
    admin = rw.world.admin.auth
    created = await http.post(
        "/api/v1/rewards",
        json={
            "program_id": rw.program_id,
            "kind": "mdf",
            "name": {"de": "MDF-Budget 500 €", "en": "MDF budget €500"},
            "points": 400,
            "value": "500.00",
            "stock": 3,
        },
        headers=admin,
    )
    assert created.status_code == 201, created.text
    reward = created.json()
    assert reward["value"] == {"amount": "500.00", "currency": "EUR"} and reward["stock"] == 3
    catalog = await http.get("/api/v1/rewards", params={"program_id": rw.program_id}, headers=rw.rep.auth)
    assert [item["id"] for item in catalog.json()["items"]] == [reward["id"]]

    redeemed = await http.post("/api/v1/redemptions", json={"reward_id": reward["id"]}, headers=rw.manager.auth)
    assert redeemed.status_code == 201, redeemed.text
    body = redeemed.json()
    assert body["status"] == "pending" and body["points"] == 400 and body["fulfilment"] is None
    assert (await _points(http, rw.manager.auth))["available"] == 600
    assert (await _points(http, rw.manager.auth))["held"] == 400

    approved = await http.post(f"/api/v1/redemptions/{body['id']}/approve", headers=rw.pam.auth)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "fulfilled"
    assert approved.json()["fulfilment"]["mdf_amount"] == {"amount": "500.00", "currency": "EUR"}
    points = await _points(http, rw.manager.auth)
    assert points["available"] == 600 and points["held"] == 0

    again = await http.post(f"/api/v1/redemptions/{body['id']}/approve", headers=rw.pam.auth)
    assert again.status_code == 409 and again.json()["code"] == "invalid_state"
    assert again.json()["status"] == 409 and again.json()["redemption_status"] == "fulfilled"

    allocations = (await http.get("/api/v1/mdf/allocations", headers=rw.manager.auth)).json()["items"]
    assert allocations[0]["remaining"] == {"amount": "500.00", "currency": "EUR"}
    allocation = allocations[0]["id"]
    too_much = await http.post(
        f"/api/v1/mdf/allocations/{allocation}/claims",
        data={"activity": "Messe", "amount": "500.01"},
        files={"proof": ("flyer.png", PNG, "image/png")},
        headers=rw.manager.auth,
    )
    assert too_much.status_code == 422 and too_much.json()["errors"][0]["loc"] == ["amount"]
    wrong_type = await http.post(
        f"/api/v1/mdf/allocations/{allocation}/claims",
        data={"activity": "Messe", "amount": "100"},
        files={"proof": ("run.exe", b"MZ\x90\x00binary", "image/png")},
        headers=rw.manager.auth,
    )
    assert wrong_type.status_code == 422 and wrong_type.json()["errors"][0]["loc"] == ["proof"]
    dollars = await http.post(
        f"/api/v1/mdf/allocations/{allocation}/claims",
        data={"activity": "Messe", "amount": "100", "currency": "USD"},
        files={"proof": ("flyer.png", PNG, "image/png")},
        headers=rw.manager.auth,
    )
    assert dollars.status_code == 422 and dollars.json()["errors"][0]["loc"] == ["currency"]
    too_large = await http.post(
        f"/api/v1/mdf/allocations/{allocation}/claims",
        data={"activity": "Messe", "amount": "100"},
        files={"proof": ("big.png", PNG + b"\x00" * 950_000, "image/png")},
        headers=rw.manager.auth,
    )
    assert too_large.status_code in (413, 422), too_large.text
    claim = await http.post(
        f"/api/v1/mdf/allocations/{allocation}/claims",
        data={"activity": "Messe Stuttgart", "amount": "499.50", "currency": "EUR"},
        files={"proof": ("flyer.png", PNG, "image/png")},
        headers=rw.manager.auth,
    )
    assert claim.status_code == 201, claim.text
    left = (await http.get("/api/v1/mdf/allocations", headers=rw.manager.auth)).json()["items"][0]["remaining"]
    assert left == {"amount": "0.50", "currency": "EUR"}
    decided = await http.post(
        f"/api/v1/mdf/claims/{claim.json()['id']}/decide",
        json={"approve": False, "reason": "Beleg fehlt"},
        headers=rw.pam.auth,
    )
    assert decided.status_code == 200 and decided.json()["status"] == "rejected"
    left = (await http.get("/api/v1/mdf/allocations", headers=rw.manager.auth)).json()["items"][0]["remaining"]
    assert left == {"amount": "500.00", "currency": "EUR"}

    notes = await http.get("/api/v1/notifications", headers={**rw.manager.auth, "Accept-Language": "de"})
    texts = [item["text"] for item in notes.json()["items"]]
    assert any("MDF-Budget 500 €" in text and "genehmigt" in text for text in texts), texts
    assert any("Beleg fehlt" in text for text in texts), texts


async def test_bad_input_answers_with_codes(db: Database, http: httpx.AsyncClient) -> None:
    rw = await make_rewards_world(db, points=150)
    reward = await make_reward(db, rw, "discount", points=100, stock=1)
    short = await http.post("/api/v1/redemptions", json={"reward_id": reward, "quantity": 2}, headers=rw.manager.auth)
    assert short.status_code == 422
    assert short.json()["code"] == "insufficient_points" and short.json()["shortfall"] == 50
    assert short.json()["available"] == 150 and short.json()["points"] == 200

    first = await http.post("/api/v1/redemptions", json={"reward_id": reward}, headers=rw.manager.auth)
    assert first.status_code == 201
    await give_points(db, rw.program_id, rw.org_id, 1000)
    sold_out = await http.post("/api/v1/redemptions", json={"reward_id": reward}, headers=rw.manager.auth)
    assert sold_out.status_code == 422 and sold_out.json()["code"] == "out_of_stock"

    cancelled = await http.post(f"/api/v1/redemptions/{first.json()['id']}/cancel", headers=rw.manager.auth)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    approve_cancelled = await http.post(f"/api/v1/redemptions/{first.json()['id']}/approve", headers=rw.pam.auth)
    assert approve_cancelled.status_code == 409 and approve_cancelled.json()["code"] == "invalid_state"
    assert (await _points(http, rw.manager.auth))["available"] == 1150  # the cancelled hold was voided

    rep_redeems = await http.post("/api/v1/redemptions", json={"reward_id": reward}, headers=rw.rep.auth)
    assert rep_redeems.status_code == 403 and rep_redeems.json()["code"] == "forbidden"
    no_reason = await http.post(f"/api/v1/redemptions/{first.json()['id']}/reject", json={}, headers=rw.pam.auth)
    assert no_reason.status_code == 422 and no_reason.json()["code"] == "validation_error"
    bad_kind = await http.post(
        "/api/v1/rewards",
        json={"program_id": rw.program_id, "kind": "cash", "name": {"de": "x", "en": "x"}, "points": 1},
        headers=rw.world.admin.auth,
    )
    assert bad_kind.status_code == 422 and bad_kind.json()["errors"][0]["loc"] == ["kind"]
    no_percent = await http.post(
        "/api/v1/rewards",
        json={"program_id": rw.program_id, "kind": "discount", "name": {"de": "x", "en": "x"}, "points": 1},
        headers=rw.world.admin.auth,
    )
    assert no_percent.status_code == 422 and no_percent.json()["errors"][0]["loc"] == ["percent"]
    pam_creates = await http.post(
        "/api/v1/rewards",
        json={"program_id": rw.program_id, "kind": "bonus", "name": {"de": "x", "en": "x"}, "points": 1},
        headers=rw.pam.auth,
    )
    assert pam_creates.status_code == 403


async def test_idempotency_key_redeems_once(db: Database, http: httpx.AsyncClient) -> None:
    rw = await make_rewards_world(db, points=500)
    reward = await make_reward(db, rw, "bonus", points=100)
    headers = {**rw.manager.auth, "Idempotency-Key": "click-1"}
    first = await http.post("/api/v1/redemptions", json={"reward_id": reward}, headers=headers)
    second = await http.post("/api/v1/redemptions", json={"reward_id": reward}, headers=headers)
    assert first.status_code == second.status_code == 201 and first.json()["id"] == second.json()["id"]
    assert (await _points(http, rw.manager.auth))["held"] == 100


async def test_auto_approval_at_the_threshold_fulfils_with_a_coupon(db: Database, http: httpx.AsyncClient) -> None:
    rw = await make_rewards_world(db, points=500)
    reward = await make_reward(db, rw, "discount", points=200, auto_approve_up_to=200)
    response = await http.post("/api/v1/redemptions", json={"reward_id": reward}, headers=rw.manager.auth)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "fulfilled" and body["auto_approved"] is True
    assert body["fulfilment"]["coupon_code"].startswith("RW-") and body["fulfilment"]["percent"] == "5.00"
    assert (await _points(http, rw.manager.auth)) | {} == {
        **(await _points(http, rw.manager.auth)),
        "available": 300,
        "held": 0,
    }


async def test_scope_every_endpoint_answers_404_outside(db: Database, http: httpx.AsyncClient) -> None:
    rw = await make_rewards_world(db, points=500)
    reward = await make_reward(db, rw, "mdf", points=100)
    redemption = (await http.post("/api/v1/redemptions", json={"reward_id": reward}, headers=rw.manager.auth)).json()
    other = await make_rewards_world(db, points=500)  # another program, its own people
    same_program_org = await make_member(db, rw.world)
    neighbour = await make_user(db, rw.world, same_program_org, Role.RESELLER_MANAGER)
    for outsider in (other.manager, other.pam, neighbour):
        for path in ("approve", "cancel"):
            response = await http.post(f"/api/v1/redemptions/{redemption['id']}/{path}", headers=outsider.auth)
            assert response.status_code == 404, (outsider, path, response.text)
        response = await http.post(
            f"/api/v1/redemptions/{redemption['id']}/reject", json={"reason": "x"}, headers=outsider.auth
        )
        assert response.status_code == 404
        assert (await http.get(f"/api/v1/redemptions/{redemption['id']}", headers=outsider.auth)).status_code == 404
        listed = await http.get("/api/v1/redemptions", headers=outsider.auth)
        assert redemption["id"] not in [item["id"] for item in listed.json()["items"]]
    for outsider in (other.manager, other.pam):
        stolen = await http.post("/api/v1/redemptions", json={"reward_id": reward}, headers=outsider.auth)
        assert stolen.status_code == 404
        catalog = await http.get("/api/v1/rewards", headers=outsider.auth)
        assert reward not in [item["id"] for item in catalog.json()["items"]]
    approved = await http.post(f"/api/v1/redemptions/{redemption['id']}/approve", headers=rw.pam.auth)
    assert approved.status_code == 200
    allocation = (await http.get("/api/v1/mdf/allocations", headers=rw.manager.auth)).json()["items"][0]["id"]
    for outsider in (other.manager, neighbour):
        assert (await http.get("/api/v1/mdf/allocations", headers=outsider.auth)).json()["items"] == []
        claim = await http.post(
            f"/api/v1/mdf/allocations/{allocation}/claims",
            data={"activity": "x", "amount": "1"},
            files={"proof": ("p.png", PNG, "image/png")},
            headers=outsider.auth,
        )
        assert claim.status_code == 404
    # the partner's own rep sees it, but may not cancel (only the manager redeems and cancels)
    mine = await http.get(f"/api/v1/redemptions/{redemption['id']}", headers=rw.rep.auth)
    assert mine.status_code == 200
