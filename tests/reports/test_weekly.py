"""The weekly report's recipients and content per role, in both languages, from a hand-built week of leads."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from incentives.accounts import services as accounts
from incentives.accounts.models import Membership, Org, Program, User
from incentives.accounts.roles import Role
from incentives.db import Database
from incentives.errors import ValidationFailed
from incentives.leaderboard import jobs as leaderboard
from incentives.leaderboard import periods, scopes
from incentives.leaderboard.queries import board
from incentives.leads import services as leads
from incentives.leads.models import Lead, LeadStatus
from incentives.ledger import queries as ledger_queries
from incentives.ledger import services as ledger
from incentives.reports.kpi_scopes import KpiScope
from incentives.reports.kpis import kpis, weekly_kpis
from incentives.reports.weekly import (
    HISTORY_WEEKS,
    IsoWeek,
    Recipient,
    WeeklyReport,
    gather,
    partners_week,
    recipients,
)
from incentives.reports.weekly_mail import render
from incentives.rules.leaderboard_feed import earned_with_credit
from tests.factories import Actor, ProgramWorld, make_org, make_program, make_user
from tests.leads.helpers import T0, make_lead, make_reseller

H = dt.timedelta(hours=1)
WEEK = IsoWeek(2026, 10)  # T0, Monday 2 March 2026, is in it
HOSTILE = '<script>alert("x")</script> & Söhne'
BASE = "https://incentives.example"


@dataclass
class Week:
    world: ProgramWorld
    a: Actor  # rep of reseller A (the hostile name), below the distributor
    a_manager: Actor
    b: Actor  # rep of reseller B, below the distributor
    distributor: Actor
    owing_id: int


@pytest.fixture
async def week(db: Database) -> Week:
    """Week 10 of 2026. A reserves leads 1, 2 and 4; B lead 3 (feedback is due 48 h after reserving).

    A: lead 1 at +2 h, contacted at +12 h (on time), won for 12,000 EUR at +74 h; lead 2 at +6 h, lost at +56 h
    (late); lead 4 at +10 h, no feedback (overdue by the week's end). B: lead 3 at +8 h, won for 3,000 EUR at +32 h.
    A earns 120 points, B 50, both on Tuesday; A's lot expires a month later.
    """
    world = await make_program(db)
    a, b = await make_reseller(db, world), await make_reseller(db, world)
    distributor_org = await make_org(db, world, "distributor", name="Großhandel Süd")
    async with db.transaction() as session:
        await accounts.create_membership(
            session,
            world.admin.principal,
            program_id=world.program_id,
            org_id=distributor_org,
            tier="registered",
            competencies=[],
            certifications=[],
            regions=["AT"],
        )
        await session.execute(
            update(Membership).where(Membership.org_id.in_([a.org_id, b.org_id])).values(distributor_id=distributor_org)
        )
        await session.execute(update(Org).where(Org.id == a.org_id).values(name=HOSTILE))
        await session.execute(update(Program).where(Program.id == world.program_id).values(points_expiry_months=1))
    a_manager = await make_user(db, world, a.org_id, Role.RESELLER_MANAGER, locale="de")
    distributor = await make_user(db, world, distributor_org, Role.DISTRIBUTOR_MANAGER)
    one, two, three, four = [await make_lead(db, world, now=T0) for _ in range(4)]
    for rep, lead, hours in ((a, one, 2), (a, two, 6), (b, three, 8), (a, four, 10)):
        async with db.transaction() as session:
            await leads.reserve_lead(session, rep.principal, lead.id, now=T0 + hours * H)
    for rep, lead, status, hours, extra in (
        (a, one, "contacted", 12, {}),
        (b, three, "won", 32, {"deal_value": Decimal("3000")}),
        (a, two, "lost", 56, {"lost_reason": "zu teuer"}),
        (a, one, "won", 74, {"deal_value": Decimal("12000")}),
    ):
        async with db.transaction() as session:
            await leads.give_feedback(session, rep.principal, lead.id, status=status, now=T0 + hours * H, **extra)  # type: ignore[arg-type]
    for org_id, points in ((a.org_id, 120), (b.org_id, 50)):
        async with db.transaction() as session:
            await ledger.award_points(
                session, program_id=world.program_id, org_id=org_id, points=points, key=f"w-{org_id}", now=T0 + 24 * H
            )
    await leaderboard.rebuild(db, earned_with_credit, world.program_id)
    return Week(world, a, a_manager, b, distributor, four.id)


async def _report(db: Database, w: Week, user_id: int, locale: str | None = None) -> WeeklyReport:
    async with db.reader() as session:
        found = {r.user_id: r for r in await recipients(session, w.world.program_id, WEEK)}
        recipient = found[user_id]
        if locale is not None:
            recipient = Recipient(**{**recipient.__dict__, "locale": locale})
        return await gather(db, session, w.world.program_id, recipient, WEEK)


def test_iso_weeks_begin_on_monday_in_berlin() -> None:
    assert WEEK.start == dt.datetime(2026, 3, 1, 23, 0, tzinfo=dt.UTC)
    assert WEEK.end == dt.datetime(2026, 3, 8, 23, 0, tzinfo=dt.UTC)
    assert IsoWeek.parse("2026-W10") == WEEK and WEEK.previous == IsoWeek(2026, 9)
    assert IsoWeek(2026, 53 - 1).following == IsoWeek(2026, 53) and IsoWeek(2026, 53).following == IsoWeek(2027, 1)
    for bad in ("2026-W54", "2025-W53", "2026-10", "2026-W1"):
        with pytest.raises(ValidationFailed):
            IsoWeek.parse(bad)


async def test_recipients_are_the_programs_active_users_with_a_role_that_gets_one(db: Database, week: Week) -> None:
    w = week
    agency = await make_user(db, w.world, await make_org(db, w.world, "agency"), Role.AGENCY)
    async with db.transaction() as session:
        await session.execute(update(User).where(User.id == w.b.user_id).values(active=False))
    other = await make_program(db)
    async with db.reader() as session:
        found = await recipients(session, w.world.program_id, WEEK)
    assert {r.user_id for r in found} == {
        w.world.admin.user_id,
        w.a.user_id,
        w.a_manager.user_id,
        w.distributor.user_id,
    }
    assert agency.user_id not in {r.user_id for r in found} and other.admin.user_id not in {r.user_id for r in found}
    locales = {r.user_id: r.locale for r in found}
    assert locales[w.a_manager.user_id] == "de" and locales[w.a.user_id] == "en"  # the program's default


async def test_a_reps_report_has_its_rank_points_expiry_kpis_and_owed_feedback(db: Database, week: Week) -> None:
    w = week
    report = await _report(db, w, w.a.user_id)
    assert report.kind == "partner" and report.standing is not None
    assert (report.standing.rank, report.standing.of, report.standing.points) == (1, 2, 120)
    assert report.standing.movement is None  # nobody was ranked the week before
    assert [e.points for e in report.expiring] == [120]
    assert (report.kpis.reserved, report.kpis.won, report.kpis.lost, report.kpis.on_time) == (3, 1, 1, 1)
    assert (report.program.reserved, report.program.won, report.program.lost) == (4, 2, 1)
    assert report.last_week.reserved == 0
    assert [lead.id for lead in report.owing] == [w.owing_id] and report.owing[0].overdue
    subject, text, html = render(report, BASE)
    assert "Week 10 of 2026" in subject
    assert "Rank 1 of 2" in text and "Points earned this week: 120" in text
    assert "CR conversion rate: 50% | – | 67%" in text  # own | last week | program
    assert "Feedback rate: 33% | – | 50%" in text
    assert f"{BASE}/leads/{w.owing_id}" in text and f'href="{BASE}/leads/{w.owing_id}"' in html
    assert f"{BASE}/leads/mine" in html  # a rep cannot open the KPI dashboard: its own leads instead
    assert "<script" not in html and "&lt;script&gt;alert" in html
    assert "<style" not in html and 'style="' in html  # CSS inlined for mail clients
    assert HOSTILE in text  # the text part is plain text, nothing to escape


async def test_the_reseller_managers_report_in_german(db: Database, week: Week) -> None:
    w = week
    report = await _report(db, w, w.a_manager.user_id)
    subject, text, html = render(report, BASE)
    assert report.recipient.locale == "de"
    assert "Woche 10 von 2026" in subject
    assert "Rang 1 von 2" in text and "Diesen Monat" not in text
    assert "CR Abschlussquote: 50\xa0% | – | 67\xa0%" in text
    assert "50&nbsp;%" in html and "67&nbsp;%" in html  # css-inline writes the no-break spaces as entities
    assert "Punkte diese Woche: 120" in text
    assert '&lt;script&gt;alert("x")&lt;/script&gt; &amp; Söhne' in html
    assert f"{BASE}/kpis?program_id={w.world.program_id}" in html
    for english in ("Weekly report", "Key figures", "Leads owing feedback", "This week", "(overdue)"):
        assert english not in html


async def test_the_distributor_managers_report_lists_its_resellers(db: Database, week: Week) -> None:
    w = week
    report = await _report(db, w, w.distributor.user_id)
    assert report.kind == "distributor" and report.scope_name == "Großhandel Süd"
    lines = {line.org_id: line for line in report.resellers}
    assert set(lines) == {w.a.org_id, w.b.org_id}
    assert (lines[w.a.org_id].kpis.reserved, lines[w.a.org_id].kpis.won, lines[w.a.org_id].overdue) == (3, 1, 1)
    assert (lines[w.b.org_id].kpis.reserved, lines[w.b.org_id].kpis.won, lines[w.b.org_id].overdue) == (1, 1, 0)
    for locale in ("en", "de"):
        _, _, html = render(await _report(db, w, w.distributor.user_id, locale), BASE)
        assert "<script" not in html and "&lt;script&gt;" in html
        assert ("Your resellers this week" if locale == "en" else "Ihre Fachhändler diese Woche") in html


async def test_the_managers_report_has_the_program_top_movers_and_unclaimed_leads(db: Database, week: Week) -> None:
    w = week
    report = await _report(db, w, w.world.admin.user_id)
    assert report.kind == "program"
    assert (report.kpis.reserved, report.kpis.won, report.kpis.lost, report.kpis.unclaimed) == (4, 2, 1, 0)
    assert [(row.subject_id, row.points) for row in report.movers] == [(w.a.org_id, 120), (w.b.org_id, 50)]
    assert [count for _, count in report.history][-1] == 4 and len(report.history) == 8
    for locale in ("en", "de"):
        _, text, html = render(await _report(db, w, w.world.admin.user_id, locale), BASE)
        assert "<script" not in html and "&lt;script&gt;alert" in html
        assert "+120" in text and "+50" in text
        assert 'width="100%"' in html  # this week's bar is the longest
        assert ("Top movers" if locale == "en" else "Aufsteiger der Woche") in html


async def test_partner_reports_read_at_once_equal_each_scopes_own_figures(db: Database, week: Week) -> None:
    """A run reads the partners' figures for the whole program at once (PartnersWeek); each report must equal
    what the per-scope reads give: KPIs (with PLI: B holds a lead at 'proposal'), history, standing, expiring
    points and the leads owing feedback."""
    w = week
    extra = await make_lead(db, w.world, now=T0)
    async with db.transaction() as session:
        await leads.reserve_lead(session, w.b.principal, extra.id, now=T0 + 20 * H)
    async with db.transaction() as session:
        await leads.give_feedback(session, w.b.principal, extra.id, status="proposal", now=T0 + 30 * H)
    program_id = w.world.program_id
    async with db.reader() as session:
        everyone = await recipients(session, program_id, WEEK)
        partners = [r for r in everyone if r.role in (Role.RESELLER_MANAGER, Role.RESELLER_REP)]
        assert {r.user_id for r in partners} >= {w.a.user_id, w.a_manager.user_id, w.b.user_id}
        figures = await partners_week(session, program_id, WEEK)
        for recipient in partners:
            report = await gather(db, session, program_id, recipient, WEEK, figures)
            scope = (
                KpiScope("rep", str(recipient.user_id))
                if recipient.role == Role.RESELLER_REP
                else KpiScope("partner", str(recipient.org_id))
            )
            before = WEEK.previous
            assert report.kpis == await kpis(session, program_id, scope, WEEK.start, WEEK.end)
            assert report.last_week == await kpis(session, program_id, scope, before.start, before.end)
            assert report.program == await kpis(session, program_id, KpiScope("program"), WEEK.start, WEEK.end)
            start = WEEK.start - dt.timedelta(days=7 * (HISTORY_WEEKS - 1))
            series = await weekly_kpis(session, program_id, scope, start, HISTORY_WEEKS)
            assert report.history == [(at, found.reserved) for at, found in series]
            board_now = await board(
                db,
                session,
                program_id,
                periods.parse("week", WEEK.last_moment),
                scopes.parse("program"),
                me=recipient.org_id,
                now=WEEK.last_moment,
            )
            assert board_now.me is not None and report.standing is not None
            assert (report.standing.rank, report.standing.of, report.standing.points) == (
                board_now.me.rank,
                board_now.of,
                board_now.me.points,
            )
            assert report.expiring == await ledger_queries.expiring(session, program_id, recipient.org_id, now=WEEK.end)
            owing = select(Lead.id).where(
                Lead.program_id == program_id,
                Lead.status == LeadStatus.RESERVED,
                Lead.reserved_by_org_id == recipient.org_id,
            )
            if scope.kind == "rep":
                owing = owing.where(Lead.reserved_by_user_id == scope.id)
            expected = list(await session.scalars(owing.order_by(Lead.feedback_due_at, Lead.id)))
            assert [lead.id for lead in report.owing] == expected[:10] and report.owing_total == len(expected)
    assert figures.by_rep[w.b.user_id].pli is not None  # the PLI was compared, not two Nones
