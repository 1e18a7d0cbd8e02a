"""The managers' leads list over real HTTP: search, filters, sorting and pages, full page and htmx fragment."""

from __future__ import annotations

import re

import httpx

from incentives.accounts.roles import Role
from incentives.db import Database
from incentives.leads import services
from tests.factories import ProgramWorld, make_program, make_user
from tests.leads.helpers import make_reseller
from tests.web.test_pages import login

HX = {"HX-Request": "true"}


async def _lead(db: Database, world: ProgramWorld, company: str, **fields: str) -> int:
    data = services.LeadInput(
        program_id=world.program_id,
        company=company,
        contact_name="Eva Kunde",
        contact_email="eva@kunde.example",
        country="DE",
        product_line=fields.get("product_line", "heat_pumps"),
        temperature="warm",
        postal_code=fields.get("postal_code", "80331"),
        city=fields.get("city", "München"),
        external_id=fields.get("external_id"),
    )
    async with db.transaction() as session:
        return (await services.create_lead(session, world.admin.principal, data)).id


def _ids(text: str) -> list[int]:
    return [int(n) for n in re.findall(r'<td data-label="#"><a href="/leads/(\d+)">', text)]


async def test_search_filter_sort_and_page(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    rep = await make_reseller(db, world)
    pam = await make_user(db, world, world.admin.org_id, Role.PARTNER_MANAGER, locale="en")
    acme = await _lead(db, world, "Acme Kältetechnik", city="Augsburg", postal_code="86150", external_id="CRM-7")
    solar = await _lead(db, world, "Zeta Solar", product_line="solar")
    others = [await _lead(db, world, f"Kunde {n:02d} GmbH") for n in range(30)]
    async with db.transaction() as session:
        await services.qualify_lead(session, world.admin.principal, solar)
        await services.offer_lead(session, world.admin.principal, solar)
    async with db.transaction() as session:
        await services.reserve_lead(session, rep.principal, solar)
    await login(http, pam.email)
    page = await http.get("/leads")
    assert "32 leads" in page.text and "Page 1 of 2" in page.text and len(_ids(page.text)) == 25
    assert _ids(page.text)[0] == others[-1]  # newest first
    second = await http.get("/leads?page=2", headers=HX)
    assert "<html" not in second.text and len(_ids(second.text)) == 7 and "Page 2 of 2" in second.text
    for term in ("acme", "AUGSBURG", "8615", "crm-7"):
        assert _ids((await http.get("/leads", params={"q": term}, headers=HX)).text) == [acme], term
    assert _ids((await http.get("/leads?q=100%25", headers=HX)).text) == []  # % is no wildcard
    assert "No lead matches." in (await http.get("/leads?q=nobody", headers=HX)).text
    assert _ids((await http.get("/leads?product_line=solar", headers=HX)).text) == [solar]
    assert _ids((await http.get(f"/leads?partner={rep.org_id}", headers=HX)).text) == [solar]
    assert _ids((await http.get("/leads?wave=1", headers=HX)).text) == [solar]
    assert _ids((await http.get("/leads?status=reserved", headers=HX)).text) == [solar]
    by_company = _ids((await http.get("/leads?sort=company", headers=HX)).text)
    assert by_company[0] == acme and by_company[1] == others[0]
    # The pages keep the filters: the link to page 2 carries the search.
    many = await http.get("/leads?q=kunde")
    assert "30 leads" in many.text and 'href="/leads?q=kunde&amp;page=2"' in many.text
    assert (await http.get("/leads?page=99&wave=abc", headers=HX)).status_code == 200


async def test_the_german_list(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    pam = await make_user(db, world, world.admin.org_id, Role.PARTNER_MANAGER, locale="de")
    await _lead(db, world, "Acme Kältetechnik")
    await login(http, pam.email)
    page = await http.get("/leads")
    assert "1 Lead" in page.text and "Firma, Ort, Postleitzahl oder externe ID" in page.text
    assert "neueste zuerst" in page.text and "Kein Lead passt." in (await http.get("/leads?q=xyz")).text
