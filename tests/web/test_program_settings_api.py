"""Program settings API.md lists and the API once lacked: matching weights and the capacity mode, over real HTTP."""

from __future__ import annotations

import httpx

from incentives.db import Database
from incentives.leads.matching import DEFAULT_WEIGHTS
from tests.factories import make_program
from tests.leads.helpers import make_reseller
from tests.leads.test_api import lead_body


async def test_matching_weights_and_capacity_mode_are_settings(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    path, auth = f"/api/v1/programs/{world.program_id}", world.admin.auth
    program = (await http.get(path, headers=auth)).json()
    assert program["matching_weights"] == DEFAULT_WEIGHTS and program["capacity_mode"] == "hard"
    changed = await http.patch(path, headers=auth, json={"matching_weights": {"proximity": 0, "tier": 4}})
    assert changed.status_code == 200, changed.text
    assert changed.json()["matching_weights"] == {**DEFAULT_WEIGHTS, "proximity": 0.0, "tier": 4.0}
    again = await http.patch(path, headers=auth, json={"matching_weights": {"fairness": 1}})
    assert again.json()["matching_weights"] == {**DEFAULT_WEIGHTS, "proximity": 0.0, "tier": 4.0, "fairness": 1.0}
    for wrong, loc in (
        ({"capacity_mode": "medium"}, ["capacity_mode"]),
        ({"matching_weights": {"luck": 1}}, ["matching_weights", "luck"]),
        ({"matching_weights": {"tier": -1}}, ["matching_weights", "tier"]),
    ):
        refused = await http.patch(path, headers=auth, json=wrong)
        assert refused.status_code == 422 and refused.json()["errors"][0]["loc"] == loc, refused.text
    assert (await http.patch(path, headers=auth, json={"capacity_mode": "soft"})).json()["capacity_mode"] == "soft"


async def test_a_full_partner_is_offered_leads_in_soft_mode_only(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    auth = world.admin.auth
    full = await make_reseller(db, world, capacity=0)
    free = await make_reseller(db, world, capacity=5)

    async def offered_to() -> set[int]:
        lead_id = (await http.post("/api/v1/leads", headers=auth, json=lead_body(world.program_id))).json()["id"]
        await http.post(f"/api/v1/leads/{lead_id}/qualify", headers=auth)
        offer = await http.post(f"/api/v1/leads/{lead_id}/offer", headers=auth)
        assert offer.status_code == 200, offer.text
        if offer.json()["left_out_at_capacity"]:
            assert offer.json()["left_out_at_capacity"] == [full.org_id]
        return {item["org_id"] for item in offer.json()["offered_to"]}

    assert await offered_to() == {free.org_id}  # hard by default: the full partner is not offered more
    await http.patch(f"/api/v1/programs/{world.program_id}", headers=auth, json={"capacity_mode": "soft"})
    assert await offered_to() == {full.org_id, free.org_id}
