"""The partner home over real HTTP: a rep and a reseller manager see their own, a distributor manager its
resellers (and each one's home, read only), a program role its existing dashboard; other orgs answer 404."""

from __future__ import annotations

import datetime as dt

import httpx

from incentives.accounts import services as accounts
from incentives.accounts.roles import Role
from incentives.db import Database, utcnow
from incentives.engagement.defaults import install_default_achievements
from incentives.leads import services as lead_services
from incentives.rules.campaigns import CampaignInput, Segment, create_campaign
from tests.conftest import page_client
from tests.factories import make_member, make_org, make_program, make_user
from tests.leads.helpers import make_lead, make_reseller
from tests.rewards.helpers import give_points
from tests.rules import add_test_rule
from tests.web.test_pages import login


async def test_each_role_gets_its_home_and_other_orgs_answer_404(db: Database, server: str) -> None:
    world = await make_program(db)
    distributor = await make_member(db, world, kind="distributor")
    coached = await make_member(db, world, tier="gold", distributor_id=distributor)
    unrelated = await make_member(db, world, tier="silver")
    outsider_org = await make_org(db, world)  # in no program
    async with db.transaction() as session:
        await accounts.update_program_settings(
            session,
            world.admin.principal,
            world.program_id,
            {
                "levels": [
                    {"key": "start", "name": {"de": "Start", "en": "Starter"}, "threshold": 0},
                    {"key": "pro", "name": {"de": "Profi", "en": "Pro"}, "threshold": 1000},
                ]
            },
        )
    rep = await make_user(db, world, coached, Role.RESELLER_REP, locale="en")
    manager = await make_user(db, world, coached, Role.RESELLER_MANAGER, locale="de")
    coach = await make_user(db, world, distributor, Role.DISTRIBUTOR_MANAGER, locale="en")
    stranger = await make_user(db, world, unrelated, Role.RESELLER_REP, locale="en")
    outsider = await make_user(db, world, outsider_org, Role.RESELLER_REP, locale="en")
    await give_points(db, world.program_id, coached, 760)
    await add_test_rule(db, world.program_id, event="lead.feedback", points="15")
    now = utcnow()
    async with db.transaction() as session:
        await create_campaign(
            session,
            world.admin.principal,
            CampaignInput(
                program_id=world.program_id,
                name_de="Wärmepumpen-Wochen",
                name_en="Heat pump weeks",
                starts_at=now - dt.timedelta(days=1),
                ends_at=now + dt.timedelta(days=6),
                segment=Segment(tiers=("gold",)),
                multiplier=2.0,
            ),
        )
    lead = await make_lead(db, world, now=now)
    async with db.transaction() as session:
        await lead_services.reserve_lead(session, rep.principal, lead.id, now)

    async with page_client(server) as http:
        await login(http, rep.email)
        page = await http.get("/dashboard")
        assert page.status_code == 200, page.text
        text = page.text
        assert "760" in text and "points available" in text
        assert 'Level: <span class="level-name">Starter</span>' in text and "240 points to Pro" in text
        assert 'progress max="100" value="76"' in text
        assert "#1 of" in text and "in the Gold league" in text
        assert lead.company in text and f'id="feedback-{lead.id}"' in text and "+30 points" in text  # 15 × 2
        assert "Heat pump weeks" in text and "points × 2" in text
        assert "No points expire in the next 90 days." in text
        assert (await http.get(f"/dashboard?org_id={unrelated}")).status_code == 404
        assert (await http.get("/dashboard?program_id=999999")).status_code == 404
        assert (await http.get(f"/dashboard?org_id={coached}")).status_code == 200

    async with page_client(server) as http:
        await login(http, manager.email)
        page = await http.get("/dashboard")
        assert page.status_code == 200
        assert "240 Punkte bis Profi" in page.text and f'id="feedback-{lead.id}"' in page.text

    async with page_client(server) as http:
        await login(http, coach.email)
        table = await http.get("/dashboard")
        assert table.status_code == 200
        assert "Your resellers" in table.text and f"org_id={coached}" in table.text
        assert f"org_id={unrelated}" not in table.text
        assert "240 points to Pro" in table.text and "1 overdue" not in table.text
        one = await http.get(f"/dashboard?org_id={coached}")
        assert one.status_code == 200 and "All resellers" in one.text and lead.company in one.text
        assert f'id="feedback-{lead.id}"' not in one.text  # a coach sees, the reseller answers
        assert (await http.get(f"/dashboard?org_id={unrelated}")).status_code == 404
        assert (await http.get(f"/dashboard?org_id={outsider_org}")).status_code == 404

    async with page_client(server) as http:
        await login(http, stranger.email)
        page = await http.get("/dashboard")
        assert page.status_code == 200 and lead.company not in page.text and "Heat pump weeks" not in page.text
        assert (await http.get(f"/dashboard?org_id={coached}")).status_code == 404

    async with page_client(server) as http:
        await login(http, outsider.email)
        page = await http.get("/dashboard")
        assert page.status_code == 200 and "not a member of a partner program yet" in page.text

    async with page_client(server) as http:
        await login(http, world.admin.email)
        page = await http.get("/dashboard")
        assert page.status_code == 200 and "Program settings" in page.text and "points available" not in page.text


async def test_the_home_shows_streaks_and_the_next_achievements(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    async with db.transaction() as session:
        await install_default_achievements(session, world.program_id)
    rep = await make_reseller(db, world)
    assert (await login(http, rep.email)).status_code in (200, 303)
    page = await http.get("/dashboard", headers={"Accept-Language": "de"})
    assert page.status_code == 200
    assert "Serien" in page.text and "0 Wochen in Folge" in page.text
    assert "Nächste Abzeichen" in page.text and "<progress" in page.text
