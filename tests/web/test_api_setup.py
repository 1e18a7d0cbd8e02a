"""The program set-up API over real HTTP: happy paths, bad input, scope, idempotency."""

from __future__ import annotations

import asyncio
import json

import httpx
from sqlalchemy import func, select

from incentives.accounts.models import Membership, Org, User
from incentives.accounts.roles import Role
from incentives.db import Database
from tests.factories import make_member, make_program, make_user


async def test_an_admin_sets_up_a_partner_end_to_end(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    auth = world.admin.auth
    org = await http.post(
        "/api/v1/orgs",
        headers=auth,
        json={"name": "Huber GmbH", "kind": "reseller", "country": "de", "city": "München", "lat": 48.1},
    )
    assert org.status_code == 201, org.text
    assert org.json()["country"] == "DE"
    membership = await http.post(
        "/api/v1/memberships",
        headers=auth,
        json={
            "program_id": world.program_id,
            "org_id": org.json()["id"],
            "tier": "gold",
            "competencies": ["heat_pumps"],
            "certifications": ["installer"],
            "regions": ["DE", "de-80"],
            "capacity": 5,
        },
    )
    assert membership.status_code == 201, membership.text
    assert membership.json()["regions"] == ["DE", "DE-80"]
    user = await http.post(
        "/api/v1/users",
        headers=auth,
        json={
            "email": "Rep@Huber.example",
            "name": "Rep",
            "org_id": org.json()["id"],
            "role": "reseller_rep",
            "locale": "de",
        },
    )
    assert user.status_code == 201, user.text
    assert user.json()["email"] == "rep@huber.example"
    token = await http.post("/api/v1/tokens", headers=auth, json={"user_id": user.json()["id"]})
    assert token.status_code == 201
    rep_auth = {"Authorization": f"Bearer {token.json()['token']}"}
    assert (await http.get(f"/api/v1/programs/{world.program_id}", headers=rep_auth)).status_code == 200
    # The rep may read the program but not change it.
    patch = await http.patch(f"/api/v1/programs/{world.program_id}", headers=rep_auth, json={"max_waves": 4})
    assert patch.status_code == 403 and patch.json()["code"] == "forbidden"
    patch = await http.patch(
        f"/api/v1/programs/{world.program_id}", headers=auth, json={"max_waves": 4, "default_locale": "de"}
    )
    assert patch.status_code == 200 and patch.json()["max_waves"] == 4


async def test_errors_are_problem_json_translated_with_stable_codes(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    de = {**world.admin.auth, "Accept-Language": "de-DE,de;q=0.9"}
    response = await http.post("/api/v1/orgs", headers={**de, "Content-Type": "application/json"}, content=b"{not json")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "validation_error" and body["detail"] == "Der Inhalt ist kein gültiges JSON."

    response = await http.post(
        "/api/v1/orgs", headers=de, json={"name": 7, "kind": "emperor", "country": "Germany", "extra": 1}
    )
    body = response.json()
    assert response.status_code == 422 and body["title"] == "Die Eingabe ist ungültig."
    by_field = {tuple(e["loc"]): e["msg"] for e in body["errors"]}
    assert by_field[("name",)] == "Muss eine Zeichenkette sein."
    assert by_field[("kind",)].startswith("Muss einer dieser Werte sein")
    assert by_field[("country",)] == "Muss ein zweistelliger Ländercode wie DE sein."
    assert by_field[("extra",)] == "Unbekanntes Feld."

    response = await http.post("/api/v1/orgs", headers=world.admin.auth, json={"name": "X"})
    assert response.json()["errors"][0]["msg"] == "This field is required."
    response = await http.post(
        "/api/v1/orgs",
        headers=world.admin.auth,
        content=b"name=x",
    )
    assert response.status_code == 415
    response = await http.post("/api/v1/orgs", headers=world.admin.auth, json=[1, 2])
    assert response.status_code == 422


async def test_unknown_roles_duplicates_and_no_partial_writes(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    org = await make_member(db, world)
    bad_role = await http.post(
        "/api/v1/users",
        headers=world.admin.auth,
        json={"email": "a@example.com", "name": "A", "org_id": org, "role": "king"},
    )
    assert bad_role.status_code == 422
    bad_mail = await http.post(
        "/api/v1/users",
        headers=world.admin.auth,
        json={"email": "not-an-email", "name": "A", "org_id": org, "role": "reseller_rep"},
    )
    assert bad_mail.json()["errors"][0]["msg"] == "Not a valid e-mail address."
    first = await http.post(
        "/api/v1/users",
        headers=world.admin.auth,
        json={"email": "a@example.com", "name": "A", "org_id": org, "role": "reseller_rep"},
    )
    assert first.status_code == 201
    again = await http.post(
        "/api/v1/users",
        headers=world.admin.auth,
        json={"email": "A@EXAMPLE.com", "name": "B", "org_id": org, "role": "reseller_rep"},
    )
    assert again.status_code == 409 and again.json()["code"] == "duplicate"
    short = await http.post(
        "/api/v1/users",
        headers=world.admin.auth,
        json={"email": "b@example.com", "name": "B", "org_id": org, "role": "reseller_rep", "password": "short"},
    )
    assert short.status_code == 422
    dup_member = await http.post(
        "/api/v1/memberships",
        headers=world.admin.auth,
        json={"program_id": world.program_id, "org_id": org, "tier": "gold"},
    )
    assert dup_member.status_code == 409
    async with db.reader() as session:
        assert await session.scalar(select(func.count()).select_from(User).where(User.org_id == org)) == 1
        assert await session.scalar(select(func.count()).select_from(Membership).where(Membership.org_id == org)) == 1


async def test_authentication_and_scope(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    other = await make_program(db)
    foreign_org = await make_member(db, other)
    assert (await http.get(f"/api/v1/programs/{world.program_id}")).status_code == 401
    bad = await http.get(f"/api/v1/programs/{world.program_id}", headers={"Authorization": "Bearer inc_nope"})
    assert bad.status_code == 401 and bad.json()["code"] == "unauthorized"
    # A token of another program: everything of this program is simply not there.
    for method, path, body in [
        ("GET", f"/api/v1/programs/{world.program_id}", None),
        ("PATCH", f"/api/v1/programs/{world.program_id}", {"max_waves": 2}),
        ("GET", f"/api/v1/orgs/{world.admin.org_id}", None),
    ]:
        response = await http.request(method, path, headers=other.admin.auth, json=body)
        assert response.status_code == 404, (method, path)
        assert response.json()["code"] == "not_found"
    enrol = await http.post(
        "/api/v1/memberships",
        headers=world.admin.auth,
        json={"program_id": world.program_id, "org_id": foreign_org, "tier": "gold"},
    )
    assert enrol.status_code == 422 and enrol.json()["errors"][0]["loc"] == ["org_id"]
    token_for_foreign = await http.post(
        "/api/v1/tokens", headers=world.admin.auth, json={"user_id": other.admin.user_id}
    )
    assert token_for_foreign.status_code == 404
    rep = await make_user(db, world, await make_member(db, world), Role.RESELLER_REP)
    for path, body in [
        ("/api/v1/orgs", {"name": "X", "kind": "reseller", "country": "DE"}),
        ("/api/v1/tokens", {"user_id": world.admin.user_id}),
    ]:
        response = await http.post(path, headers=rep.auth, json=body)
        assert response.status_code in (403, 404), path
    own = await http.post("/api/v1/tokens", headers=rep.auth, json={"user_id": rep.user_id})
    assert own.status_code == 201


async def test_oversize_bodies_are_refused(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    huge = json.dumps({"name": "x" * 2_000_000, "kind": "reseller", "country": "DE"})
    response = await http.post(
        "/api/v1/orgs", headers={**world.admin.auth, "Content-Type": "application/json"}, content=huge
    )
    assert response.status_code == 413 and response.json()["code"] == "payload_too_large"

    async def chunks():  # no Content-Length: the limit is enforced while reading
        for _ in range(30):
            yield b"x" * 100_000

    response = await http.post(
        "/api/v1/orgs", headers={**world.admin.auth, "Content-Type": "application/json"}, content=chunks()
    )
    assert response.status_code == 413
    async with db.reader() as session:
        assert await session.scalar(select(func.count()).select_from(Org)) == 1


async def test_idempotency_key_replays_and_conflicts(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    headers = {**world.admin.auth, "Idempotency-Key": "org-1"}
    body = {"name": "Once GmbH", "kind": "reseller", "country": "DE"}
    first = await http.post("/api/v1/orgs", headers=headers, json=body)
    replay = await http.post("/api/v1/orgs", headers=headers, json=body)
    assert first.status_code == replay.status_code == 201
    assert first.json() == replay.json() and replay.headers["idempotent-replayed"] == "true"
    conflict = await http.post("/api/v1/orgs", headers=headers, json={**body, "name": "Other"})
    assert conflict.status_code == 409 and conflict.json()["code"] == "idempotency_conflict"
    # Errors are replayed too: the same bad request answers the same way.
    bad = {**world.admin.auth, "Idempotency-Key": "bad-1"}
    assert (await http.post("/api/v1/orgs", headers=bad, json={"kind": "x"})).status_code == 422
    assert (await http.post("/api/v1/orgs", headers=bad, json={"kind": "x"})).status_code == 422
    async with db.reader() as session:
        assert await session.scalar(select(func.count()).where(Org.name == "Once GmbH")) == 1


async def test_concurrent_requests_with_one_key_write_once(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    headers = {**world.admin.auth, "Idempotency-Key": "race"}
    body = {"name": "Race GmbH", "kind": "reseller", "country": "DE"}
    responses = await asyncio.gather(*[http.post("/api/v1/orgs", headers=headers, json=body) for _ in range(8)])
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {201, 409} and 201 in statuses
    async with db.reader() as session:
        assert await session.scalar(select(func.count()).where(Org.name == "Race GmbH")) == 1


async def test_openapi_document_describes_the_api(http: httpx.AsyncClient) -> None:
    spec = (await http.get("/api/v1/openapi.json")).json()
    assert spec["openapi"] == "3.1.0"
    post_users = spec["paths"]["/api/v1/users"]["post"]
    assert post_users["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/UserIn")
    roles = spec["components"]["schemas"]["UserIn"]["properties"]["role"]["enum"]
    assert set(roles) == {r.value for r in Role}
    assert "patch" in spec["paths"]["/api/v1/programs/{id}"]
