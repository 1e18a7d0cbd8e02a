"""A second program cannot enrol an org another program registered by membership: the answer says to invite it."""

from __future__ import annotations

import httpx

from incentives.db import Database
from tests.factories import make_program


async def test_membership_for_another_programs_org_points_to_invitations(db: Database, http: httpx.AsyncClient) -> None:
    first, second = await make_program(db), await make_program(db)
    org = await http.post(
        "/api/v1/orgs", headers=first.admin.auth, json={"name": "Elektro Huber", "kind": "reseller", "country": "DE"}
    )
    assert org.status_code == 201, org.text
    body = {"program_id": second.program_id, "org_id": org.json()["id"], "tier": "gold", "regions": ["DE"]}
    refused = await http.post("/api/v1/memberships", headers=second.admin.auth, json=body)
    assert refused.status_code == 422, refused.text
    [error] = refused.json()["errors"]
    assert error["loc"] == ["org_id"] and "/api/v1/invitations" in error["msg"]
    german = await http.post("/api/v1/memberships", headers={**second.admin.auth, "Accept-Language": "de"}, json=body)
    assert "Einladung" in german.json()["errors"][0]["msg"]
