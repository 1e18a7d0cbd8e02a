"""Product lines and industries chosen from the program's own lists: set in PATCH /programs/{id} and on the
settings page; leads from the API, the web form and the CSV import must use them — but only once a list is set,
so that programs without lists keep accepting any value."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import func, select

from incentives.accounts.roles import Role
from incentives.db import Database
from incentives.leads.models import Lead
from tests.factories import make_program, make_user
from tests.leads.test_api import lead_body
from tests.leads.test_entry import HEADER
from tests.web.test_pages import csrf_of, login
from tests.web.test_settings_pages import _form

LINES = ["heat_pumps", "Photovoltaik-Großanlagen"]
INDUSTRIES = ["Gastronomie", "Handwerk"]


async def _set_lists(http: httpx.AsyncClient, world_id: int, auth: dict[str, str]) -> None:
    body = {"product_lines": LINES, "industries": INDUSTRIES}
    changed = await http.patch(f"/api/v1/programs/{world_id}", headers=auth, json=body)
    assert changed.status_code == 200, changed.text
    assert changed.json()["product_lines"] == LINES and changed.json()["industries"] == INDUSTRIES


async def _lead_count(db: Database) -> int:
    async with db.reader() as session:
        return await session.scalar(select(func.count()).select_from(Lead)) or 0


async def test_the_lists_are_settings_the_api_shows_and_checks(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    path, auth = f"/api/v1/programs/{world.program_id}", world.admin.auth
    program = (await http.get(path, headers=auth)).json()
    assert program["product_lines"] == [] and program["industries"] == []
    too_long = "x" * 81
    for wrong, loc in (
        ({"product_lines": "heat_pumps"}, ["product_lines"]),  # not a list
        ({"product_lines": [3]}, ["product_lines", 0]),
        ({"product_lines": ["heat_pumps", ""]}, ["product_lines", 1]),
        ({"product_lines": ["heat_pumps", "  "]}, ["product_lines", 1]),
        ({"product_lines": ["Solar", "solar"]}, ["product_lines"]),  # the same twice
        ({"industries": ["Handwerk", too_long]}, ["industries", 1]),
        ({"industries": None}, ["industries"]),
        ({"industries": [f"i{n}" for n in range(201)]}, ["industries"]),
    ):
        refused = await http.patch(path, headers={**auth, "Accept-Language": "en"}, json=wrong)
        assert refused.status_code == 422, (wrong, refused.text)
        assert refused.json()["errors"][0]["loc"] == loc, (wrong, refused.text)
    duplicate = await http.patch(path, headers={**auth, "Accept-Language": "de"}, json={"industries": ["A", "A"]})
    assert duplicate.json()["errors"][0]["msg"] == "Jeder Wert darf nur einmal vorkommen."
    assert (await http.get(path, headers=auth)).json()["product_lines"] == []  # nothing changed
    await _set_lists(http, world.program_id, auth)
    # The OpenAPI document the app serves describes the new fields.
    schemas = (await http.get("/api/v1/openapi.json")).json()["components"]["schemas"]
    assert {"product_lines", "industries"} <= set(schemas["ProgramOut"]["properties"])
    assert "422" in schemas["ProgramSettingsPatch"]["properties"]["product_lines"]["description"]


async def test_api_leads_use_the_lists_once_they_are_set(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    auth = {**world.admin.auth, "Accept-Language": "en"}
    # Without lists any value is accepted, as before.
    free = await http.post("/api/v1/leads", headers=auth, json=lead_body(world.program_id, product_line="anything"))
    assert free.status_code == 201, free.text
    await _set_lists(http, world.program_id, world.admin.auth)
    typo = await http.post("/api/v1/leads", headers=auth, json=lead_body(world.program_id, product_line="heat_pump"))
    assert typo.status_code == 422
    assert typo.json()["errors"] == [
        {"loc": ["product_line"], "msg": "“heat_pump” is not one of the program's product lines."}
    ]
    german = await http.post(
        "/api/v1/leads",
        headers={**world.admin.auth, "Accept-Language": "de"},
        json=lead_body(world.program_id, industry="Bäckerei"),
    )
    assert german.status_code == 422
    assert german.json()["errors"] == [{"loc": ["industry"], "msg": "„Bäckerei“ ist keine Branche des Programms."}]
    for wrong in ({"product_line": ""}, {"product_line": ["heat_pumps"]}, {"industry": 7}):
        refused = await http.post("/api/v1/leads", headers=auth, json=lead_body(world.program_id, **wrong))
        assert refused.status_code == 422, (wrong, refused.text)
    assert await _lead_count(db) == 1
    good = lead_body(world.program_id, product_line="Photovoltaik-Großanlagen", industry="Handwerk")
    created = await http.post("/api/v1/leads", headers=auth, json=good)
    assert created.status_code == 201, created.text
    # A value as a spreadsheet may write it is stored as the list spells it, so that partners match it.
    lower = lead_body(world.program_id, product_line="HEAT_PUMPS", industry="handwerk")
    spelled = await http.post("/api/v1/leads", headers=auth, json=lower)
    assert spelled.status_code == 201, spelled.text
    async with db.reader() as session:
        lead = await session.get_one(Lead, spelled.json()["id"])
    assert (lead.product_line, lead.industry) == ("heat_pumps", "Handwerk")
    no_industry = lead_body(world.program_id)
    del no_industry["industry"]  # optional, as ever
    assert (await http.post("/api/v1/leads", headers=auth, json=no_industry)).status_code == 201
    # Emptying a list accepts any value again.
    await http.patch(f"/api/v1/programs/{world.program_id}", headers=auth, json={"product_lines": []})
    again = await http.post("/api/v1/leads", headers=auth, json=lead_body(world.program_id, product_line="heat_pump"))
    assert again.status_code == 201, again.text


async def test_the_web_form_offers_the_lists_as_selects(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    manager = await make_user(db, world, world.admin.org_id, Role.PARTNER_MANAGER, locale="de")
    await login(http, manager.email)
    before = await http.get("/leads/new")
    assert 'input id="f-product_line"' in before.text and 'select id="f-product_line"' not in before.text
    await _set_lists(http, world.program_id, world.admin.auth)
    page = await http.get("/leads/new")
    product = re.search(r'<select id="f-product_line" name="product_line" required.*?</select>', page.text, re.S)
    industry = re.search(r'<select id="f-industry" name="industry".*?</select>', page.text, re.S)
    assert product is not None and industry is not None, page.text
    assert re.findall(r'<option value="([^"]+)"', product.group(0)) == LINES
    assert re.findall(r'<option value="([^"]*)"', industry.group(0)) == ["", *INDUSTRIES]
    form = {
        "csrftoken": csrf_of(page),
        "company": "Neu GmbH",
        "contact_name": "Ann",
        "contact_email": "ann@neu.example",
        "country": "DE",
        "product_line": "heat_pump",  # a tampered or outdated form
        "industry": "Handwerk",
        "temperature": "hot",
    }
    refused = await http.post("/leads/new", data=form)
    assert refused.status_code == 422
    assert "„heat_pump“ ist keine Produktlinie des Programms." in refused.text
    assert '<option value="Handwerk" selected>' in refused.text  # what was chosen stays
    assert await _lead_count(db) == 0
    saved = await http.post("/leads/new", data={**form, "product_line": "Photovoltaik-Großanlagen"})
    assert saved.status_code == 303, saved.text
    async with db.reader() as session:
        lead = (await session.scalars(select(Lead))).one()
    assert (lead.product_line, lead.industry) == ("Photovoltaik-Großanlagen", "Handwerk")


async def test_the_csv_import_refuses_values_outside_the_lists(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    await login(http, world.admin.email)
    await _set_lists(http, world.program_id, world.admin.auth)
    page = await http.get("/leads/import")
    assert "heat_pumps, Photovoltaik-Großanlagen" in page.text
    header = HEADER + ";industry"
    rows = [
        header,
        "C-1;Gut GmbH;Eva Gut;eva@gut.example;;DE;80331;München;heat_pumps;cold;;;Handwerk",
        "C-2;Tippfehler AG;Max;max@tipp.example;;DE;80331;München;heatpumps;cold;;;Handwerk",
        "C-3;Fremd KG;Jo;jo@fremd.example;;DE;80331;München;heat_pumps;warm;;;Landwirtschaft",
        "C-4;Ohne Branche;Ute;ute@ohne.example;;DE;80331;München;heat_pumps;warm;;;",
    ]
    response = await http.post(
        "/leads/import",
        data={"csrftoken": csrf_of(page)},
        files={"file": ("leads.csv", "\n".join(rows).encode(), "text/csv")},
    )
    assert response.status_code == 200
    assert "2 problems found." in response.text
    assert "“heatpumps” is not one of the program's product lines." in response.text
    assert "“Landwirtschaft” is not one of the program's industries." in response.text
    assert re.search(r">3</td><td[^>]*>product_line<", response.text), response.text[-2000:]
    assert re.search(r">4</td><td[^>]*>industry<", response.text)
    assert await _lead_count(db) == 0
    good = "\n".join(row for row in rows if not row.startswith(("C-2", "C-3")))
    imported = await http.post(
        "/leads/import",
        data={"csrftoken": csrf_of(page)},
        files={"file": ("leads.csv", good.encode(), "text/csv")},
    )
    assert "2 leads imported." in imported.text
    assert await _lead_count(db) == 2


async def test_the_settings_page_edits_the_lists(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    admin = await make_user(db, world, world.admin.org_id, Role.ADMIN, locale="de")
    await login(http, admin.email)
    page = await http.get("/settings")
    assert "Produktlinien und Branchen" in page.text
    form = _form(page) | {"product_lines": "heat_pumps\r\n\r\n  Photovoltaik-Großanlagen \r\n", "industries": ""}
    saved = await http.post("/settings", data=form)
    assert saved.status_code == 303, saved.text
    program = (await http.get(f"/api/v1/programs/{world.program_id}", headers=world.admin.auth)).json()
    assert program["product_lines"] == LINES and program["industries"] == []
    shown = await http.get("/settings")
    assert "heat_pumps\nPhotovoltaik-Großanlagen</textarea>" in shown.text
    for lines, message in (
        ("Solar\nsolar", "Jeder Wert darf nur einmal vorkommen."),
        ("Solar\n" + "x" * 81, "Darf höchstens 80 Zeichen lang sein."),
    ):
        refused = await http.post("/settings", data=_form(shown) | {"product_lines": lines})
        assert refused.status_code == 422 and message in refused.text, refused.text
        invalid = 'name="product_lines" rows="6" autocomplete="off" aria-invalid="true"'
        assert invalid in refused.text
    program = (await http.get(f"/api/v1/programs/{world.program_id}", headers=world.admin.auth)).json()
    assert program["product_lines"] == LINES
