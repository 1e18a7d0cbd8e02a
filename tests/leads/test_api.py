"""The leads API over real HTTP: the race, scope, teasers, the gate, bad input."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
from sqlalchemy import func, select, update

from incentives.accounts import services as accounts
from incentives.accounts.roles import Role
from incentives.db import Database
from incentives.leads.models import Lead, OutboxEvent
from tests.factories import make_member, make_program, make_user
from tests.leads.helpers import make_reseller


def lead_body(program_id: int, **extra: object) -> dict[str, object]:
    return {
        "program_id": program_id,
        "company": "Müller Bäckerei GmbH",
        "contact": {"name": "Eva Müller", "email": "eva@mueller.example", "phone": "089 1234567"},
        "country": "DE",
        "postal_code": "80331",
        "city": "München",
        "industry": "Gastronomie",
        "product_line": "heat_pumps",
        "temperature": "cold",
        "estimated_value": "24000.00",
        **extra,
    }


async def _offered_lead(http: httpx.AsyncClient, auth: dict[str, str], program_id: int, **extra: object) -> int:
    created = await http.post("/api/v1/leads", headers=auth, json=lead_body(program_id, **extra))
    assert created.status_code == 201, created.text
    lead_id: int = created.json()["id"]
    assert (await http.post(f"/api/v1/leads/{lead_id}/qualify", headers=auth)).json()["status"] == "qualified"
    offer = await http.post(f"/api/v1/leads/{lead_id}/offer", headers=auth)
    assert offer.status_code == 200, offer.text
    return lead_id


async def test_two_hundred_concurrent_reservations_from_twenty_orgs_one_winner(
    db: Database, http: httpx.AsyncClient
) -> None:
    world = await make_program(db)
    async with db.transaction() as session:
        await accounts.update_program_settings(
            session, world.admin.principal, world.program_id, {"offer_wave_size": 20}
        )
    reps = [await make_reseller(db, world) for _ in range(20)]
    lead_id = await _offered_lead(http, world.admin.auth, world.program_id)
    limits = httpx.Limits(max_connections=200)
    async with httpx.AsyncClient(base_url=str(http.base_url), limits=limits, timeout=60) as burst:
        responses = await asyncio.gather(
            *[burst.post(f"/api/v1/leads/{lead_id}/reserve", headers=reps[i % 20].auth) for i in range(200)]
        )
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 1, sorted(set(statuses))
    assert set(statuses) == {200, 409}
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"already_reserved"}
    winner = next(r for r in responses if r.status_code == 200).json()
    assert winner["company"] == "Müller Bäckerei GmbH" and winner["contact"]["phone"] == "+49891234567"
    async with db.reader() as session:
        assert await session.scalar(select(func.count()).where(OutboxEvent.event_type == "lead.reserved")) == 1


async def test_teasers_hide_details_and_scope_hides_the_rest(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    a = await make_reseller(db, world)
    b = await make_reseller(db, world)
    far = await make_reseller(db, world, regions=["DE-20"])
    lead_id = await _offered_lead(http, world.admin.auth, world.program_id, notes="Geheim")
    pick = (await http.get("/api/v1/picklist", headers=a.auth)).json()
    assert pick["can_reserve"] is True and [i["lead_id"] for i in pick["items"]] == [lead_id]
    item = pick["items"][0]
    assert item["value_band"] == "10k_50k" and item["postal_prefix"] == "80"
    assert not {"company", "contact", "notes"} & set(item)
    teaser = (await http.get(f"/api/v1/leads/{lead_id}", headers=b.auth)).json()
    assert "company" not in teaser and "contact" not in teaser and "notes" not in teaser
    assert (await http.get(f"/api/v1/leads/{lead_id}", headers=far.auth)).status_code == 404
    assert (await http.get("/api/v1/picklist", headers=far.auth)).json()["items"] == []
    assert (await http.post(f"/api/v1/leads/{lead_id}/reserve", headers=far.auth)).status_code == 404

    reserved = await http.post(f"/api/v1/leads/{lead_id}/reserve", headers=a.auth)
    assert reserved.status_code == 200 and reserved.json()["notes"] == "Geheim"
    again = await http.post(f"/api/v1/leads/{lead_id}/reserve", headers=a.auth)
    assert again.status_code == 409
    # Gone for everyone else at once; details stay hidden from them.
    assert (await http.get("/api/v1/picklist", headers=b.auth)).json()["items"] == []
    assert (await http.get(f"/api/v1/leads/{lead_id}", headers=b.auth)).status_code == 404
    feedback = await http.post(f"/api/v1/leads/{lead_id}/feedback", headers=b.auth, json={"status": "contacted"})
    assert feedback.status_code == 404
    # Another program's admin sees nothing of it.
    other = await make_program(db)
    assert (await http.get(f"/api/v1/leads/{lead_id}", headers=other.admin.auth)).status_code == 404
    assert (await http.get("/api/v1/leads", headers=other.admin.auth)).json()["items"] == []
    mine = (await http.get("/api/v1/leads", headers=a.auth)).json()["items"]
    assert [lead["id"] for lead in mine] == [lead_id]
    detail = (await http.get(f"/api/v1/leads/{lead_id}", headers=world.admin.auth)).json()
    assert {o["org_id"] for o in detail["offers"]} == {a.org_id, b.org_id}
    assert "competence" in detail["offers"][0]["breakdown"]


async def test_gate_answers_feedback_required_with_the_overdue_ids(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    rep = await make_reseller(db, world)
    first = await _offered_lead(http, world.admin.auth, world.program_id)
    second = await _offered_lead(http, world.admin.auth, world.program_id, external_id="crm-2")
    assert (await http.post(f"/api/v1/leads/{first}/reserve", headers=rep.auth)).status_code == 200
    async with db.transaction() as session:  # the feedback deadline passes
        past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        await session.execute(update(Lead).where(Lead.id == first).values(feedback_due_at=past))
    blocked = await http.post(f"/api/v1/leads/{second}/reserve", headers={**rep.auth, "Accept-Language": "de"})
    assert blocked.status_code == 403
    body = blocked.json()
    assert body["code"] == "feedback_required" and body["overdue"] == [first]
    assert body["title"].startswith("Bitte geben Sie")
    pick = (await http.get("/api/v1/picklist", headers=rep.auth)).json()
    assert pick["can_reserve"] is False and pick["blocked_by"] == [first]
    assert [i["lead_id"] for i in pick["items"]] == [second]  # still shown, just not reservable
    ok = await http.post(f"/api/v1/leads/{first}/feedback", headers=rep.auth, json={"status": "meeting"})
    assert ok.status_code == 200 and ok.json()["last_feedback"] == "meeting"
    assert (await http.post(f"/api/v1/leads/{second}/reserve", headers=rep.auth)).status_code == 200


async def test_bad_input_and_invalid_transitions(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    rep = await make_reseller(db, world)
    auth = world.admin.auth
    bad = await http.post(
        "/api/v1/leads",
        headers=auth,
        json=lead_body(world.program_id, temperature="lukewarm", contact={"name": "X", "email": "nope", "phone": "12"}),
    )
    assert bad.status_code == 422
    locs = {tuple(e["loc"]) for e in bad.json()["errors"]}
    assert ("temperature",) in locs and ("contact", "email") in locs
    phone = await http.post(
        "/api/v1/leads",
        headers=auth,
        json=lead_body(world.program_id, contact={"name": "X", "email": "x@example.com", "phone": "+49 12"}),
    )
    assert phone.status_code == 422 and phone.json()["errors"][0]["loc"] == ["contact", "phone"]
    first = await http.post("/api/v1/leads", headers=auth, json=lead_body(world.program_id, external_id="crm-1"))
    dup = await http.post("/api/v1/leads", headers=auth, json=lead_body(world.program_id, external_id="crm-1"))
    assert dup.status_code == 409 and dup.json()["code"] == "duplicate" and dup.json()["id"] == first.json()["id"]
    lead_id = first.json()["id"]
    assert (await http.post(f"/api/v1/leads/{lead_id}/offer", headers=auth)).json()["code"] == "invalid_state"
    assert (await http.post(f"/api/v1/leads/{lead_id}/reserve", headers=rep.auth)).status_code == 404
    agency_org = await make_member(db, world, kind="distributor")
    dist = await make_user(db, world, agency_org, Role.DISTRIBUTOR_MANAGER)
    assert (await http.post("/api/v1/leads", headers=dist.auth, json=lead_body(world.program_id))).status_code == 422
    await http.post(f"/api/v1/leads/{lead_id}/qualify", headers=auth)
    await http.post(f"/api/v1/leads/{lead_id}/offer", headers=auth)
    await http.post(f"/api/v1/leads/{lead_id}/reserve", headers=rep.auth)
    won = await http.post(f"/api/v1/leads/{lead_id}/feedback", headers=rep.auth, json={"status": "won"})
    assert won.status_code == 422 and won.json()["errors"][0]["loc"] == ["deal_value"]
    lost = await http.post(
        f"/api/v1/leads/{lead_id}/feedback", headers=rep.auth, json={"status": "lost", "lost_reason": "Preis"}
    )
    assert lost.status_code == 200 and lost.json()["status"] == "lost"
    late = await http.post(f"/api/v1/leads/{lead_id}/feedback", headers=rep.auth, json={"status": "contacted"})
    assert late.status_code == 409 and late.json()["code"] == "invalid_state"
    assert (await http.get("/api/v1/leads?status=bogus", headers=auth)).status_code == 422
    assert (await http.get("/api/v1/leads?limit=9999", headers=auth)).status_code == 422
