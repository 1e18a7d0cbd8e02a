"""The request pipeline the leads API runs through, over real HTTP: token checks and CSRF scope.

Every API request checks its bearer token in the database with one statement (no cache anywhere), so a
revoked token or a deactivated user stops working with the very next request; pages keep their CSRF check.
"""

from __future__ import annotations

import gc

import httpx
from sqlalchemy import update

from incentives.accounts.models import ApiToken, User
from incentives.accounts.roles import Role
from incentives.config import Settings
from incentives.db import Database, utcnow
from tests.conftest import run_server
from tests.factories import make_member, make_program, make_user
from tests.web.test_pages import login


async def test_a_revoked_token_or_inactive_user_is_refused_at_the_next_request(
    db: Database, http: httpx.AsyncClient
) -> None:
    world = await make_program(db)
    org = await make_member(db, world)
    rep = await make_user(db, world, org, Role.RESELLER_REP)
    other = await make_user(db, world, org, Role.RESELLER_REP)
    for actor in (rep, other):
        assert (await http.get("/api/v1/picklist", headers=actor.auth)).status_code == 200
    async with db.transaction() as session:
        await session.execute(update(ApiToken).where(ApiToken.user_id == rep.user_id).values(revoked_at=utcnow()))
        await session.execute(update(User).where(User.id == other.user_id).values(active=False))
    for actor in (rep, other):
        refused = await http.get("/api/v1/picklist", headers=actor.auth)
        assert refused.status_code == 401 and refused.json()["code"] == "unauthorized"
        assert refused.headers["WWW-Authenticate"] == "Bearer"
    assert (await http.get("/api/v1/picklist", headers={"Authorization": "Bearer inc_forged"})).status_code == 401
    assert (await http.get("/api/v1/picklist", headers={"Authorization": "Basic eDp5"})).status_code == 401


async def test_api_language_follows_accept_language_then_the_programs_default_for_every_caller(
    db: Database, http: httpx.AsyncClient
) -> None:
    world = await make_program(db)
    org = await make_member(db, world)
    german_rep = await make_user(db, world, org, Role.RESELLER_REP, locale="de")
    english_pam = await make_user(db, world, world.admin.org_id, Role.PARTNER_MANAGER, locale="en")
    callers = (german_rep, english_pam, world.admin)
    missing = "/api/v1/leads/999999"

    async def languages() -> set[str]:
        answers = [await http.get(missing, headers=caller.auth) for caller in callers]
        assert {answer.status_code for answer in answers} == {404}
        return {answer.headers["Content-Language"] for answer in answers}

    assert await languages() == {"en"}  # the program's default, whatever each user chose for the pages
    settings = await http.patch(
        f"/api/v1/programs/{world.program_id}", json={"default_locale": "de"}, headers=world.admin.auth
    )
    assert settings.status_code == 200, settings.text
    assert await languages() == {"de"}
    german = await http.get(missing, headers=english_pam.auth)
    assert german.json()["title"] == "Nicht gefunden."
    english = await http.get(missing, headers={**english_pam.auth, "Accept-Language": "en-GB"})
    assert english.headers["Content-Language"] == "en" and english.json()["title"] != german.json()["title"]
    anonymous = await http.get(missing)  # no token, no program: the site default
    assert anonymous.status_code == 401 and anonymous.headers["Content-Language"] == "en"


async def test_api_posts_need_no_csrf_token_and_get_no_csrf_cookie_while_forms_still_do(
    db: Database, http: httpx.AsyncClient
) -> None:
    world = await make_program(db)
    org = await make_member(db, world)
    rep = await make_user(db, world, org, Role.RESELLER_REP)
    await login(http, rep.email)  # the client now sends the session cookie along
    reserve = await http.post("/api/v1/leads/999999/reserve", headers=rep.auth)
    assert reserve.status_code == 404 and reserve.json()["code"] == "not_found"
    assert "csrftoken" not in reserve.headers.get("set-cookie", "")
    async with httpx.AsyncClient(base_url=str(http.base_url)) as fresh:  # no cookies at all
        bare = await fresh.post("/api/v1/leads/999999/reserve", headers=rep.auth)
    assert bare.status_code == 404 and "set-cookie" not in bare.headers
    # A page form without the token is still refused, with or without the session cookie.
    assert (await http.post("/logout", data={})).status_code == 403
    assert (await http.post("/language", data={"locale": "de", "next": "/dashboard"})).status_code == 403


def test_the_app_keeps_start_up_objects_out_of_full_collections_while_it_runs(settings: Settings) -> None:
    gc.unfreeze()  # whatever an earlier test left (nothing should)
    servers = run_server(settings)
    base = next(servers)
    try:
        assert gc.get_freeze_count() > 0
        assert httpx.get(base + "/login").status_code == 200
        assert httpx.get(base + "/api/v1/picklist").status_code == 401
    finally:
        next(servers, None)
    assert gc.get_freeze_count() == 0
