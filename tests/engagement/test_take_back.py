"""A returned or invalid lead takes back the achievement progress and streaks it brought, once: the badge stays
earned, its points go back only when the lead's own event completed it (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import select

from incentives.db import Database
from incentives.engagement.jobs import process_outbox
from incentives.engagement.models import AchievementEarning, AchievementHit, AchievementTally
from incentives.engagement.take_back import take_back_progress
from incentives.leads import corrections, services, streaks
from incentives.leads.models import OutboxEvent
from incentives.ledger import queries
from incentives.rules.processor import process_events
from tests.engagement import achievement_transfers, add_test_achievement
from tests.factories import Actor, ProgramWorld, make_program
from tests.leads.helpers import make_lead, make_reseller
from tests.ledger import assert_clean

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)  # a Monday
H = dt.timedelta(hours=1)


async def _reserve(db: Database, world: ProgramWorld, rep: Actor, at: dt.datetime) -> int:
    lead = await make_lead(db, world, now=at)
    async with db.transaction() as session:
        await services.reserve_lead(session, rep.principal, lead.id, at)
    return lead.id


async def _return(db: Database, rep: Actor, lead_id: int, at: dt.datetime) -> None:
    async with db.transaction() as session:
        await services.return_lead(session, rep.principal, lead_id, "no capacity after all", at)


async def _tally(db: Database, achievement_id: int, org_id: int) -> int:
    async with db.reader() as session:
        value = await session.scalar(
            select(AchievementTally.value).where(
                AchievementTally.achievement_id == achievement_id, AchievementTally.org_id == org_id
            )
        )
    return value or 0


async def _balance(db: Database, world: ProgramWorld, org_id: int) -> tuple[int, int]:
    async with db.reader() as session:
        balance = await queries.balance(session, world.program_id, org_id)
    return balance.available, balance.lifetime_earned


async def _streak_values(db: Database, world: ProgramWorld, rep: Actor, now: dt.datetime) -> dict[str, int]:
    async with db.reader() as session:
        return {s.key: s.current for s in await streaks.streaks_of(session, world.program_id, rep.org_id, now)}


async def test_a_returned_lead_takes_back_its_count_and_the_points_it_completed(db: Database) -> None:
    world = await make_program(db)
    rep = await make_reseller(db, world)
    badge = await add_test_achievement(db, world.program_id, target=2, points=50)
    first = await _reserve(db, world, rep, T0)
    second = await _reserve(db, world, rep, T0 + H)
    await process_outbox(db, T0 + 2 * H)
    assert await _tally(db, badge.id, rep.org_id) == 2
    assert await _balance(db, world, rep.org_id) == (50, 50)
    # The first lead goes back: its hit is gone, but the badge was completed by the second lead's event.
    await _return(db, rep, first, T0 + 3 * H)
    await process_outbox(db, T0 + 4 * H)
    assert await _tally(db, badge.id, rep.org_id) == 1
    assert await _balance(db, world, rep.org_id) == (50, 50)
    # The second goes back too: the badge stays earned, the points it paid are taken back.
    await _return(db, rep, second, T0 + 5 * H)
    await process_outbox(db, T0 + 6 * H)
    await process_outbox(db, T0 + 7 * H)  # a rerun takes back nothing twice
    assert await _tally(db, badge.id, rep.org_id) == 0
    assert await _balance(db, world, rep.org_id) == (0, 0)
    async with db.reader() as session:
        [earning] = (await session.execute(select(AchievementEarning))).scalars().all()
    assert earning.reversed_by_event_id is not None and earning.reversal_transfer_id is not None
    key = f"achievement:{badge.id}:{rep.org_id}:once"
    assert await achievement_transfers(db, world.program_id) == {key: (1, 50)}
    await assert_clean(db)


async def test_a_lead_taken_back_before_its_badge_is_paid_pays_nothing(db: Database) -> None:
    world = await make_program(db)
    rep = await make_reseller(db, world)
    await add_test_achievement(db, world.program_id, target=1, points=30)
    lead = await _reserve(db, world, rep, T0)
    await _return(db, rep, lead, T0 + H)
    await process_events(db, T0 + 2 * H)  # decided in one batch: earned, then taken back, before any payment
    await process_outbox(db, T0 + 2 * H)
    assert await _balance(db, world, rep.org_id) == (0, 0)
    assert await achievement_transfers(db, world.program_id) == {}


async def test_returned_and_invalid_leads_take_back_streaks_and_streak_badges(db: Database) -> None:
    world = await make_program(db)
    rep = await make_reseller(db, world)
    badge = await add_test_achievement(
        db, world.program_id, event="lead.feedback", kind="streak", streak="on_time_feedback", target=2, points=9
    )
    leads = []
    for i in range(2):
        lead = await _reserve(db, world, rep, T0 + i * H)
        async with db.transaction() as session:
            await services.give_feedback(session, rep.principal, lead, status="contacted", now=T0 + i * H + H / 2)
        leads.append(lead)
    await process_outbox(db, T0 + 3 * H)
    assert await _streak_values(db, world, rep, T0 + 3 * H) == {"on_time_feedback": 2, "active_weeks": 1}
    assert (await _tally(db, badge.id, rep.org_id), await _balance(db, world, rep.org_id)) == (2, (9, 9))
    await _return(db, rep, leads[1], T0 + 4 * H)
    await process_outbox(db, T0 + 5 * H)
    assert await _streak_values(db, world, rep, T0 + 5 * H) == {"on_time_feedback": 1, "active_weeks": 1}
    assert (await _tally(db, badge.id, rep.org_id), await _balance(db, world, rep.org_id)) == (1, (0, 0))
    # The manager marks the first lead invalid: the only activity of the week goes, and the week with it.
    async with db.transaction() as session:
        await corrections.mark_invalid(session, world.admin.principal, leads[0], reason="fake", now=T0 + 6 * H)
    await process_outbox(db, T0 + 7 * H)
    assert await _streak_values(db, world, rep, T0 + 7 * H) == {"on_time_feedback": 0, "active_weeks": 0}
    assert await _tally(db, badge.id, rep.org_id) == 0
    # A full rebuild from the lead events agrees: the taken-back leads count for nothing there either.
    async with db.transaction() as session:
        await streaks.rebuild(session, world.program_id, T0 + 8 * H)
    assert await _streak_values(db, world, rep, T0 + 8 * H) == {"on_time_feedback": 0, "active_weeks": 0}
    await assert_clean(db)


async def test_a_return_leaves_other_partners_progress_alone(db: Database) -> None:
    world = await make_program(db)
    rep, other = await make_reseller(db, world), await make_reseller(db, world)
    badge = await add_test_achievement(db, world.program_id, target=5)
    await _reserve(db, world, other, T0)
    mine = await _reserve(db, world, rep, T0 + H)
    await _return(db, rep, mine, T0 + 2 * H)
    await process_outbox(db, T0 + 3 * H)
    assert (await _tally(db, badge.id, rep.org_id), await _tally(db, badge.id, other.org_id)) == (0, 1)
    assert (await _streak_values(db, world, other, T0 + 3 * H))["active_weeks"] == 1


async def test_concurrent_take_backs_of_one_lead_happen_once(db: Database) -> None:
    world = await make_program(db)
    rep = await make_reseller(db, world)
    badge = await add_test_achievement(db, world.program_id, target=2, points=50)
    await _reserve(db, world, rep, T0)
    lead = await _reserve(db, world, rep, T0 + H)
    await process_outbox(db, T0 + 2 * H)
    # Returned, then marked invalid while offered again: two clawback events for the same progress.
    await _return(db, rep, lead, T0 + 3 * H)
    async with db.transaction() as session:
        await corrections.mark_invalid(session, world.admin.principal, lead, reason="duplicate", now=T0 + 4 * H)

    async def processor() -> None:
        await process_outbox(db, T0 + 5 * H)

    await asyncio.gather(*(processor() for _ in range(4)))
    await process_outbox(db, T0 + 5 * H)
    async with db.reader() as session:
        clawbacks = list(
            await session.execute(
                select(*OutboxEvent.__table__.c)
                .where(OutboxEvent.event_type.in_(("lead.returned", "lead.invalidated")))
                .order_by(OutboxEvent.id)
            )
        )

    # The same events taken back again at once, by two transactions racing (a redelivery).
    async def again() -> None:
        async with db.transaction() as session:
            await take_back_progress(session, clawbacks, T0 + 6 * H)

    await asyncio.gather(again(), again())
    assert await _tally(db, badge.id, rep.org_id) == 1
    async with db.reader() as session:
        taken_by = list(
            await session.scalars(select(AchievementHit.taken_back_by_event_id).order_by(AchievementHit.id))
        )
    assert taken_by == [None, clawbacks[0].id]  # the return took it back; the invalidation found nothing more
    assert await _balance(db, world, rep.org_id) == (0, 0)
    assert (await _streak_values(db, world, rep, T0 + 6 * H))["active_weeks"] == 1
    await assert_clean(db)
