"""The KPI dashboard over real HTTP: each role sees its scope's page, fragments and CSV; others answer 404."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import httpx

from incentives.accounts.roles import Role
from incentives.db import Database, utcnow
from incentives.leads import services as leads
from tests.conftest import page_client
from tests.factories import make_member, make_program, make_user
from tests.leads.helpers import make_lead, make_reseller
from tests.rewards.helpers import give_points
from tests.web.test_pages import login

SECTIONS = ("tiles", "series", "funnel", "scorecards", "campaigns", "liability")
H = dt.timedelta(hours=1)


async def _world(db: Database) -> dict[str, object]:
    world = await make_program(db)
    distributor = await make_member(db, world, kind="distributor")
    coached = await make_reseller(db, world)  # a rep of a reseller below nobody yet
    other = await make_reseller(db, world, tier="silver")
    start = utcnow() - 72 * H
    lead = await make_lead(db, world, now=start)
    async with db.transaction() as session:
        await leads.reserve_lead(session, coached.principal, lead.id, now=start + 2 * H)
    async with db.transaction() as session:
        await leads.give_feedback(
            session, coached.principal, lead.id, status="won", deal_value=Decimal("5000"), now=start + 20 * H
        )
    await give_points(db, world.program_id, coached.org_id, 300)
    return {"world": world, "distributor": distributor, "coached": coached, "other": other}


async def test_a_partner_manager_sees_every_section_and_downloads_csv(db: Database, server: str) -> None:
    found = await _world(db)
    world = found["world"]
    pam = await make_user(db, world, world.admin.org_id, Role.PARTNER_MANAGER, locale="en")  # type: ignore[attr-defined]
    async with page_client(server, timeout=30) as http:
        await login(http, pam.email)
        page = await http.get("/kpis")
        assert page.status_code == 200
        assert 'hx-get="/kpis/tiles?' in page.text and "chart-4.6.1.umd.min" in page.text
        for name in (*SECTIONS, "unclaimed"):
            fragment = await http.get(f"/kpis/{name}", headers={"HX-Request": "true"})
            assert fragment.status_code == 200, name
            assert "<html" not in fragment.text
        tiles = (await http.get("/kpis/tiles")).text
        assert "100%" in tiles  # CR: one reserved lead, won
        cards = await http.get("/kpis/scorecards.csv")
        assert cards.status_code == 200 and cards.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(cards.text.lstrip("\ufeff"))))
        assert rows[0][0] == "Name" and len(rows) == 3  # header and the two resellers
        coached_row = next(row for row in rows if row[rows[0].index("Won")] == "1")
        assert coached_row[rows[0].index("CR conversion rate")] == "1.0"
        searched = await http.get("/kpis/scorecards.csv", params={"q": "zzz-nobody"})
        assert len(list(csv.reader(io.StringIO(searched.text.lstrip("\ufeff"))))) == 1
        assert (await http.get("/kpis", params={"from": "2026-03-10", "to": "2026-03-01"})).status_code == 422
        assert (await http.get("/kpis", params={"from": "2020-01-01", "to": "2026-03-01"})).status_code == 422


async def test_partners_see_their_own_scope_and_nothing_else(db: Database, server: str) -> None:
    found = await _world(db)
    world, coached, other = found["world"], found["coached"], found["other"]
    manager = await make_user(db, world, coached.org_id, Role.RESELLER_MANAGER, locale="de")  # type: ignore[arg-type, attr-defined]
    rep = await make_user(db, world, coached.org_id, Role.RESELLER_REP)  # type: ignore[arg-type, attr-defined]
    async with page_client(server, timeout=30) as http:
        await login(http, manager.email)
        page = await http.get("/kpis")
        assert page.status_code == 200 and "Schlüsselzahlen" in page.text
        cards = await http.get("/kpis/scorecards.csv")
        names = [row[0] for row in csv.reader(io.StringIO(cards.text.lstrip("\ufeff")))][1:]
        assert len(names) == 3  # the reseller's users: the first rep, the manager, the second rep
        ok = await http.get("/kpis/tiles", params={"scope": f"rep:{coached.user_id}"})  # type: ignore[attr-defined]
        assert ok.status_code == 200
        for scope in (f"partner:{other.org_id}", "program", "tier:gold", f"rep:{other.user_id}"):  # type: ignore[attr-defined]
            assert (await http.get("/kpis/tiles", params={"scope": scope})).status_code == 404, scope
    async with page_client(server, timeout=30) as http:
        await login(http, rep.email)
        assert (await http.get("/kpis")).status_code == 404


async def test_a_distributor_sees_its_resellers_only(db: Database, server: str) -> None:
    world = await make_program(db)
    distributor = await make_member(db, world, kind="distributor")
    below = await make_member(db, world, distributor_id=distributor)
    elsewhere = await make_member(db, world)
    coach = await make_user(db, world, distributor, Role.DISTRIBUTOR_MANAGER, locale="en")
    async with page_client(server, timeout=30) as http:
        await login(http, coach.email)
        assert (await http.get("/kpis")).status_code == 200
        cards = await http.get("/kpis/scorecards.csv")
        assert len(list(csv.reader(io.StringIO(cards.text.lstrip("\ufeff"))))) == 2
        assert (await http.get("/kpis/tiles", params={"scope": f"partner:{below}"})).status_code == 200
        for scope in (f"partner:{elsewhere}", "program", f"distributor:{elsewhere}"):
            assert (await http.get("/kpis/funnel", params={"scope": scope})).status_code == 404, scope


async def test_api_kpis_answers_per_role(db: Database, server: str) -> None:
    found = await _world(db)
    world, coached, other = found["world"], found["coached"], found["other"]
    admin = world.admin  # type: ignore[attr-defined]
    today = utcnow().date()
    period = {"from": (today - dt.timedelta(days=7)).isoformat(), "to": today.isoformat()}
    async with httpx.AsyncClient(base_url=server, timeout=30) as api:
        answer = await api.get("/api/v1/kpis", params=period, headers=admin.auth)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["reserved"], body["won"], body["lost"], body["cr"]) == (1, 1, 0, 1.0)
        assert body["ads"] == {"amount": "5000.00", "currency": "EUR"}
        assert body["adt_days"] is not None and body["feedback_rate"] == 1.0
        own = await api.get("/api/v1/kpis", params={**period, "org_id": str(coached.org_id)}, headers=coached.auth)  # type: ignore[attr-defined]
        assert own.status_code == 200 and own.json()["won"] == 1
        foreign = await api.get("/api/v1/kpis", params={**period, "org_id": str(other.org_id)}, headers=coached.auth)  # type: ignore[attr-defined]
        assert foreign.status_code == 404 and foreign.json()["code"] == "not_found"
        empty = await api.get("/api/v1/kpis", params={**period, "org_id": str(other.org_id)}, headers=admin.auth)
        assert empty.json()["cr"] is None and empty.json()["ttp_hours"] is None and empty.json()["reserved"] == 0
        reversed_ = await api.get("/api/v1/kpis", params={"from": "2026-03-02", "to": "2026-03-01"}, headers=admin.auth)
        assert reversed_.status_code == 422 and reversed_.json()["errors"][0]["loc"] == ["query", "from"]
        too_long = await api.get("/api/v1/kpis", params={"from": "2020-01-01", "to": "2026-03-01"}, headers=admin.auth)
        assert too_long.status_code == 422
        missing = await api.get("/api/v1/kpis", params={"from": "2026-03-01"}, headers=admin.auth)
        assert missing.status_code == 422 and missing.json()["errors"][0]["loc"] == ["query", "to"]
        other_program = await make_program(db)
        elsewhere = await api.get(
            "/api/v1/kpis",
            params={**period, "program_id": str(world.program_id)},
            headers=other_program.admin.auth,  # type: ignore[attr-defined]
        )
        assert elsewhere.status_code == 404
