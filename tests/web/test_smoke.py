from __future__ import annotations

import httpx

from incentives.db import Database
from tests.factories import make_program


async def test_openapi_and_program(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    response = await http.get(f"/api/v1/programs/{world.program_id}", headers=world.admin.auth)
    assert response.status_code == 200, response.text
    assert response.json()["escalation_hours"] == 12
    spec = (await http.get("/api/v1/openapi.json")).json()
    assert "/api/v1/orgs" in spec["paths"]
