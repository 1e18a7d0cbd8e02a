"""CSRF protection over real HTTP: pages need their own origin and the session's token, the API neither."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import func, select
from starlette.routing import Route

from incentives.config import Settings
from incentives.db import Database
from incentives.leads.models import Lead
from incentives.web.app import create_app
from incentives.web.csrf import SIGNED_LINK_PREFIXES
from tests.conftest import page_client
from tests.factories import ProgramWorld, make_program
from tests.leads.test_api import lead_body
from tests.web.test_pages import csrf_of, login

# The check runs before any handler touches the database: one backend is enough.
pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

REFUSED = "The form has expired or was sent from another site."
HX = {"HX-Request": "true"}
CSV = (
    "external_id;company;contact_name;contact_email;contact_phone;country;postal_code;city;product_line;"
    "temperature;estimated_value;required_certifications\n"
    "C-1;Müller GmbH;Eva Müller;eva@mueller.example;;DE;80331;München;heat_pumps;cold;;\n"
)


async def logged_in(db: Database, http: httpx.AsyncClient) -> tuple[ProgramWorld, str]:
    world = await make_program(db)
    assert (await login(http, world.admin.email)).status_code == 303
    return world, csrf_of(await http.get("/dashboard"))


async def switch_language(http: httpx.AsyncClient, headers: dict[str, str] | None = None) -> httpx.Response:
    return await http.post("/language", data={"locale": "de", "next": "/dashboard"}, headers=headers)


async def test_the_sessions_token_in_the_htmx_header_passes(db: Database, http: httpx.AsyncClient) -> None:
    _, token = await logged_in(db, http)
    page = await http.get("/dashboard")
    assert f'hx-headers=\'{{"x-csrftoken": "{token}"}}\'' in page.text  # what htmx sends with every request
    assert (await switch_language(http, headers={**HX, "X-CSRFToken": token})).status_code == 303


async def test_a_missing_or_wrong_token_is_refused(db: Database, http: httpx.AsyncClient) -> None:
    _, token = await logged_in(db, http)
    assert (await switch_language(http)).status_code == 403
    assert (await switch_language(http, headers={"X-CSRFToken": token[::-1]})).status_code == 403
    for wrong in (token[::-1], "ünïcode", ""):
        assert (await http.post("/language", data={"locale": "de", "csrftoken": wrong})).status_code == 403
    # The header, when sent, is the one checked: a right field does not make up for a wrong header.
    mixed = await http.post("/language", data={"locale": "de", "csrftoken": token}, headers={"X-CSRFToken": "x"})
    assert mixed.status_code == 403
    assert (await http.get("/dashboard")).headers["Content-Language"] == "en"  # nothing was switched


async def test_another_sites_request_is_refused_even_with_the_token(db: Database, http: httpx.AsyncClient) -> None:
    _, token = await logged_in(db, http)
    right = {"X-CSRFToken": token}
    for headers in (
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
    ):
        answer = await switch_language(http, headers={**right, **headers})
        assert answer.status_code == 403, headers
    async with httpx.AsyncClient(base_url=http.base_url, cookies=http.cookies) as no_origin:
        assert (await switch_language(no_origin, headers=right)).status_code == 403  # no evidence at all
        foreign = {**right, "Referer": "https://evil.example/page"}
        assert (await switch_language(no_origin, headers=foreign)).status_code == 403
        own = {**right, "Referer": f"{str(http.base_url).rstrip('/')}/dashboard"}
        assert (await switch_language(no_origin, headers=own)).status_code == 303
        for site in ("same-origin", "none"):  # a browser sending Fetch Metadata is believed about its origin
            answer = await switch_language(no_origin, headers={**right, "Sec-Fetch-Site": site})
            assert answer.status_code == 303, site


async def test_base_url_is_a_trusted_origin_as_is_the_requests_own_host(
    db: Database, http: httpx.AsyncClient, settings: Settings
) -> None:
    _, token = await logged_in(db, http)
    behind_a_proxy = {"X-CSRFToken": token, "Origin": settings.base_url}  # not the host the server sees
    assert settings.base_url not in str(http.base_url)
    assert (await switch_language(http, headers=behind_a_proxy)).status_code == 303


async def test_a_bearer_header_neither_skips_the_check_nor_logs_in_on_a_page(
    db: Database, http: httpx.AsyncClient
) -> None:
    world, token = await logged_in(db, http)
    assert (await switch_language(http, headers=world.admin.auth)).status_code == 403
    assert (await switch_language(http, headers={**world.admin.auth, "X-CSRFToken": token})).status_code == 303
    async with page_client(http.base_url) as stranger:  # no session: the token is no login on a page
        page = await stranger.get("/dashboard", headers=world.admin.auth)
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
        assert (await switch_language(stranger, headers=world.admin.auth)).status_code == 403


async def test_the_api_needs_no_csrf_token(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    async with httpx.AsyncClient(base_url=http.base_url) as client:  # no cookie, no Origin, no token
        created = await client.post("/api/v1/leads", headers=world.admin.auth, json=lead_body(world.program_id))
        assert created.status_code == 201, created.text
        cross_site = {**world.admin.auth, "Sec-Fetch-Site": "cross-site"}  # CORS, not CSRF, governs this
        assert (await client.get("/api/v1/leads", headers=cross_site)).status_code == 200
        assert "set-cookie" not in created.headers


async def test_an_upload_carries_the_token_as_a_field_or_header(db: Database, http: httpx.AsyncClient) -> None:
    world, token = await logged_in(db, http)

    async def upload(external_id: str, field: str | None = None, header: str | None = None) -> httpx.Response:
        csv = CSV.replace("C-1", external_id).encode()
        return await http.post(
            "/leads/import",
            data={"csrftoken": field} if field is not None else {},
            files={"file": ("leads.csv", csv, "text/csv")},
            headers={"X-CSRFToken": header} if header is not None else {},
        )

    refused = await upload("C-0")
    assert refused.status_code == 403 and REFUSED in refused.text
    assert (await upload("C-0", field="wrong")).status_code == 403
    as_field = await upload("C-1", field=token)  # the handler still reads the whole form after the check
    assert as_field.status_code == 200 and "1 lead imported." in as_field.text
    as_header = await upload("C-2", header=token)
    assert as_header.status_code == 200 and "1 lead imported." in as_header.text
    async with db.reader() as session:
        ids = set((await session.scalars(select(Lead.external_id).where(Lead.program_id == world.program_id))).all())
        assert ids == {"C-1", "C-2"}
        assert await session.scalar(select(func.count()).select_from(Lead)) == 2


async def test_a_refusal_is_a_translated_page_or_for_htmx_a_fragment(db: Database, http: httpx.AsyncClient) -> None:
    await logged_in(db, http)
    page = await switch_language(http, headers={"Accept-Language": "de"})
    assert page.status_code == 403 and "<html" in page.text and "Das Formular ist abgelaufen" in page.text
    fragment = await http.post("/notifications/read", headers={**HX, "X-CSRFToken": "stale"})
    assert fragment.status_code == 403 and "<html" not in fragment.text and REFUSED in fragment.text


async def test_no_page_form_lets_a_bearer_header_skip_the_check(
    db: Database, http: httpx.AsyncClient, settings: Settings
) -> None:
    """Every unsafe page route of the route table, logged in and with a valid API token but no CSRF token.
    The e-mail links (their signed token is the credential, web/csrf.py) are tested in tests/mail."""
    world, _ = await logged_in(db, http)
    forms = [
        (method, re.sub(r"\{(\w+)(:\w+)?\}", "1", route.path))
        for route in create_app(settings).routes
        if isinstance(route, Route) and not route.path.startswith(("/api/", *SIGNED_LINK_PREFIXES))
        for method in sorted((route.methods or set()) - {"GET", "HEAD"})
    ]
    assert len(forms) >= 30, forms  # every form posts to one of these
    for method, path in forms:
        for body in ({"data": {"locale": "de"}}, {"json": {"locale": "de"}}):
            response = await http.request(method, path, headers=world.admin.auth, **body)  # type: ignore[arg-type]
            assert response.status_code == 403 and REFUSED in response.text, (method, path, response.status_code)
