"""Lead pages over real HTTP: pick list, reserve in place, my leads, detail scope, manager list."""

from __future__ import annotations

import httpx

from incentives.accounts import services as accounts
from incentives.db import Database
from tests.conftest import page_client
from tests.factories import make_program
from tests.leads.helpers import make_lead, make_reseller
from tests.web.test_pages import csrf_of, login


async def test_pick_list_reserve_and_feedback_in_the_browser_flow(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    rep = await make_reseller(db, world)
    other = await make_reseller(db, world)
    lead = await make_lead(db, world, temperature="cold")
    taken = await make_lead(db, world)
    await login(http, rep.email)
    page = await http.get("/picklist", headers={"Accept-Language": "de"})
    assert page.status_code == 200 and "Pickliste" in page.text and "kalt" in page.text
    assert "Kunde" not in page.text and "eva" not in page.text  # no company or contact on a teaser
    fragment = await http.get("/picklist?sort=value", headers={"HX-Request": "true"})
    assert fragment.text.lstrip().startswith('<section id="picklist"')  # only the block, for the swap
    # The other partner is faster for one of them: this one learns it in place.
    async with db.transaction() as session:
        from incentives.leads import services

        await services.reserve_lead(session, other.principal, taken.id)
    token = csrf_of(page)
    late = await http.post(f"/leads/{taken.id}/reserve", data={"csrftoken": token}, headers={"HX-Request": "true"})
    assert late.status_code == 200 and "already reserved by another partner" in late.text
    won = await http.post(f"/leads/{lead.id}/reserve", data={"csrftoken": token}, headers={"HX-Request": "true"})
    assert won.headers["HX-Redirect"] == f"/leads/{lead.id}"
    double = await http.post(f"/leads/{lead.id}/reserve", data={"csrftoken": token}, headers={"HX-Request": "true"})
    assert double.headers["HX-Redirect"] == f"/leads/{lead.id}"  # a double click lands on the lead too
    detail = await http.get(f"/leads/{lead.id}")
    assert lead.company in detail.text and lead.contact_email in detail.text
    mine = await http.get("/leads/mine")
    assert lead.company in mine.text and "Send feedback" in mine.text
    bad = await http.post(
        f"/leads/{lead.id}/feedback",
        data={"csrftoken": token, "status": "won", "deal_value": "viel"},
        headers={"HX-Request": "true"},
    )
    assert "Please enter the deal value as a number." in bad.text
    ok = await http.post(
        f"/leads/{lead.id}/feedback",
        data={"csrftoken": token, "status": "won", "deal_value": "18.500,50"},
        headers={"HX-Request": "true"},
    )
    assert ok.headers["HX-Redirect"] == "/leads/mine"
    closed = await http.get("/leads/mine")
    assert "18,500.50" in closed.text


async def test_lead_pages_answer_404_outside_scope(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    rep = await make_reseller(db, world)
    far = await make_reseller(db, world, regions=["DE-20"])
    lead = await make_lead(db, world)
    await login(http, far.email)
    assert (await http.get(f"/leads/{lead.id}")).status_code == 404
    page = await http.get("/picklist")
    assert (await http.post(f"/leads/{lead.id}/reserve", data={"csrftoken": csrf_of(page)})).status_code == 404
    assert (await http.get("/leads")).status_code == 404  # the manager's list is not for partners
    async with page_client(str(http.base_url)) as manager:
        await login(manager, world.admin.email)
        assert (await manager.get("/picklist")).status_code == 404
        listing = await manager.get("/leads?status=offered")
        assert lead.company in listing.text
        detail = await manager.get(f"/leads/{lead.id}")
        assert "Why was this lead offered to these partners?" in detail.text
    assert rep.org_id != far.org_id


async def test_gate_disables_reserve_with_links_to_overdue_leads(db: Database, http: httpx.AsyncClient) -> None:
    import datetime as dt

    from sqlalchemy import update

    from incentives.leads import services
    from incentives.leads.models import Lead

    world = await make_program(db)
    async with db.transaction() as session:
        await accounts.update_program_settings(
            session, world.admin.principal, world.program_id, {"max_overdue_leads": 0}
        )
    rep = await make_reseller(db, world)
    first = await make_lead(db, world)
    await make_lead(db, world)
    async with db.transaction() as session:
        await services.reserve_lead(session, rep.principal, first.id)
    async with db.transaction() as session:
        past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
        await session.execute(update(Lead).where(Lead.id == first.id).values(feedback_due_at=past))
    await login(http, rep.email)
    page = await http.get("/picklist", headers={"Accept-Language": "de"})
    assert "Reservieren ist gesperrt" in page.text and f'href="/leads/{first.id}"' in page.text
    assert "disabled" in page.text
    # The gate names each overdue lead by its customer and due date, with its feedback form right there.
    assert first.company in page.text and "Rückmeldung überfällig seit" in page.text
    assert f'hx-post="/leads/{first.id}/feedback"' in page.text and 'name="next" value="/picklist"' in page.text
    english = await http.get("/picklist", headers={"Accept-Language": "en"})
    assert "Feedback overdue since" in english.text and "Tell us what happened with these leads" in english.text
    # Answered there in one step: back to the pick list, open again.
    answered = await http.post(
        f"/leads/{first.id}/feedback",
        data={"status": "contacted", "next": "/picklist", "csrftoken": csrf_of(page)},
        headers={"HX-Request": "true"},
    )
    assert answered.status_code == 204 and answered.headers["HX-Redirect"] == "/picklist"
    reopened = await http.get("/picklist", headers={"Accept-Language": "en"})
    assert "Reserving is paused" not in reopened.text and 'class="primary" disabled' not in reopened.text
    # A bad answer keeps the way back to the pick list.
    again = await make_lead(db, world)
    async with db.transaction() as session:
        await services.reserve_lead(session, rep.principal, again.id)
    refused = await http.post(
        f"/leads/{again.id}/feedback",
        data={"status": "bogus", "next": "/picklist", "csrftoken": csrf_of(page)},
        headers={"HX-Request": "true"},
    )
    assert 'name="next" value="/picklist"' in refused.text


async def test_a_refused_feedback_comes_back_with_what_was_typed(db: Database, http: httpx.AsyncClient) -> None:
    from incentives.leads import services

    world = await make_program(db)
    rep = await make_reseller(db, world)
    lead = await make_lead(db, world)
    async with db.transaction() as session:
        await services.reserve_lead(session, rep.principal, lead.id)
    await login(http, rep.email)
    page = await http.get("/leads/mine", headers={"Accept-Language": "de"})
    refused = await http.post(
        f"/leads/{lead.id}/feedback",
        data={"status": "won", "deal_value": "zwölf", "note": "Angebot am Montag", "csrftoken": csrf_of(page)},
        headers={"HX-Request": "true", "Accept-Language": "de"},
    )
    assert refused.status_code == 200 and 'role="alert"' in refused.text
    assert '<option value="won" selected>' in refused.text
    assert 'value="zwölf"' in refused.text and 'value="Angebot am Montag"' in refused.text
