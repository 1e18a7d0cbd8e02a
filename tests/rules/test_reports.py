"""Manager reports of the rules area: processing problems with "retry now", and the farming report."""

from __future__ import annotations

import datetime as dt

import httpx
from sqlalchemy import select, update

from incentives.accounts.roles import Role
from incentives.db import Database
from incentives.leads.models import LeadEvent, OutboxEvent
from incentives.rules.models import Effect, RuleAward
from incentives.rules.processor import MAX_ATTEMPTS, process_events
from tests.conftest import page_client
from tests.factories import make_member, make_program, make_user
from tests.leads.helpers import make_lead
from tests.rules import T0, add_events, add_test_rule, earned
from tests.rules.test_campaign_refunds import lead_events
from tests.web.test_pages import csrf_of, login

EN = {"Accept-Language": "en"}
DE = {"Accept-Language": "de"}
HX = {"HX-Request": "true"}


async def test_failed_events_and_skips_are_shown_and_a_retry_takes_the_event_again(
    db: Database, http: httpx.AsyncClient
) -> None:
    world = await make_program(db)
    org = await make_member(db, world)
    await add_test_rule(db, world.program_id, cap_per="day", cap_max_points=30)
    stuck, _, capped = await add_events(db, world.program_id, [org], 3)
    async with db.transaction() as session:  # the first one failed as often as processing tries
        await session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id == stuck)
            .values(attempts=MAX_ATTEMPTS, last_error="OperationalError: database is locked")
        )
    await process_events(db, T0)
    assert await earned(db, world.program_id) == 30  # the third event meets the full cap, the first one waits

    async with db.transaction() as session:  # and the paid award's booking had failed as often as processing tries
        await session.execute(
            update(RuleAward)
            .where(RuleAward.program_id == world.program_id)
            .values(paid_at=None, attempts=MAX_ATTEMPTS, last_error="IntegrityError: ledger refused")
        )

    await login(http, world.admin.email)
    page = await http.get("/rules/problems", headers=EN)
    assert page.status_code == 200
    assert "OperationalError: database is locked" in page.text and f'id="event-{stuck}"' in page.text
    assert "Unpaid awards" in page.text and "IntegrityError: ledger refused" in page.text
    other = await make_program(db)
    async with page_client(http.base_url) as client:
        await login(client, other.admin.email)
        assert "ledger refused" not in (await client.get("/rules/problems")).text
    async with db.transaction() as session:
        await session.execute(
            update(RuleAward)
            .where(RuleAward.program_id == world.program_id)
            .values(paid_at=T0, attempts=0, last_error=None)
        )
    assert "Cap of 30 points per day reached" in page.text and "stopped" in page.text
    german = await http.get("/rules/problems", headers=DE)
    assert 'lang="de"' in german.text

    token = csrf_of(page)
    for _ in range(2):  # a double click resets it once; the second changes nothing
        answer = await http.post(f"/rules/problems/{stuck}/retry", data={"csrftoken": token}, headers={**HX, **EN})
        assert answer.status_code == 200 and "the next processing run takes it" in answer.text
    async with db.reader() as session:
        event = await session.get_one(OutboxEvent, stuck)
    assert (event.attempts, event.last_error, event.processed_at) == (0, None, None)
    assert f'id="event-{stuck}"' not in (await http.get("/rules/problems")).text
    await process_events(db, T0)
    assert await earned(db, world.program_id) == 30 + 0  # processed now; the day's cap was reached already
    async with db.reader() as session:
        assert (await session.get_one(OutboxEvent, stuck)).processed_at is not None
    plain = await http.post(f"/rules/problems/{stuck}/retry", data={"csrftoken": token})
    assert plain.status_code == 303 and plain.headers["location"] == "/rules/problems?retried=1"
    async with db.reader() as session:
        assert (await session.get_one(OutboxEvent, capped)).processed_at is not None


async def test_problems_are_scoped_to_the_program_s_managers(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    other = await make_program(db)
    org = await make_member(db, world)
    (event_id,) = await add_events(db, world.program_id, [org], 1)
    async with db.transaction() as session:
        await session.execute(update(OutboxEvent).values(attempts=3, last_error="ValueError: secret detail"))
    rep = await make_user(db, world, org, Role.RESELLER_REP)
    manager = await make_user(db, world, world.admin.org_id, Role.PARTNER_MANAGER)
    async with page_client(http.base_url) as client:
        await login(client, manager.email)
        assert "secret detail" in (await client.get("/rules/problems")).text
    for actor in (rep, other.admin):
        async with page_client(http.base_url) as client:
            await login(client, actor.email)
            page = await client.get("/rules/problems")
            assert page.status_code == (404 if actor is rep else 200)
            assert "secret detail" not in page.text
            assert (await client.get("/rules/farming")).status_code == (404 if actor is rep else 200)
            token = csrf_of(await client.get("/dashboard"))
            assert (
                await client.post(f"/rules/problems/{event_id}/retry", data={"csrftoken": token})
            ).status_code == 404
    async with db.reader() as session:
        assert (await session.scalar(select(OutboxEvent.attempts).where(OutboxEvent.id == event_id))) == 3


async def add_lead_events(db: Database, program_id: int, org_id: int, lead_ids: list[int], kind: str) -> None:
    async with db.transaction() as session:
        session.add_all(
            LeadEvent(lead_id=lead_id, program_id=program_id, kind=kind, org_id=org_id, at=T0 + dt.timedelta(hours=1))
            for lead_id in lead_ids
        )


async def test_farming_report_flags_pick_and_return(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    farmer, worker, newcomer = [await make_member(db, world) for _ in range(3)]
    leads = [(await make_lead(db, world, offer=False)).id for _ in range(8)]
    await add_lead_events(db, world.program_id, farmer, leads[:6], "reserved")
    await add_lead_events(db, world.program_id, farmer, leads[:4], "returned")
    await add_lead_events(db, world.program_id, farmer, leads[5:6], "feedback")
    await add_lead_events(db, world.program_id, worker, leads[:6], "reserved")
    await add_lead_events(db, world.program_id, worker, leads[:5], "feedback")
    await add_lead_events(db, world.program_id, newcomer, leads[6:8], "reserved")
    await add_lead_events(db, world.program_id, newcomer, leads[6:8], "returned")
    # Two of the farmer's returns had paid: the reversal rule takes the points back.
    await add_test_rule(db, world.program_id)
    await add_test_rule(db, world.program_id, event="lead.returned", effect=Effect.REVERSE.value, points="0")
    await lead_events(db, world, farmer, leads[:2], "lead.reserved")
    await lead_events(db, world, farmer, leads[:2], "lead.returned")
    await process_events(db, T0 + dt.timedelta(days=1))

    await login(http, world.admin.email)
    page = await http.get("/rules/farming?from=2026-03-01&to=2026-03-31", headers=EN)
    assert page.status_code == 200
    rows = page.text.split("<tbody>")[1].split("</tbody>")[0].split("<tr")[1:]
    assert len(rows) == 3 and 'class="flagged"' in rows[0]  # the flagged farmer comes first
    assert "many returns" in rows[0] and "little feedback" in rows[0] and ">6<" in rows[0] and ">2<" in rows[0]
    assert "inconspicuous" in rows[1] and "inconspicuous" in rows[2]  # the newcomer has too few reservations
    assert "at least 5 reservations" in page.text and "50%" in page.text and "25%" in page.text
    empty = await http.get("/rules/farming?from=2026-04-01&to=2026-04-30", headers=EN)
    assert "No reservations in this period." in empty.text
    german = await http.get("/rules/farming?from=2026-03-01&to=2026-03-31", headers=DE)
    assert 'lang="de"' in german.text and "50\xa0%" in german.text
    bad = await http.get("/rules/farming?from=2026-03-31&to=2026-03-01", headers=EN)
    assert bad.status_code == 422 and "Must be later than the start." in bad.text
    fragment = await http.get("/rules/farming?from=2026-03-01&to=2026-03-31", headers={**HX, **EN})
    assert fragment.text.lstrip().startswith('<section class="card" id="report">')
