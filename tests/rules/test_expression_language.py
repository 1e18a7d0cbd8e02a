"""Expression errors read in the reader's language, the position and the problem alike."""

from __future__ import annotations

import httpx

from incentives.db import Database
from tests.factories import make_program


async def test_invalid_expression_is_explained_in_german_and_english(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    body = {"event": "lead.feedback", "condition": "feedback.is_first && feedback.hour > 1", "points": "10"}
    german = await http.post("/api/v1/rules/validate", json=body, headers={**world.admin.auth, "Accept-Language": "de"})
    english = await http.post("/api/v1/rules/validate", json=body, headers=world.admin.auth)
    assert german.status_code == english.status_code == 422
    assert german.json()["code"] == english.json()["code"] == "invalid_expression"
    assert (german.json()["line"], german.json()["column"]) == (1, 22)
    assert german.json()["problem"] == "unbekanntes Feld feedback.hour"
    assert "unbekanntes Feld feedback.hour" in german.json()["detail"]
    assert english.json()["problem"] == "unknown field feedback.hour"
