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


async def test_csv_import_reports_every_bad_row_and_creates_nothing(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    await login(http, world.admin.email)
    page = await http.get("/leads/import")
    response = await http.post(
        "/leads/import", data={"csrftoken": csrf_of(page)}, files={"file": ("leads.csv", CSV.encode(), "text/csv")}
    )
    assert response.status_code == 200
    text = response.text
    assert "0 leads imported." in text and "Nothing was imported" in text
    for line in (3, 4, 5, 6):
        assert f">{line}</td>" in text, line
    assert "Not a valid e-mail address." in text and "A lead with this external id already exists." in text
    async with db.reader() as session:
        assert await session.scalar(select(func.count()).select_from(Lead)) == 0
    # The corrected file is imported whole.
    good = "\n".join(line for line in CSV.splitlines() if line.startswith(("external_id", "A-1;M", "A-6")))
    response = await http.post(
        "/leads/import", data={"csrftoken": csrf_of(page)}, files={"file": ("leads.csv", good.encode(), "text/csv")}
    )
    assert "2 leads imported." in response.text
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


async def test_unreadable_lines_and_nul_are_reported_by_line(db: Database, http: httpx.AsyncClient) -> None:
    """A bare CR outside quotes, a 200 KB field and a NUL: each its line; nothing is created, nothing fails."""
    world = await make_program(db)
    await login(http, world.admin.email)
    page = await http.get("/leads/import", headers={"Accept-Language": "de"})
    rows = [
        HEADER,
        "B-1;Gut GmbH;Eva Gut;eva@gut.example;;DE;80331;München;heat_pumps;cold;;",
        "B-2;Kaputt\rAG;Max;max@kaputt.example;;DE;80331;München;heat_pumps;cold;;",
        "B-3;Lang GmbH;Lang;lang@lang.example;;DE;80331;München;heat_pumps;" + "x" * 200_000 + ";;",
        "B-4;Null\x00 GmbH;Nina;nina@null.example;;DE;80331;München;heat_pumps;warm;;",
        'B-5;"Zeilen\r\numbruch GmbH";Zoe;zoe@umbruch.example;;DE;80331;München;heat_pumps;hot;;',
    ]
    response = await http.post(
        "/leads/import",
        data={"csrftoken": csrf_of(page)},
        files={"file": ("leads.csv", "\n".join(rows).encode(), "text/csv")},
        headers={"Accept-Language": "de"},
    )
    assert response.status_code == 200
    text = response.text
    assert "0 Leads importiert." in text and "3 Probleme gefunden." in text, text[-3000:]
    for line in (3, 4, 5):
        assert f">{line}</td>" in text, line
    assert ">2</td>" not in text and ">6</td>" not in text  # good rows, one with a line break within quotes
    assert "Ein Zeilenumbruch in einem Feld muss in Anführungszeichen stehen." in text
    assert "Darf keine NUL-Zeichen enthalten." in text
    async with db.reader() as session:
        assert await session.scalar(select(func.count()).select_from(Lead)) == 0
