"""Hostile input over real HTTP: what no column can hold is a 404 (ids in paths) or a 422 naming the field."""

from __future__ import annotations

import json

import httpx

from incentives.db import Database
from tests.factories import make_program
from tests.leads.test_api import lead_body

BEYOND = (2**31, 2**63, 10**30)  # PostgreSQL's integer, SQLite's integer, neither
JSON = {"Content-Type": "application/json"}


def locs(response: httpx.Response) -> list[list[object]]:
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error" and response.json()["status"] == 422
    return [error["loc"] for error in response.json()["errors"]]


async def test_ids_beyond_any_row_in_a_path_are_not_found(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    for big in BEYOND:
        for method, path in (
            ("GET", f"/api/v1/leads/{big}"),
            ("POST", f"/api/v1/leads/{big}/reserve"),
            ("GET", f"/api/v1/programs/{big}"),
            ("DELETE", f"/api/v1/campaigns/{big}"),
        ):
            response = await http.request(method, path, headers=world.admin.auth)
            assert response.status_code == 404, (method, path, response.text)
            assert response.json()["code"] == "not_found"
    assert (await http.get(f"/api/v1/programs/{2**31 - 1}", headers=world.admin.auth)).status_code == 404
    assert (await http.get(f"/api/v1/programs/00{world.program_id}", headers=world.admin.auth)).status_code == 200


async def test_ids_beyond_range_in_a_query_or_body_are_invalid(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    auth = world.admin.auth
    for big in BEYOND:
        assert locs(await http.get(f"/api/v1/leads?program_id={big}", headers=auth)) == [["query", "program_id"]]
        assert locs(await http.get(f"/api/v1/leads?cursor={big}", headers=auth)) == [["query", "cursor"]]
        assert locs(await http.post("/api/v1/leads", headers=auth, json=lead_body(big))) == [["program_id"]]
        membership = {"program_id": world.program_id, "org_id": big, "tier": "gold", "regions": ["DE"]}
        assert locs(await http.post("/api/v1/memberships", headers=auth, json=membership)) == [["org_id"]]
    assert locs(await http.get("/api/v1/leads?program_id=--5", headers=auth)) == [["query", "program_id"]]


async def test_nul_characters_are_a_translated_field_error(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    de = {**world.admin.auth, "Accept-Language": "de"}
    response = await http.post(
        "/api/v1/orgs", headers=de, json={"name": "Huber\x00GmbH", "kind": "reseller", "country": "DE"}
    )
    assert locs(response) == [["name"]]
    assert response.json()["errors"][0]["msg"] == "Darf keine NUL-Zeichen enthalten."
    nested = lead_body(world.program_id, contact={"name": "Eva", "email": "eva@mueller.example", "phone": "\x00"})
    assert locs(await http.post("/api/v1/leads", headers=de, json=nested)) == [["contact", "phone"]]
    assert locs(await http.get("/api/v1/leads?status=new%00", headers=de)) == [["query", "status"]]
    # Pages: a query or a form with NUL is refused before any handler reads it.
    page = await http.get("/leaderboard?period=%00")
    assert page.status_code == 422
    form = await http.post("/login", data={"email": "a\x00@example.com", "password": "x"})
    assert form.status_code in (403, 422)  # the CSRF check may answer first; never a 500


async def test_null_for_a_setting_is_invalid_and_changes_nothing(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    path = f"/api/v1/programs/{world.program_id}"
    response = await http.patch(path, headers=world.admin.auth, json={"max_waves": None, "offer_wave_size": 2})
    assert locs(response) == [["max_waves"]]
    assert (await http.get(path, headers=world.admin.auth)).json()["offer_wave_size"] == 5


async def test_deep_nesting_huge_numbers_and_nan_are_invalid(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    auth = {**world.admin.auth, **JSON}
    deep = b'{"name": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert locs(await http.post("/api/v1/orgs", headers=auth, content=deep)) == [["body"]]
    nested: dict[str, object] = {"name": "x"}
    for _ in range(40):
        nested = {"a": nested}
    assert len(locs(await http.post("/api/v1/orgs", headers=auth, content=json.dumps(nested)))) == 1
    huge = b'{"program_id": ' + b"9" * 5000 + b"}"
    assert locs(await http.post("/api/v1/leads", headers=auth, content=huge)) == [["program_id"]]
    nan = b'{"name": "Huber", "kind": "reseller", "country": "DE", "lat": NaN}'
    assert locs(await http.post("/api/v1/orgs", headers=auth, content=nan)) == [["body"]]
    inf = b'{"name": "Huber", "kind": "reseller", "country": "DE", "lat": 1e999}'
    assert locs(await http.post("/api/v1/orgs", headers=auth, content=inf)) == [["lat"]]
