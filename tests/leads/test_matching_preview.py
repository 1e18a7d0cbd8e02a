"""The matching-weights preview over HTTP: who the last leads would have gone to under other weights, and that
asking changes nothing."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select, update

from incentives.accounts.models import Program
from incentives.db import Database, utcnow
from incentives.leads.models import LeadOffer
from tests.factories import make_program
from tests.leads.helpers import make_lead, make_reseller


async def test_preview_shows_who_the_last_leads_would_have_gone_to(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    async with db.transaction() as session:
        await session.execute(update(Program).where(Program.id == world.program_id).values(offer_wave_size=1))
    expert = await make_reseller(db, world, tier="gold", competencies=["heat_pumps"])
    platinum = await make_reseller(db, world, tier="platinum", competencies=[])
    leads = [await make_lead(db, world, now=utcnow()) for _ in range(3)]
    async with db.reader() as session:
        offers_before = await session.scalar(select(func.count()).select_from(LeadOffer))
    url = f"/api/v1/programs/{world.program_id}/matching-preview"
    same = await http.post(url, headers=world.admin.auth, json={"matching_weights": {}})
    assert same.status_code == 200, same.text
    assert same.json()["changed"] == 0
    items = same.json()["items"]
    assert [item["lead_id"] for item in items] == [lead.id for lead in reversed(leads)]
    assert all(item["offered"] == item["would_offer"] for item in items)
    # The first lead went to the expert; later ones rotate (fairness) - whatever was sent, tier alone picks platinum.
    assert items[-1]["offered"] == [expert.org_id]
    by_tier = await http.post(
        url,
        headers=world.admin.auth,
        json={
            "matching_weights": {
                "competence": 0,
                "tier": 10,
                "conversion": 0,
                "proximity": 0,
                "capacity": 0,
                "fairness": 0,
            }
        },
    )
    assert by_tier.status_code == 200, by_tier.text
    assert all(item["would_offer"] == [platinum.org_id] for item in by_tier.json()["items"])
    assert (
        by_tier.json()["changed"] == sum(item["offered"] != [platinum.org_id] for item in by_tier.json()["items"]) >= 1
    )
    async with db.reader() as session:
        assert await session.scalar(select(func.count()).select_from(LeadOffer)) == offers_before
        weights = await session.scalar(select(Program.matching_weights).where(Program.id == world.program_id))
    assert not weights  # the preview saved nothing


async def test_preview_is_for_the_programs_managers_only(db: Database, http: httpx.AsyncClient) -> None:
    world, other = await make_program(db), await make_program(db)
    rep = await make_reseller(db, world)
    url = f"/api/v1/programs/{world.program_id}/matching-preview"
    body = {"matching_weights": {"tier": 5}}
    assert (await http.post(url, headers=rep.auth, json=body)).status_code == 404
    assert (await http.post(url, headers=other.admin.auth, json=body)).status_code == 404
    bad = await http.post(url, headers=world.admin.auth, json={"matching_weights": {"tier": -1}})
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"][:2] == ["matching_weights", "tier"]
    empty = await http.post(url, headers=world.admin.auth, json=body)
    assert empty.status_code == 200 and empty.json() == {"items": [], "changed": 0}
