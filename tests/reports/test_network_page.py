"""The distributor's network page over real HTTP: its resellers with points, open and overdue leads, KPIs and
reserved leads as teasers; every other role, other distributors' resellers and other programs answer 404."""

from __future__ import annotations

import datetime as dt

from incentives.accounts.roles import Role
from incentives.db import Database, utcnow
from incentives.invitations import services as invitations
from incentives.leads import services as lead_services
from incentives.reports.network import month_start
from tests.conftest import page_client
from tests.factories import make_member, make_program, make_user
from tests.leads.helpers import make_lead
from tests.rewards.helpers import give_points
from tests.web.test_pages import login

EN = {"Accept-Language": "en"}
DE = {"Accept-Language": "de"}


def _row(text: str, org_id: int) -> str:
    return text.split(f'id="reseller-{org_id}"')[1].split("</tr>")[0]


async def test_a_distributor_sees_its_resellers_and_nobody_else_sees_them(db: Database, server: str) -> None:
    world = await make_program(db)
    distributor = await make_member(db, world, kind="distributor")
    other_distributor = await make_member(db, world, kind="distributor")
    coached = await make_member(db, world, tier="gold", distributor_id=distributor)
    idle = await make_member(db, world, tier="silver", distributor_id=distributor)
    foreign = await make_member(db, world, tier="gold", distributor_id=other_distributor)
    other_program = await make_program(db)
    rep = await make_user(db, world, coached, Role.RESELLER_REP)
    coach = await make_user(db, world, distributor, Role.DISTRIBUTOR_MANAGER, locale="en")
    german_coach = await make_user(db, world, distributor, Role.DISTRIBUTOR_MANAGER, locale="de")
    other_coach = await make_user(db, world, other_distributor, Role.DISTRIBUTOR_MANAGER)
    reseller_manager = await make_user(db, world, coached, Role.RESELLER_MANAGER)
    await give_points(db, world.program_id, coached, 760)
    await give_points(db, world.program_id, foreign, 333)

    now = utcnow()
    reserved_at = now - dt.timedelta(hours=50)  # feedback was due 48 h later: overdue by now
    late = await make_lead(db, world, now=reserved_at - dt.timedelta(hours=1), temperature="cold")
    answered = await make_lead(db, world, now=reserved_at - dt.timedelta(hours=1))
    for lead in (late, answered):
        async with db.transaction() as session:
            await lead_services.reserve_lead(session, rep.principal, lead.id, reserved_at)
    async with db.transaction() as session:
        await lead_services.give_feedback(
            session, rep.principal, answered.id, status="contacted", now=now - dt.timedelta(hours=1)
        )

    async with page_client(server) as http:
        await login(http, coach.email)
        page = await http.get("/network", headers=EN)
        assert page.status_code == 200, page.text
        text = page.text
        assert 'href="/network"' in text  # the nav entry
        assert f'id="reseller-{coached}"' in text and f'id="reseller-{idle}"' in text
        assert f'id="reseller-{foreign}"' not in text and "333" not in text
        row = _row(text, coached)
        this_month = 2 if reserved_at >= month_start(now) else 0
        assert 'class="num k-available">760<' in row and 'class="num k-earned">760<' in row
        assert 'class="num k-open">2<' in row and '<span class="due-overdue">1</span>' in row
        assert f'class="num k-reserved">{this_month}<' in row
        assert 'class="num k-available">0<' in _row(text, idle) and 'class="num k-open">0<' in _row(text, idle)
        assert 'tabindex="0" role="region" aria-label="Resellers with points, leads and KPIs"' in text
        # Teasers: what the pick list shows, never the customer.
        assert f'id="teaser-{late.id}"' in text and f'id="teaser-{answered.id}"' in text
        assert "cold" in text and "DE-80" in text and "contacted" in text and "feedback overdue since" in text
        for secret in (late.company, late.contact_email, late.contact_name, "Ruft nur vormittags"):
            assert secret not in text
        one = await http.get(f"/network?org_id={coached}", headers=EN)
        assert one.status_code == 200 and f'id="reseller-{idle}"' not in one.text and "All resellers" in one.text
        for bad in (f"org_id={foreign}", f"org_id={other_distributor}", "org_id=abc", "org_id=999999"):
            assert (await http.get(f"/network?{bad}")).status_code == 404, bad
        assert (await http.get(f"/network?program_id={other_program.program_id}")).status_code == 404

    async with page_client(server) as http:
        await login(http, german_coach.email)
        german = await http.get("/network", headers=DE)
        assert german.status_code == 200 and 'lang="de"' in german.text
        assert "Ihr Netzwerk" in german.text and "Diesen Monat verdient" in german.text
        assert "Reservierte Leads von" in german.text and "Rückmeldung überfällig seit" in german.text
        for english in ("Your network", "Earned this month", "Reserved leads of", "no feedback yet", "overdue since"):
            assert english not in german.text

    async with page_client(server) as http:
        await login(http, other_coach.email)
        page = await http.get("/network", headers=EN)
        assert page.status_code == 200 and f'id="reseller-{foreign}"' in page.text
        assert f'id="reseller-{coached}"' not in page.text and late.company not in page.text
        assert (await http.get(f"/network?org_id={coached}")).status_code == 404

    for actor in (rep, reseller_manager, world.admin, other_program.admin):
        async with page_client(server) as http:
            await login(http, actor.email)
            assert (await http.get("/network")).status_code == 404
            assert 'href="/network"' not in (await http.get("/dashboard")).text


async def test_a_reseller_in_two_programs_shows_only_the_distributor_s_program(db: Database, server: str) -> None:
    first, second = await make_program(db), await make_program(db)
    distributor = await make_member(db, first, kind="distributor")
    shared = await make_member(db, first, tier="gold", distributor_id=distributor)
    manager = await make_user(db, first, shared, Role.RESELLER_MANAGER)
    coach = await make_user(db, first, distributor, Role.DISTRIBUTOR_MANAGER, locale="en")
    now = utcnow()
    async with db.transaction() as session:  # the second program enrols the same reseller, without a distributor
        terms = invitations.Terms(tier="platinum", competencies=["heat_pumps"], certifications=[], regions=["DE-80"])
        invitation = await invitations.invite(
            session, second.admin.principal, program_id=second.program_id, email=manager.email, terms=terms, now=now
        )
    async with db.transaction() as session:
        await invitations.accept(session, manager.principal, invitation.id, now)
    await give_points(db, first.program_id, shared, 120)
    await give_points(db, second.program_id, shared, 98765)

    async with page_client(server) as http:
        await login(http, coach.email)
        page = await http.get("/network", headers=EN)
        assert page.status_code == 200 and f'id="reseller-{shared}"' in page.text
        assert 'class="num k-available">120<' in _row(page.text, shared)
        assert "98,765" not in page.text and "98765" not in page.text and second.program_id not in _options(page.text)
        assert (await http.get(f"/network?program_id={second.program_id}")).status_code == 404
        assert (await http.get(f"/network?program_id={second.program_id}&org_id={shared}")).status_code == 404


def _options(text: str) -> list[int]:
    return [int(part.split('"')[0]) for part in text.split('<option value="')[1:]]
