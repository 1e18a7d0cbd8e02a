"""Sessions end on the server: logout and deactivation stop every copy of a cookie, and a user's tokens."""

from __future__ import annotations

import httpx

from incentives.accounts.roles import Role
from incentives.db import Database
from tests.conftest import page_client
from tests.factories import make_member, make_org, make_program, make_user
from tests.web.test_pages import csrf_of, login

COOKIE = "incentives_session"


async def test_a_copied_cookie_stops_working_after_logout(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    assert (await login(http, world.admin.email)).status_code == 303
    stolen = http.cookies[COOKIE]
    dashboard = await http.get("/dashboard")
    assert dashboard.status_code == 200
    assert (await http.post("/logout", data={"csrftoken": csrf_of(dashboard)})).status_code == 303
    async with page_client(http.base_url, cookies={COOKIE: stolen}) as thief:
        page = await thief.get("/dashboard")
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
    # Logging in again works, with a new session.
    assert (await login(http, world.admin.email)).status_code == 303
    assert (await http.get("/dashboard")).status_code == 200


async def test_an_admin_deactivates_a_user_whose_sessions_and_tokens_stop(
    db: Database, http: httpx.AsyncClient
) -> None:
    world = await make_program(db)
    org = await make_member(db, world)
    rep = await make_user(db, world, org, Role.RESELLER_REP)
    async with page_client(http.base_url) as browser:
        assert (await login(browser, rep.email)).status_code == 303
        assert (await browser.get("/dashboard")).status_code == 200
        assert (await http.get("/api/v1/picklist", headers=rep.auth)).status_code == 200

        # Not by the user itself, nor by another program's admin (404), nor for oneself.
        assert (await http.post(f"/api/v1/users/{rep.user_id}/deactivate", headers=rep.auth)).status_code == 403
        other = await make_program(db)
        foreign = await http.post(f"/api/v1/users/{rep.user_id}/deactivate", headers=other.admin.auth)
        assert foreign.status_code == 404
        me = await http.post(f"/api/v1/users/{world.admin.user_id}/deactivate", headers=world.admin.auth)
        assert me.status_code == 422

        done = await http.post(f"/api/v1/users/{rep.user_id}/deactivate", headers=world.admin.auth)
        assert done.status_code == 200 and done.json() == {"id": rep.user_id, "active": False}
        assert (await browser.get("/dashboard")).status_code == 303
        assert (await http.get("/api/v1/picklist", headers=rep.auth)).status_code == 401
        assert (await login(browser, rep.email)).status_code == 400  # and no new login either


async def test_another_programs_registered_partner_is_not_deactivated(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    other = await make_program(db)
    agency = await make_user(db, world, await make_org(db, world, "agency"), Role.AGENCY)
    answer = await http.post(f"/api/v1/users/{agency.user_id}/deactivate", headers=other.admin.auth)
    assert answer.status_code == 404
    assert (await http.get(f"/api/v1/programs/{world.program_id}", headers=agency.auth)).status_code == 200


async def test_wrong_passwords_slow_the_pair_down_but_lock_nobody_out(db: Database, http: httpx.AsyncClient) -> None:
    """Five failures from one address: that address waits; the user from another address logs in at once."""
    world = await make_program(db)
    attacker = {"X-Forwarded-For": "203.0.113.7"}  # uvicorn trusts it from 127.0.0.1, as behind a proxy
    page = await http.get("/login")
    form = {"email": world.admin.email, "password": "wrong-password", "csrftoken": csrf_of(page)}
    for _ in range(5):
        assert (await http.post("/login", data=form, headers=attacker)).status_code == 400
    refused = await http.post("/login", data=form, headers={**attacker, "Accept-Language": "de"})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert "Bitte warten Sie" in refused.text
    async with page_client(http.base_url) as rightful:
        rightful.headers["X-Forwarded-For"] = "198.51.100.2"
        assert (await login(rightful, world.admin.email)).status_code == 303
