"""Lead entry: the web form and the CSV import report each problem and write only good leads."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from incentives.accounts.roles import Role
from incentives.db import Database
from incentives.leads.models import Lead, LeadStatus
from tests.conftest import page_client
from tests.factories import make_member, make_org, make_program, make_user
from tests.leads.helpers import make_reseller
from tests.web.test_pages import csrf_of, login

HEADER = (
    "external_id;company;contact_name;contact_email;contact_phone;country;postal_code;city;product_line;temperature;"
    "estimated_value;required_certifications"
)
CSV = (
    HEADER
    + """
A-1;Müller GmbH;Eva Müller;eva@mueller.example;089 1234567;DE;80331;München;heat_pumps;cold;24000;
A-2;Broken AG;Max;not-an-email;;DE;80331;München;heat_pumps;cold;;
A-3;Schulz KG;Jo Schulz;jo@schulz.example;;DE;80333;München;heat_pumps;lukewarm;;
A-1;Doppelt GmbH;Doppelt;d@doppelt.example;;DE;80331;München;heat_pumps;hot;;
A-5;Wagner OHG;Ute Wagner;ute@wagner.example;+49 30 1234567;DE;10115;Berlin;heat_pumps;warm;1200,50x;installer
A-6;Fischer e.K.;Tom Fischer;tom@fischer.example;;DE;80335;München;heat_pumps;hot;8000;installer;extra
"""
)


async def test_csv_import_keeps_good_rows_and_reports_bad_ones(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    await login(http, world.admin.email)
    page = await http.get("/leads/import")
    response = await http.post(
        "/leads/import", data={"csrftoken": csrf_of(page)}, files={"file": ("leads.csv", CSV.encode(), "text/csv")}
    )
    assert response.status_code == 200
    text = response.text
    assert "2 leads imported." in text
    for line in (3, 4, 5, 6):
        assert f">{line}</td>" in text, line
    assert "Not a valid e-mail address." in text and "A lead with this external id already exists." in text
    async with db.reader() as session:
        companies = set((await session.scalars(select(Lead.company).where(Lead.program_id == world.program_id))).all())
    assert companies == {"Müller GmbH", "Fischer e.K."}


async def test_csv_without_required_columns_imports_nothing(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    await login(http, world.admin.email)
    page = await http.get("/leads/import", headers={"Accept-Language": "de"})
    response = await http.post(
        "/leads/import",
        data={"csrftoken": csrf_of(page)},
        files={"file": ("x.csv", b"name,email\nA,b@c.de\n", "text/csv")},
        headers={"Accept-Language": "de"},
    )
    assert "Die Kopfzeile" in response.text
    async with db.reader() as session:
        assert await session.scalar(select(func.count()).select_from(Lead)) == 0


async def test_the_form_validates_like_the_api_and_can_offer_at_once(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    rep = await make_reseller(db, world)
    await login(http, world.admin.email)
    page = await http.get("/leads/new")
    form = {
        "csrftoken": csrf_of(page),
        "company": "Neu GmbH",
        "contact_name": "Ann",
        "contact_email": "ann@",
        "contact_phone": "123",
        "country": "DE",
        "postal_code": "80331",
        "city": "München",
        "product_line": "heat_pumps",
        "temperature": "hot",
        "distribute": "1",
    }
    bad = await http.post("/leads/new", data=form)
    assert bad.status_code == 422 and "Not a valid e-mail address." in bad.text
    assert 'value="Neu GmbH"' in bad.text  # what was typed stays
    good = await http.post("/leads/new", data={**form, "contact_email": "ann@neu.example", "contact_phone": ""})
    assert good.status_code == 303
    async with db.reader() as session:
        lead = (await session.scalars(select(Lead).where(Lead.company == "Neu GmbH"))).one()
    assert lead.status == LeadStatus.OFFERED
    pick = (await http.get("/api/v1/picklist", headers=rep.auth)).json()
    assert [i["lead_id"] for i in pick["items"]] == [lead.id]


async def test_only_program_roles_enter_leads(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    agency = await make_user(db, world, await make_org(db, world, "agency"), Role.AGENCY)
    rep = await make_user(db, world, await make_member(db, world), Role.RESELLER_REP)
    await login(http, rep.email)
    assert (await http.get("/leads/new")).status_code == 404
    assert (await http.get("/leads/import")).status_code == 404
    async with page_client(str(http.base_url)) as client:
        await login(client, agency.email)
        assert (await client.get("/leads/new")).status_code == 200
