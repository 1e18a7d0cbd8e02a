"""Farming flags from hand-built lead histories: reserve-and-return, feedback without contact, status churn."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import httpx

from incentives.db import Database
from incentives.leads import corrections
from incentives.leads import services as leads
from incentives.rules import farming
from tests.factories import Actor, ProgramWorld, make_program
from tests.leads.helpers import make_lead, make_reseller
from tests.rules import T0
from tests.web.test_pages import login

M = dt.timedelta(minutes=1)
H = dt.timedelta(hours=1)
AT = T0 + 2 * H


async def _reserved(db: Database, world: ProgramWorld, rep: Actor, at: dt.datetime = AT) -> int:
    lead = await make_lead(db, world)
    async with db.transaction() as session:
        await leads.reserve_lead(session, rep.principal, lead.id, at)
    return lead.id


async def _feedback(db: Database, rep: Actor, lead_id: int, status: str, at: dt.datetime) -> None:
    value = Decimal("9000") if status == "won" else None
    async with db.transaction() as session:
        await leads.give_feedback(session, rep.principal, lead_id, status=status, deal_value=value, now=at)


async def _histories(db: Database) -> tuple[ProgramWorld, Actor, Actor]:
    world = await make_program(db)
    farmer, honest = await make_reseller(db, world), await make_reseller(db, world)
    quick = await _reserved(db, world, farmer)
    await _feedback(db, farmer, quick, "proposal", AT + 5 * M)  # a proposal five minutes after picking
    deal = await _reserved(db, world, farmer)
    await _feedback(db, farmer, deal, "won", AT + 10 * M)  # ten minutes still counts
    churned = await _reserved(db, world, farmer)
    await _feedback(db, farmer, churned, "contacted", AT + 3 * M)  # contacted fast is honest work
    await _feedback(db, farmer, churned, "contacted", AT + H)  # repeats: churn
    await _feedback(db, farmer, churned, "contacted", AT + 2 * H)
    await _feedback(db, farmer, churned, "meeting", AT + 3 * H)
    async with db.transaction() as session:  # a manager puts it back: churn as well
        await corrections.correct_status(
            session, world.admin.principal, churned, status="contacted", reason="no meeting", now=AT + 4 * H
        )
    returned = await _reserved(db, world, farmer)
    async with db.transaction() as session:
        await leads.return_lead(session, farmer.principal, returned, "no time", AT + 5 * H)

    slow = await _reserved(db, world, honest)
    await _feedback(db, honest, slow, "proposal", AT + 11 * M)  # eleven minutes: not flagged
    careful = await _reserved(db, world, honest)
    await _feedback(db, honest, careful, "contacted", AT + 2 * H)
    await _feedback(db, honest, careful, "meeting", AT + 20 * H)
    return world, farmer, honest


async def test_flags_and_score_from_lead_histories(db: Database) -> None:
    world, farmer, honest = await _histories(db)
    async with db.reader() as session:
        report = await farming.farming_report(
            session, world.admin.principal, world.program_id, T0 - 24 * H, T0 + 48 * H
        )
        later = await farming.farming_report(session, world.admin.principal, world.program_id, T0 + 48 * H, T0 + 96 * H)
    first, second = report
    assert first.org_id == farmer.org_id and second.org_id == honest.org_id
    assert (first.reservations, first.returns, first.instant_feedback, first.churn) == (4, 1, 2, 3)
    # (1 return + 2 × 2 instant + 3 churn) ÷ max(4, 5) reservations × 100
    assert first.score == 160
    assert first.flags == [farming.NO_CONTACT_STEP, farming.STATUS_CHURN]
    assert (second.reservations, second.returns, second.instant_feedback, second.churn) == (2, 0, 0, 0)
    assert (second.score, second.flags) == (0, [])
    assert later == []


async def test_a_period_starting_after_the_reservation_still_sees_instant_feedback(db: Database) -> None:
    world = await make_program(db)
    rep = await make_reseller(db, world)
    lead_id = await _reserved(db, world, rep)
    await _feedback(db, rep, lead_id, "meeting", AT + 4 * M)
    async with db.reader() as session:
        (pattern,) = await farming.farming_report(session, world.admin.principal, world.program_id, AT + M, AT + H)
    assert (pattern.reservations, pattern.instant_feedback) == (0, 1)


async def test_the_page_shows_the_new_columns_in_a_scroll_region(db: Database, http: httpx.AsyncClient) -> None:
    world, _, _ = await _histories(db)
    await login(http, world.admin.email)
    page = await http.get("/rules/farming?from=2026-03-01&to=2026-03-31", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert 'tabindex="0" role="region" aria-label="Farming patterns per partner"' in page.text
    rows = page.text.split("<tbody>")[1].split("</tbody>")[0].split("<tr")[1:]
    assert 'class="flagged"' in rows[0] and "feedback without contact" in rows[0] and "status churn" in rows[0]
    assert 'class="num score">160<' in rows[0] and 'class="num instant">2<' in rows[0]
    assert 'class="num churn">3<' in rows[0] and 'class="num score">0<' in rows[1]
    assert "Score = (returns + 2 × feedback without contact + status churn)" in page.text
    german = await http.get("/rules/farming?from=2026-03-01&to=2026-03-31", headers={"Accept-Language": "de"})
    assert german.status_code == 200 and "Feedback without contact" not in german.text
    assert "Score =" not in german.text
