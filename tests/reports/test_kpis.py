"""Partner KPIs from real lead histories (made through the lead services), checked against hand-worked figures."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import pytest

from incentives.accounts.roles import Role
from incentives.db import Database
from incentives.leads import services as leads
from incentives.reports.kpi_scopes import KpiScope
from incentives.reports.kpis import PartnerKpis, kpis, kpis_by_org, partner_kpis, weekly_kpis, weekly_reservations
from tests.factories import Actor, ProgramWorld, make_program, make_user
from tests.leads.helpers import T0, make_lead, make_reseller

H = dt.timedelta(hours=1)


async def _reserve(db: Database, rep: Actor, lead_id: int, at: dt.datetime) -> None:
    async with db.transaction() as session:
        await leads.reserve_lead(session, rep.principal, lead_id, now=at)


async def _feedback(db: Database, rep: Actor, lead_id: int, status: str, at: dt.datetime, **extra: object) -> None:
    async with db.transaction() as session:
        await leads.give_feedback(session, rep.principal, lead_id, status=status, now=at, **extra)  # type: ignore[arg-type]


@dataclass
class History:
    world: ProgramWorld
    a: Actor
    b: Actor
    c: Actor


@pytest.fixture
async def h(db: Database) -> History:
    """Three leads offered at T0 to A, B and C (feedback is due 48 h after reserving).

    A: lead 1 reserved at +2 h, feedback at +12 h (on time), won for 12,000 EUR at +74 h (3 days after reserving);
       lead 3 reserved at +4 h, returned at +5 h without feedback;
       lead 2 reserved at +6 h, first feedback at +56 h (late): lost.
    B: lead 3 reserved at +8 h, won for 3,000 EUR at +32 h (1 day, on time).  C: nothing.
    """
    world = await make_program(db)
    a, b, c = [await make_reseller(db, world) for _ in range(3)]
    one, two, three = [await make_lead(db, world, now=T0) for _ in range(3)]
    await _reserve(db, a, one.id, T0 + 2 * H)
    await _reserve(db, a, three.id, T0 + 4 * H)
    async with db.transaction() as session:
        await leads.return_lead(session, a.principal, three.id, "kein Bedarf", now=T0 + 5 * H)
    await _reserve(db, a, two.id, T0 + 6 * H)
    await _reserve(db, b, three.id, T0 + 8 * H)
    await _feedback(db, a, one.id, "contacted", T0 + 12 * H)
    await _feedback(db, b, three.id, "won", T0 + 32 * H, deal_value=Decimal("3000"))
    await _feedback(db, a, two.id, "lost", T0 + 56 * H, lost_reason="zu teuer")
    await _feedback(db, a, one.id, "won", T0 + 74 * H, deal_value=Decimal("12000"))
    return History(world, a, b, c)


async def test_kpis_of_several_partners_in_one_query(db: Database, h: History) -> None:
    world, a, b, c = h.world, h.a, h.b, h.c
    admin = world.admin
    async with db.reader() as session:
        found = await partner_kpis(session, admin.principal, world.program_id, [a.org_id, b.org_id, c.org_id])
    ka, kb, kc = found[a.org_id], found[b.org_id], found[c.org_id]
    assert (ka.reserved, ka.won, ka.lost, ka.on_time) == (3, 1, 1, 1)
    assert ka.ttp_hours == pytest.approx(4.0)  # (2 + 4 + 6) / 3
    assert ka.cr == pytest.approx(0.5)
    assert ka.adt_days == pytest.approx(3.0)
    assert ka.ads == Decimal("12000.00")
    assert ka.feedback_rate == pytest.approx(1 / 3)
    assert (kb.reserved, kb.won, kb.lost, kb.on_time) == (1, 1, 0, 1)
    assert kb.ttp_hours == pytest.approx(8.0)  # from the lead's first offer, not from its re-offer
    assert (kb.cr, kb.ads, kb.feedback_rate) == (1.0, Decimal("3000.00"), 1.0)
    assert kb.adt_days == pytest.approx(1.0)
    # Nothing reserved: every ratio and mean is empty, not zero.
    assert kc == PartnerKpis(c.org_id)
    assert (kc.cr, kc.feedback_rate, kc.ttp_hours, kc.adt_days, kc.ads) == (None, None, None, None, None)


async def test_the_period_selects_reservations(db: Database, h: History) -> None:
    world, a, b = h.world, h.a, h.b
    admin, program_id = world.admin, world.program_id
    async with db.reader() as session:
        late = await partner_kpis(session, admin.principal, program_id, start=T0 + 5 * H)
        early = await partner_kpis(session, admin.principal, program_id, end=T0 + 5 * H)
    # From +5 h: A's lead 2 only (lost, late feedback) -> a conversion of 0, no won deals.
    assert (late[a.org_id].reserved, late[a.org_id].cr, late[a.org_id].adt_days, late[a.org_id].ads) == (
        1,
        0.0,
        None,
        None,
    )
    assert late[a.org_id].feedback_rate == 0.0 and late[a.org_id].ttp_hours == pytest.approx(6.0)
    assert late[b.org_id].reserved == 1
    # Before +5 h: A's leads 1 and 3; B had reserved nothing yet (and is left out when no org is asked for).
    assert (early[a.org_id].reserved, early[a.org_id].won, early[a.org_id].lost) == (2, 1, 0)
    assert early[a.org_id].ttp_hours == pytest.approx(3.0)
    assert b.org_id not in early


async def test_kpis_stay_inside_the_scope(db: Database, h: History) -> None:
    world, a, b = h.world, h.a, h.b
    program_id = world.program_id
    other = await make_program(db)
    async with db.reader() as session:
        foreign = await partner_kpis(session, other.admin.principal, program_id)
        own = await partner_kpis(session, b.principal, program_id, [a.org_id, b.org_id])
    assert foreign == {}
    assert own[a.org_id] == PartnerKpis(a.org_id)  # another reseller's figures are not B's to see
    assert own[b.org_id].won == 1


async def test_a_partner_manager_sees_the_program(db: Database, h: History) -> None:
    world, a = h.world, h.a
    pam = await make_user(db, world, world.admin.org_id, Role.PARTNER_MANAGER)
    async with db.reader() as session:
        found = await partner_kpis(session, pam.principal, world.program_id)
    assert found[a.org_id].reserved == 3


PERIOD = (T0, T0 + 100 * H)


async def test_the_program_scope_adds_every_definition_up(db: Database, h: History) -> None:
    world = h.world
    async with db.reader() as session:
        found = await kpis(session, world.program_id, KpiScope("program"), *PERIOD)
        partner_a = await kpis(session, world.program_id, KpiScope("partner", str(h.a.org_id)), *PERIOD)
        rep_b = await kpis(session, world.program_id, KpiScope("rep", str(h.b.user_id)), *PERIOD)
    assert (found.reserved, found.won, found.lost, found.returned, found.offered, found.unclaimed) == (4, 2, 1, 1, 3, 0)
    assert found.cr == pytest.approx(2 / 3)
    assert found.ttp_hours == pytest.approx(5.0)  # (2 + 4 + 6 + 8) / 4
    assert found.adt_days == pytest.approx(2.0)  # (3 + 1) / 2
    assert found.ads == Decimal("7500.00")
    assert found.feedback_rate == pytest.approx(0.5)  # A's lead 1 and B's lead 3 on time; lead 2 late; lead 3 (A) none
    assert found.answered == 3
    assert found.pli is None  # nothing is open: no pipeline to compare against
    assert (partner_a.reserved, partner_a.returned, partner_a.offered, partner_a.unclaimed) == (3, 1, 3, None)
    assert (rep_b.reserved, rep_b.won, rep_b.offered) == (1, 1, None)


async def test_an_empty_period_has_no_figures_only_zero_counts(db: Database, h: History) -> None:
    async with db.reader() as session:
        found = await kpis(session, h.world.program_id, KpiScope("program"), T0 - 100 * H, T0)
        weeks = await weekly_kpis(session, h.world.program_id, KpiScope("program"), T0 - 7 * 24 * H, 2)
    assert (found.reserved, found.won, found.lost, found.offered, found.returned) == (0, 0, 0, 0, 0)
    assert (found.cr, found.ttp_hours, found.adt_days, found.ads, found.feedback_rate, found.pli) == (None,) * 6
    assert weeks[0][1].reserved == 0 and weeks[0][1].cr is None
    assert (weeks[1][1].reserved, weeks[1][1].won) == (4, 2)  # every reservation falls in the second week


async def test_a_reservation_counts_in_the_week_it_falls_in(db: Database, h: History) -> None:
    """Four days into a week is week 0 on both databases (PostgreSQL's CAST would round 0.6 weeks up to 1)."""
    async with db.reader() as session:
        weeks = await weekly_kpis(session, h.world.program_id, KpiScope("program"), T0 - 4 * 24 * H, 2)
        by_org, by_rep = await weekly_reservations(session, h.world.program_id, T0 - 4 * 24 * H, 2)
    assert [found.reserved for _, found in weeks] == [4, 0]
    assert sum(counts[0] for counts in by_org.values()) == 4 and sum(counts[1] for counts in by_org.values()) == 0
    assert sum(counts[0] for counts in by_rep.values()) == 4


async def test_pli_weighs_the_open_pipeline_against_the_program_mean(db: Database) -> None:
    world = await make_program(db)
    a, b = await make_reseller(db, world), await make_reseller(db, world)
    one, two = await make_lead(db, world, now=T0), await make_lead(db, world, now=T0, value=Decimal("4000"))
    await _reserve(db, a, one.id, T0 + H)
    await _reserve(db, b, two.id, T0 + H)
    await _feedback(db, a, one.id, "meeting", T0 + 2 * H)  # 25 % of 12,000 = 3,000
    # B's lead has no feedback yet: weight 0. Program mean per reseller: 3,000 / 2 = 1,500.
    async with db.reader() as session:
        program = await kpis(session, world.program_id, KpiScope("program"), T0, T0 + 10 * H)
        of_a = await kpis(session, world.program_id, KpiScope("partner", str(a.org_id)), T0, T0 + 10 * H)
        per_org = await kpis_by_org(session, world.program_id, KpiScope("program"), T0, T0 + 10 * H)
    assert program.pli == pytest.approx(100.0)
    assert of_a.pli == pytest.approx(200.0)
    assert per_org[b.org_id].pli == pytest.approx(0.0)
    async with db.transaction() as session:
        await leads.give_feedback(session, b.principal, two.id, status="proposal", now=T0 + 3 * H)
    async with db.reader() as session:  # B: 50 % of 4,000 = 2,000; mean (3,000 + 2,000) / 2 = 2,500
        of_b = await kpis(session, world.program_id, KpiScope("partner", str(b.org_id)), T0, T0 + 10 * H)
    assert of_b.pli == pytest.approx(80.0)
