"""Streaks through the real lead services: on-time feedback and active weeks, the overdue sweep's reset, the
values rules and achievements see in `partner.streak.*`, and a rebuild from the lead events."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from incentives.db import Database
from incentives.engagement.jobs import process_outbox
from incentives.leads import services, streaks
from incentives.leads.jobs import notice_overdue_feedback
from incentives.leads.models import OutboxEvent, StreakState
from tests.engagement import add_test_achievement, earnings
from tests.factories import Actor, ProgramWorld, make_program
from tests.leads.helpers import make_lead, make_reseller
from tests.rules import add_test_rule, transfers_by_key

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)  # a Monday, 10:00 in Berlin
H = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


async def _reserve(db: Database, world: ProgramWorld, rep: Actor, at: dt.datetime) -> int:
    lead = await make_lead(db, world, now=at)
    async with db.transaction() as session:
        await services.reserve_lead(session, rep.principal, lead.id, at)
    return lead.id


async def _feedback(
    db: Database, rep: Actor, lead_id: int, at: dt.datetime, status: str = "contacted", **extra: str
) -> None:
    async with db.transaction() as session:
        await services.give_feedback(session, rep.principal, lead_id, status=status, now=at, **extra)


async def _streaks(db: Database, world: ProgramWorld, rep: Actor, now: dt.datetime) -> dict[str, streaks.Streak]:
    async with db.reader() as session:
        return {s.key: s for s in await streaks.streaks_of(session, world.program_id, rep.org_id, now)}


async def test_on_time_feedback_counts_leads_and_the_overdue_sweep_resets_it(db: Database) -> None:
    world = await make_program(db)
    rep = await make_reseller(db, world)
    first = await _reserve(db, world, rep, T0)
    second = await _reserve(db, world, rep, T0 + H)
    await _feedback(db, rep, first, T0 + 2 * H)
    await _feedback(db, rep, first, T0 + 3 * H, "meeting")  # a later status of the same lead adds nothing
    await _feedback(db, rep, second, T0 + 4 * H)
    found = await _streaks(db, world, rep, T0 + 5 * H)
    on_time = found["on_time_feedback"]
    assert (on_time.current, on_time.best) == (2, 2)
    # At risk at the next due date of an open lead (48 h after the last feedback on `first`).
    assert on_time.at_risk_at == T0 + 3 * H + 48 * H
    # The payload of the second lead's feedback carried the streak after it.
    async with db.reader() as session:
        last = await session.scalar(select(OutboxEvent.payload).order_by(OutboxEvent.id.desc()).limit(1))
    assert last is not None and last["partner"]["streak"] == {"on_time_feedback": 2, "active_weeks": 1}
    # Nothing is overdue yet: the sweep changes nothing. Once `first` is due, its mark resets the streak.
    assert await notice_overdue_feedback(db, T0 + 5 * H) == 0
    assert await notice_overdue_feedback(db, T0 + 3 * H + 48 * H) == 1
    on_time = (await _streaks(db, world, rep, T0 + 52 * H))["on_time_feedback"]
    assert (on_time.current, on_time.best, on_time.at_risk_at) == (0, 2, None)
    # A late answer neither counts nor resets again; the next lead answered on time starts a new run.
    await _feedback(db, rep, first, T0 + 60 * H, "proposal")
    await _feedback(db, rep, second, T0 + 60 * H, "meeting")  # late too, before any sweep marked it
    third = await _reserve(db, world, rep, T0 + 61 * H)
    await _feedback(db, rep, third, T0 + 62 * H)
    assert (await _streaks(db, world, rep, T0 + 63 * H))["on_time_feedback"].current == 1


async def test_active_weeks_count_consecutive_weeks_and_break_after_an_empty_one(db: Database) -> None:
    world = await make_program(db)
    rep = await make_reseller(db, world)
    week = dt.timedelta(days=7)
    lead = await _reserve(db, world, rep, T0)
    await _feedback(db, rep, lead, T0 + 1 * week, "lost", lost_reason="Preis")
    other = await _reserve(db, world, rep, T0 + 2 * week)
    weeks = (await _streaks(db, world, rep, T0 + 2 * week + H))["active_weeks"]
    assert (weeks.current, weeks.best, weeks.at_risk_at) == (3, 3, None)  # this week is active already
    # Next week, nothing yet: at risk until Sunday ends in Berlin (Monday 00:00 CET = 23:00 UTC).
    weeks = (await _streaks(db, world, rep, T0 + 3 * week))["active_weeks"]
    assert (weeks.current, weeks.at_risk_at) == (3, dt.datetime(2026, 3, 29, 22, 0, tzinfo=dt.UTC))  # CEST starts
    # A whole week skipped: the run is over, the best stays.
    weeks = (await _streaks(db, world, rep, T0 + 4 * week))["active_weeks"]
    assert (weeks.current, weeks.best, weeks.at_risk_at) == (0, 3, None)
    await _feedback(db, rep, other, T0 + 4 * week)
    weeks = (await _streaks(db, world, rep, T0 + 4 * week))["active_weeks"]
    assert (weeks.current, weeks.best) == (1, 3)


async def test_a_rule_and_a_streak_badge_read_the_streak_of_their_event(db: Database) -> None:
    world = await make_program(db)
    rep = await make_reseller(db, world)
    rule = await add_test_rule(
        db,
        world.program_id,
        event="lead.feedback",
        condition="partner.streak.on_time_feedback == 2 && has(partner.streak.active_weeks)",
        points="25",
    )
    badge = await add_test_achievement(
        db, world.program_id, event="lead.feedback", kind="streak", streak="on_time_feedback", target=2, points=15
    )
    for i in range(3):
        lead = await _reserve(db, world, rep, T0 + i * H)
        await _feedback(db, rep, lead, T0 + i * H + dt.timedelta(minutes=30))
    await process_outbox(db, T0 + 5 * H)
    # Only the second lead's feedback came with a streak of 2.
    assert len([key for key in await transfers_by_key(db, world.program_id) if f":{rule.rule_id}:" in key]) == 1
    assert await earnings(db, badge.id) == [(rep.org_id, "once")]


async def test_rebuild_from_lead_events_gives_the_states_kept_on_the_way(db: Database) -> None:
    world = await make_program(db)
    reps = [await make_reseller(db, world) for _ in range(2)]
    at = T0
    for step in range(6):  # every call later than the one before, as in real life
        leads = [await _reserve(db, world, rep, at + index * H) for index, rep in enumerate(reps)]
        late = [(step + index) % 3 == 0 for index in range(len(reps))]
        for rep, lead, is_late in zip(reps, leads, late, strict=True):
            if not is_late:
                await _feedback(db, rep, lead, at + 3 * H, "lost", lost_reason="Preis")
        await notice_overdue_feedback(db, at + 60 * H)  # marks the late ones
        for rep, lead, is_late in zip(reps, leads, late, strict=True):
            if is_late:
                await _feedback(db, rep, lead, at + 61 * H, "lost", lost_reason="Preis")
        at += dt.timedelta(days=4)
    kept = await _states(db, world.program_id)
    async with db.transaction() as session:
        await streaks.rebuild(session, world.program_id, at)
    assert await _states(db, world.program_id) == kept and kept


async def _states(db: Database, program_id: int) -> list[tuple[int, str, int, int, int | None]]:
    async with db.reader() as session:
        rows = await session.execute(
            select(StreakState.org_id, StreakState.key, StreakState.current, StreakState.best, StreakState.last_week)
            .where(StreakState.program_id == program_id)
            .order_by(StreakState.org_id, StreakState.key)
        )
        return [tuple(row) for row in rows.all()]  # type: ignore[misc]
