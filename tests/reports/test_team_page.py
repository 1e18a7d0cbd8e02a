"""The reseller manager's team page over real HTTP: per user of its own org, points earned, leads reserved,
feedback given and overdue, for this week, month or quarter; every other role, another org's manager and another
program answer 404 or see nothing of the team."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from incentives.accounts.roles import Role
from incentives.db import Database, utcnow
from incentives.engagement.jobs import process_outbox
from incentives.leads import services as lead_services
from incentives.leads.models import Lead
from incentives.reports.team import period_start
from incentives.rules.defaults import install_default_rules
from tests.conftest import page_client
from tests.factories import Actor, make_member, make_program, make_user
from tests.leads.helpers import make_lead, make_reseller
from tests.web.test_pages import login

EN = {"Accept-Language": "en"}
DE = {"Accept-Language": "de"}
M = dt.timedelta(minutes=1)


def _row(text: str, user_id: int) -> list[str]:
    """The figures of a user's row: points, reserved, feedback, overdue."""
    row = text.split(f'id="user-{user_id}"')[1].split("</tr>")[0]
    return [
        row.split(f'class="num k-{key}">')[1].split("</td>")[0] for key in ("points", "reserved", "feedback", "overdue")
    ]


async def test_a_reseller_manager_sees_each_user_of_its_org(db: Database, server: str) -> None:
    world = await make_program(db)
    async with db.transaction() as session:
        await install_default_rules(session, world.program_id)
    busy = await make_reseller(db, world)
    idle = await make_user(db, world, busy.org_id, Role.RESELLER_REP)
    late = await make_user(db, world, busy.org_id, Role.RESELLER_REP)
    manager = await make_user(db, world, busy.org_id, Role.RESELLER_MANAGER, locale="de")
    other = await make_reseller(db, world)
    other_manager = await make_user(db, world, other.org_id, Role.RESELLER_MANAGER)
    now = utcnow()
    at = max(now - 2 * M, period_start("week", now))  # inside this week, whenever the test runs

    async def reserve(actor: Actor) -> int:
        lead = await make_lead(db, world, now=at - M, temperature="cold")
        async with db.transaction() as session:
            await lead_services.reserve_lead(session, actor.principal, lead.id, at)
        return lead.id

    answered = await reserve(busy)
    async with db.transaction() as session:
        await lead_services.give_feedback(session, busy.principal, answered, status="contacted", now=at + M / 2)
        await lead_services.give_feedback(session, busy.principal, answered, status="meeting", now=at + M)
    owing = await reserve(late)
    async with db.transaction() as session:  # its feedback fell due a moment ago
        await session.execute(update(Lead).where(Lead.id == owing).values(feedback_due_at=now - M / 2))
    await reserve(other)
    await process_outbox(db, now)

    async with page_client(server) as http:
        await login(http, manager.email)
        page = await http.get("/team", headers=DE)
        assert page.status_code == 200, page.text
        text = page.text
        assert 'href="/team"' in text and "Ihr Team" in text and "Diese Woche" in text
        busy_row, late_row = _row(text, busy.user_id), _row(text, late.user_id)
        assert int(busy_row[0].replace(".", "")) > int(late_row[0]) > 0  # reservation and feedback paid more
        assert busy_row[1:] == ["1", "2", "0"]
        assert late_row[1:3] == ["1", "0"] and "due-overdue" in late_row[3] and ">1<" in late_row[3]
        assert _row(text, idle.user_id) == ["0", "0", "0", "0"]
        assert _row(text, manager.user_id) == ["0", "0", "0", "0"]
        assert f'id="user-{other.user_id}"' not in text  # another org's rep
        for period in ("month", "quarter"):
            again = await http.get(f"/team?period={period}&program_id={world.program_id}", headers=EN)
            assert again.status_code == 200 and _row(again.text, busy.user_id)[1:] == ["1", "2", "0"]
        for bad in ("/team?period=year", "/team?program_id=abc", f"/team?program_id={world.program_id + 999}"):
            assert (await http.get(bad)).status_code == 404, bad

    # The other org's manager sees its own rep only.
    async with page_client(server) as http:
        await login(http, other_manager.email)
        text = (await http.get("/team", headers=EN)).text
        assert f'id="user-{other.user_id}"' in text and f'id="user-{busy.user_id}"' not in text
        assert _row(text, other.user_id)[1:] == ["1", "0", "0"]


async def test_every_other_role_gets_404_and_no_nav_entry(db: Database, server: str) -> None:
    world = await make_program(db)
    rep = await make_reseller(db, world)
    distributor = await make_member(db, world, kind="distributor")
    coach = await make_user(db, world, distributor, Role.DISTRIBUTOR_MANAGER)
    manager = await make_user(db, world, world.admin.org_id, Role.PARTNER_MANAGER)
    other_program = await make_program(db)
    elsewhere = await make_reseller(db, other_program)
    boss = await make_user(db, other_program, elsewhere.org_id, Role.RESELLER_MANAGER)
    for actor in (rep, coach, manager, world.admin):
        async with page_client(server) as http:
            await login(http, actor.email)
            assert (await http.get("/team")).status_code == 404
            home = await http.get("/", follow_redirects=True)
            assert 'href="/team"' not in home.text
    async with page_client(server) as http:  # a manager of a reseller in another program: not this program's team
        await login(http, boss.email)
        assert (await http.get(f"/team?program_id={world.program_id}")).status_code == 404
        assert (await http.get(f"/team?program_id={other_program.program_id}")).status_code == 200
