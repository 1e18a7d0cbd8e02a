"""Changing and deactivating catalog items over the API: the admin may, scope answers 404, errors name the field."""

from __future__ import annotations

import httpx

from incentives.db import Database
from tests.factories import make_program
from tests.rewards.helpers import make_reward, make_rewards_world, redeem

ITEM = {"kind": "discount", "name": {"de": "Frühjahrsrabatt", "en": "Spring discount"}, "points": 250, "percent": "7.5"}


async def test_an_admin_changes_and_deactivates_an_item(db: Database, http: httpx.AsyncClient) -> None:
    rw = await make_rewards_world(db, points=1000)
    reward_id = await make_reward(db, rw, "discount", points=100)
    admin = {**rw.world.admin.auth, "Idempotency-Key": "change-1"}
    changed = await http.post(f"/api/v1/rewards/{reward_id}", json={**ITEM, "stock": 9}, headers=admin)
    assert changed.status_code == 200, changed.text
    assert (changed.json()["points"], changed.json()["percent"], changed.json()["stock"]) == (250, "7.50", 9)
    replay = await http.post(f"/api/v1/rewards/{reward_id}", json={**ITEM, "stock": 9}, headers=admin)
    assert replay.headers.get("Idempotent-Replayed") == "true" and replay.json() == changed.json()
    await redeem(db, rw.manager, reward_id)
    fixed = await http.post(f"/api/v1/rewards/{reward_id}", json={**ITEM, "percent": "10"}, headers=rw.world.admin.auth)
    assert fixed.status_code == 422 and [e["loc"] for e in fixed.json()["errors"]] == [["percent"]]
    off = await http.post(f"/api/v1/rewards/{reward_id}/deactivate", headers=rw.world.admin.auth)
    assert off.status_code == 200 and off.json()["active"] is False
    listed = await http.get("/api/v1/rewards", params={"program_id": rw.program_id}, headers=rw.manager.auth)
    assert listed.json()["items"] == []


async def test_bad_items_and_other_callers_change_nothing(db: Database, http: httpx.AsyncClient) -> None:
    rw = await make_rewards_world(db)
    reward_id = await make_reward(db, rw, "discount", points=100)
    bad = await http.post(
        f"/api/v1/rewards/{reward_id}",
        json={**ITEM, "percent": "150", "valid_from": "2026-12-01T00:00:00"},
        headers=rw.world.admin.auth,
    )
    assert bad.status_code == 422
    assert sorted(e["loc"][0] for e in bad.json()["errors"]) == ["percent", "valid_from"]
    assert any(e["msg"] == "A percentage is at most 100." for e in bad.json()["errors"])
    other = await make_program(db)
    for auth, status in ((other.admin.auth, 404), (rw.pam.auth, 403), (rw.manager.auth, 403)):
        changed = await http.post(f"/api/v1/rewards/{reward_id}", json=ITEM, headers=auth)
        off = await http.post(f"/api/v1/rewards/{reward_id}/deactivate", headers=auth)
        assert (changed.status_code, off.status_code) == (status, status)
    [item] = (await http.get("/api/v1/rewards", headers=rw.world.admin.auth)).json()["items"]
    assert (item["points"], item["percent"], item["active"]) == (100, "5.00", True)
