"""The points history names the rule that paid, in the reader's language (API and wallet page)."""

from __future__ import annotations

import httpx

from incentives.accounts.roles import Role
from incentives.db import Database
from incentives.leads import services as leads
from incentives.rules.defaults import install_default_rules
from incentives.rules.processor import process_events
from tests.factories import make_program, make_user
from tests.leads.helpers import T0, make_lead, make_reseller
from tests.web.test_pages import login


async def test_history_names_the_rule_in_the_readers_language(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    async with db.transaction() as session:
        await install_default_rules(session, world.program_id)
    rep = await make_reseller(db, world)
    lead = await make_lead(db, world, temperature="cold")
    async with db.transaction() as session:
        await leads.reserve_lead(session, rep.principal, lead.id, T0)
    await process_events(db)
    english = (await http.get("/api/v1/points/transfers", headers=rep.auth)).json()["items"]
    german = (await http.get("/api/v1/points/transfers", headers={**rep.auth, "Accept-Language": "de"})).json()
    assert english[0]["rule"]["name"] == "Lead reserved (cold leads count three times)"
    assert german["items"][0]["rule"]["name"] == "Lead reserviert (kalte Leads zählen dreifach)"
    manager = await make_user(db, world, rep.org_id, Role.RESELLER_MANAGER, locale="de")
    await login(http, manager.email)
    page = await http.get("/wallet")
    assert "Lead reserviert (kalte Leads zählen dreifach)" in page.text
