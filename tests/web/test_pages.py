"""Pages over real HTTP: login, CSRF, rate limit, language, sessions, error pages, scope."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select
from starlette.requests import Request
from starlette.routing import Route

from incentives.accounts.models import User
from incentives.accounts.roles import Role
from incentives.config import Settings
from incentives.db import Database
from tests.conftest import page_client, run_server
from tests.factories import PASSWORD, make_member, make_org, make_program, make_user


def csrf_of(page: httpx.Response) -> str:
    match = re.search(r'name="csrftoken" value="([^"]+)"', page.text)
    assert match, "page has no CSRF field"
    return match.group(1)


async def login(http: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    page = await http.get("/login")
    return await http.post("/login", data={"email": email, "password": password, "csrftoken": csrf_of(page)})


async def test_login_leads_to_a_dashboard_in_the_users_language(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    org = await make_member(db, world)
    rep = await make_user(db, world, org, Role.RESELLER_REP, locale="de")
    response = await login(http, rep.email)
    assert response.status_code == 303 and response.headers["location"] == "/dashboard"
    page = await http.get("/dashboard")
    assert page.status_code == 200
    assert 'lang="de"' in page.text and "Abmelden" in page.text and "Leads mit offener Rückmeldung" in page.text


async def test_login_page_follows_the_browser_language(http: httpx.AsyncClient) -> None:
    page = await http.get("/login", headers={"Accept-Language": "de-AT,de;q=0.9"})
    assert "Anmelden" in page.text and "E-Mail-Adresse" in page.text
    assert "Log in" not in page.text
    page = await http.get("/login", headers={"Accept-Language": "en-US"})
    assert "Log in" in page.text


async def test_wrong_password_and_rate_limit(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    for _ in range(5):
        response = await login(http, world.admin.email, "wrong-password")
        assert response.status_code == 400 and "E-mail address or password is wrong." in response.text
    blocked = await login(http, world.admin.email)
    assert blocked.status_code == 429 and "Too many failed attempts" in blocked.text
    empty = await http.post(
        "/login", data={"email": "", "password": "", "csrftoken": csrf_of(await http.get("/login"))}
    )
    assert empty.status_code == 400 and "Please enter your e-mail address and password." in empty.text


async def test_form_posts_without_csrf_token_are_refused(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    await http.get("/login")  # has the cookie, but the form lacks the token
    response = await http.post(
        "/login", data={"email": world.admin.email, "password": PASSWORD}, headers={"Accept-Language": "de"}
    )
    assert response.status_code == 403
    assert "Das Formular ist abgelaufen" in response.text
    async with page_client(str(http.base_url)) as fresh:  # no cookie at all
        response = await fresh.post("/login", data={"email": world.admin.email, "password": PASSWORD})
        assert response.status_code == 403


async def test_language_switch_is_remembered_for_the_user(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    await login(http, world.admin.email)
    page = await http.get("/dashboard", headers={"Accept-Language": "en"})
    assert "Log out" in page.text
    switched = await http.post("/language", data={"locale": "de", "next": "/dashboard", "csrftoken": csrf_of(page)})
    assert switched.status_code == 303
    async with db.reader() as session:
        assert await session.scalar(select(User.locale).where(User.id == world.admin.user_id)) == "de"
    page = await http.get("/dashboard", headers={"Accept-Language": "en"})  # the setting beats the browser
    assert "Abmelden" in page.text and "Programmeinstellungen" in page.text


async def test_logout_ends_the_session(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    page_after_login = await login(http, world.admin.email)
    assert page_after_login.status_code == 303
    page = await http.get("/dashboard")
    await http.post("/logout", data={"csrftoken": csrf_of(page)})
    response = await http.get("/dashboard")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


async def test_open_redirects_are_refused(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    page = await http.get("/login")
    response = await http.post(
        "/login",
        data={"email": world.admin.email, "password": PASSWORD, "next": "//evil.example/x", "csrftoken": csrf_of(page)},
    )
    assert response.headers["location"] == "/dashboard"


async def test_error_pages_are_translated(http: httpx.AsyncClient) -> None:
    page = await http.get("/no/such/page", headers={"Accept-Language": "de"})
    assert page.status_code == 404 and "Seite nicht gefunden" in page.text
    page = await http.get("/no/such/page", headers={"Accept-Language": "en"})
    assert "Page not found" in page.text
    api = await http.get("/api/v1/nothing", headers={"Accept-Language": "de"})
    assert api.status_code == 404 and api.json()["title"] == "Nicht gefunden."


@pytest.fixture
def failing_server(settings: Settings) -> Iterator[str]:
    async def boom(request: Request) -> None:
        raise RuntimeError("injected failure")

    yield from run_server(settings, extra_routes=[Route("/boom", boom)])


async def test_server_errors_show_a_translated_page(failing_server: str) -> None:
    async with page_client(failing_server) as client:
        page = await client.get("/boom", headers={"Accept-Language": "de"})
    assert page.status_code == 500 and "Etwas ist schiefgegangen" in page.text
    assert "injected failure" not in page.text


@pytest.fixture
def short_session_server(settings: Settings) -> Iterator[str]:
    yield from run_server(Settings(**{**settings.__dict__, "session_max_age": 1}))


async def test_expired_sessions_must_log_in_again(db: Database, short_session_server: str) -> None:
    world = await make_program(db)
    async with page_client(short_session_server) as client:
        await login(client, world.admin.email)
        assert (await client.get("/dashboard")).status_code == 200
        await asyncio.sleep(2.1)
        response = await client.get("/dashboard")
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/dashboard"


async def test_dashboards_show_only_what_the_role_may_see(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    distributor = await make_member(db, world, kind="distributor")
    below = await make_member(db, world, distributor_id=distributor)
    elsewhere = await make_member(db, world)
    unenrolled = await make_org(db, world, name="Nicht Mitglied GmbH")
    async with db.reader() as session:
        from incentives.accounts.models import Org

        names = {org.id: html.escape(org.name) for org in (await session.scalars(select(Org))).all()}
    manager = await make_user(db, world, distributor, Role.DISTRIBUTOR_MANAGER, locale="en")
    await login(http, manager.email)
    page = (await http.get("/dashboard")).text
    assert names[below] in page and "Your resellers" in page  # the partner home: the resellers it coaches
    assert names[elsewhere] not in page and names[unenrolled] not in page
