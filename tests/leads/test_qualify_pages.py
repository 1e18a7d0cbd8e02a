"""A manager qualifies a new lead in the web with the program's checklist, then offers it; the API records the
same checklist."""

from __future__ import annotations

import httpx

from incentives.accounts.roles import Role
from incentives.accounts.scope import Principal
from incentives.db import Database
from incentives.leads import services
from incentives.leads.models import Lead
from tests.factories import ProgramWorld, make_org, make_program, make_user
from tests.leads.helpers import make_reseller
from tests.web.test_pages import csrf_of, login


async def _new_lead(db: Database, world: ProgramWorld, by: Principal | None = None) -> int:
    data = services.LeadInput(
        program_id=world.program_id,
        company="Neu GmbH",
        contact_name="Eva Kunde",
        contact_email="eva@neu.example",
        country="DE",
        product_line="heat_pumps",
        temperature="cold",
        postal_code="80331",
    )
    async with db.transaction() as session:
        return (await services.create_lead(session, by or world.admin.principal, data)).id


async def test_a_manager_qualifies_with_the_checklist_and_offers(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    await make_reseller(db, world)
    pam = await make_user(db, world, world.admin.org_id, Role.PARTNER_MANAGER, locale="en")
    lead_id = await _new_lead(db, world)
    await login(http, pam.email)
    page = await http.get(f"/leads/{lead_id}")
    assert "Qualify this lead" in page.text and "Contact reachable" in page.text and "Budget known" in page.text
    assert "Qualify and offer" in page.text and "Offer this lead" not in page.text
    token = csrf_of(page)
    done = await http.post(
        f"/leads/{lead_id}/qualify",
        data={"csrftoken": token, "checklist": ["contact_reachable", "budget_known"]},
    )
    assert done.status_code == 303
    page = await http.get(f"/leads/{lead_id}")
    assert "Offer this lead" in page.text and "Qualify this lead" not in page.text
    assert "not confirmed: Need confirmed" in page.text and "✓</span> Budget known" in page.text
    async with db.reader() as session:
        lead = await session.get_one(Lead, lead_id)
        assert lead.status == "qualified" and lead.qualification is not None
        assert lead.qualification["checked"] == ["contact_reachable", "budget_known"]
        assert lead.qualification["by"] == pam.user_id
    offered = await http.post(f"/leads/{lead_id}/offer", data={"csrftoken": token})
    assert offered.status_code == 303
    page = await http.get(f"/leads/{lead_id}")
    assert "Offer wave 1" in page.text and "Offer this lead" not in page.text


async def test_the_german_page_and_qualify_and_offer_in_one_step(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    await make_reseller(db, world)
    pam = await make_user(db, world, world.admin.org_id, Role.PARTNER_MANAGER, locale="de")
    lead_id = await _new_lead(db, world)
    await login(http, pam.email)
    page = await http.get(f"/leads/{lead_id}")
    assert "Diesen Lead qualifizieren" in page.text and "Kontakt erreichbar" in page.text
    done = await http.post(
        f"/leads/{lead_id}/qualify", data={"csrftoken": csrf_of(page), "checklist": ["need_confirmed"], "offer": "1"}
    )
    assert done.status_code == 303
    async with db.reader() as session:
        assert (await session.get_one(Lead, lead_id)).status == "offered"


async def test_an_agency_qualifies_but_does_not_offer(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    agency = await make_user(db, world, await make_org(db, world, "agency"), Role.AGENCY, locale="en")
    lead_id = await _new_lead(db, world, agency.principal)
    await login(http, agency.email)
    page = await http.get(f"/leads/{lead_id}")
    assert page.status_code == 200
    assert "Qualify this lead" in page.text and "Qualify and offer" not in page.text
    assert (await http.post(f"/leads/{lead_id}/offer", data={"csrftoken": csrf_of(page)})).status_code == 404


async def test_the_api_records_the_checklist_and_refuses_unknown_items(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    first, second = await _new_lead(db, world), await _new_lead(db, world)
    auth = world.admin.auth
    wrong = await http.post(f"/api/v1/leads/{first}/qualify", json={"checklist": ["vibes"]}, headers=auth)
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["loc"][-1] == "checklist"
    good = await http.post(f"/api/v1/leads/{first}/qualify", json={"checklist": ["budget_known"]}, headers=auth)
    assert good.status_code == 200 and good.json()["status"] == "qualified"
    bare = await http.post(f"/api/v1/leads/{second}/qualify", headers=auth)
    assert bare.status_code == 200
    read = (await http.get(f"/api/v1/leads/{first}", headers=auth)).json()
    assert read["qualification"]["checked"] == ["budget_known"]
    assert (await http.get(f"/api/v1/leads/{second}", headers=auth)).json()["qualification"] is None
