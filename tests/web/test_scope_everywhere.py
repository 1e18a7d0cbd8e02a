"""Scope over the whole route table: for every route that takes an id, a user of another program, in every role,
gets the same answer for an object of the demo program as for an id that exists nowhere — no existence oracle —
and never a success. Routes are read from the app itself, so a route added later is covered without a line here.
"""

from __future__ import annotations

import re

import httpx
import pytest
from starlette.routing import Route

from incentives.accounts import services as accounts
from incentives.accounts.models import Program, User
from incentives.accounts.roles import Role
from incentives.accounts.scope import Principal
from incentives.db import Database
from incentives.demo import PASSWORD as DEMO_PASSWORD
from incentives.demo import create_demo
from incentives.web.app import create_app
from tests.conftest import page_client
from tests.factories import PASSWORD, Actor, make_member, make_org, make_program, make_user

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

ID = re.compile(r"\{(\w+):id\}")
NOWHERE = 2_000_000_000


def id_routes() -> list[tuple[str, str]]:
    """(method, path) of every route with an id in its path."""
    found = []
    for route in create_app().routes:
        if isinstance(route, Route) and ID.search(route.path):
            found += [(method, route.path) for method in sorted(route.methods or ()) if method != "HEAD"]
    return found


async def outsiders(db: Database) -> list[Actor]:
    """A second program with a user in every role."""
    world = await make_program(db, "Fremdprogramm")
    reseller = await make_member(db, world)
    distributor = await make_org(db, world, "distributor")
    agency = await make_org(db, world, "agency")
    return [
        world.admin,
        await make_user(db, world, world.admin.org_id, Role.PARTNER_MANAGER),
        await make_user(db, world, agency, Role.AGENCY),
        await make_user(db, world, distributor, Role.DISTRIBUTOR_MANAGER),
        await make_user(db, world, reseller, Role.RESELLER_MANAGER),
        await make_user(db, world, reseller, Role.RESELLER_REP),
    ]


async def logged_in(server: str, actor: Actor, password: str = PASSWORD) -> httpx.AsyncClient:
    client = page_client(server, timeout=30, follow_redirects=False)
    page = await client.get("/login")
    csrf = page.text.split('name="csrftoken" value="')[1].split('"')[0]
    await client.post("/login", data={"email": actor.email, "password": password, "csrftoken": csrf})
    client.headers["X-CSRFToken"] = csrf
    return client


async def ask(client: httpx.AsyncClient, method: str, path: str, actor: Actor) -> int:
    if path.startswith("/api/"):
        headers = actor.auth
        body = {"json": {}} if method != "GET" else {}
    else:
        headers = {}
        body = {"data": {"csrftoken": client.headers["X-CSRFToken"]}} if method != "GET" else {}
    response = await client.request(method, path, headers=headers, **body)  # type: ignore[arg-type]
    return response.status_code


async def test_no_route_tells_another_program_whether_an_object_exists(db: Database, server: str) -> None:
    await create_demo(db)  # first in this database: every table's first row belongs to the demo program
    async with db.reader() as session:
        demo_program = await session.scalar(Program.__table__.select().with_only_columns(Program.id))
        demo_admin = await session.scalar(
            User.__table__.select().with_only_columns(User.id).where(User.role == "admin")
        )
    assert demo_program == 1 and demo_admin is not None
    actors = await outsiders(db)
    routes = id_routes()
    assert len(routes) > 40, routes  # the table is read, not empty

    leaks = []
    for actor in actors:
        client = await logged_in(server, actor)
        try:
            for method, path in routes:
                existing = await ask(client, method, ID.sub("1", path), actor)
                nowhere = await ask(client, method, ID.sub(str(NOWHERE), path), actor)
                if existing != nowhere or 200 <= existing < 300:
                    leaks.append(f"{actor.principal.role} {method} {path}: {existing} vs {nowhere}")
        finally:
            await client.aclose()
    assert leaks == []

    # The comparison can tell: the demo's own admin sees its objects where the id exists and not elsewhere.
    async with db.transaction() as session:
        admin = Principal.of(await session.get_one(User, demo_admin))
        token = await accounts.create_token(session, admin, user_id=admin.user_id)
    insider = Actor(admin.user_id, admin.org_id, "admin@helios.example", token, admin)
    client = await logged_in(server, insider, DEMO_PASSWORD)
    try:
        seen = set()
        for method, path in routes:
            if method == "GET":
                existing = await ask(client, method, ID.sub("1", path), insider)
                nowhere = await ask(client, method, ID.sub(str(NOWHERE), path), insider)
                if existing == 200 and nowhere == 404:
                    seen.add(path)
    finally:
        await client.aclose()
    assert {
        "/api/v1/leads/{id:id}",
        "/api/v1/rules/{id:id}/versions",
        "/api/v1/redemptions/{id:id}",
        "/leads/{id:id}",
    } <= seen
