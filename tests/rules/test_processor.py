"""Processing: each (event, rule) pays exactly once through replays, crashes and concurrent processors."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select, update

from incentives.db import Database
from incentives.leads.models import OutboxEvent
from incentives.ledger import services as ledger
from incentives.ledger.models import LedgerTransfer
from incentives.notifications.models import Notification
from incentives.rules.models import RuleAward, RuleSkip
from incentives.rules.processor import award_key, decide_batch, process_events
from incentives.rules.services import RuleInput, update_rule
from tests.factories import make_member, make_program
from tests.ledger import assert_clean
from tests.rules import T0, add_events, add_test_rule, earned, transfers_by_key

NOW = T0 + dt.timedelta(hours=1)


async def test_replays_pay_nothing_twice(db: Database) -> None:
    world = await make_program(db)
    orgs = [await make_member(db, world), await make_member(db, world)]
    first = await add_test_rule(db, world.program_id)
    second = await add_test_rule(db, world.program_id, points="5", condition='partner.tier == "gold"')
    ids = await add_events(db, world.program_id, orgs, 10)
    assert await process_events(db, NOW) == 10
    assert await process_events(db, NOW) == 0
    # At-least-once delivery: the same events come again.
    async with db.transaction() as session:
        await session.execute(update(OutboxEvent).values(processed_at=None))
    assert await process_events(db, NOW) == 10
    keys = await transfers_by_key(db, world.program_id)
    assert keys == {award_key(rule.rule_id, i): 1 for i in ids for rule in (first, second)}
    assert await earned(db, world.program_id) == 10 * 35
    await assert_clean(db)


async def test_two_processors_at_once_pay_once(db: Database) -> None:
    world = await make_program(db)
    orgs = [await make_member(db, world) for _ in range(3)]
    rule = await add_test_rule(db, world.program_id)
    ids = await add_events(db, world.program_id, orgs, 60)
    await asyncio.gather(process_events(db, NOW, limit=7), process_events(db, NOW, limit=11))
    assert await transfers_by_key(db, world.program_id) == {award_key(rule.rule_id, i): 1 for i in ids}
    assert await earned(db, world.program_id) == 60 * 30
    await assert_clean(db)


async def test_crash_after_deciding_and_failing_payment_then_rerun(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await make_program(db)
    orgs = [await make_member(db, world) for _ in range(2)]
    rule = await add_test_rule(db, world.program_id)
    ids = await add_events(db, world.program_id, orgs, 12)
    # Crash 1: decisions committed, the process dies before paying anything.
    async with db.session() as session:
        assert await decide_batch(session, NOW, limit=5) == 5
    assert await transfers_by_key(db, world.program_id) == {}
    # Crash 2: the ledger fails for one org mid-batch; the others are paid, the failure is recorded.
    real_batch = ledger.award_batch

    async def flaky_batch(session: object, **kwargs: Any) -> object:
        # The batch fails as a whole; paid one by one, only the first org's awards fail.
        if len(kwargs["awards"]) > 1 or kwargs["awards"][0].org_id == orgs[0]:
            raise RuntimeError("connection lost")
        return await real_batch(session, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ledger, "award_batch", flaky_batch)
    await process_events(db, NOW, limit=5)
    paid = await transfers_by_key(db, world.program_id)
    assert len(paid) == 6 and all(count == 1 for count in paid.values())
    async with db.reader() as session:
        errors = (
            await session.execute(select(RuleAward.attempts, RuleAward.last_error).where(RuleAward.paid_at.is_(None)))
        ).all()
    assert len(errors) == 6 and all(row.attempts >= 1 and "connection lost" in row.last_error for row in errors)
    monkeypatch.undo()
    await process_events(db, NOW)
    assert await transfers_by_key(db, world.program_id) == {award_key(rule.rule_id, i): 1 for i in ids}
    await assert_clean(db)


async def test_a_broken_event_is_recorded_and_the_others_continue(db: Database) -> None:
    world = await make_program(db)
    org = await make_member(db, world)
    rule = await add_test_rule(db, world.program_id)
    good = await add_events(db, world.program_id, [org], 3)
    async with db.transaction() as session:
        broken = OutboxEvent(program_id=world.program_id, event_type="lead.reserved", org_id=None, payload={}, at=T0)
        session.add(broken)
    more = await add_events(db, world.program_id, [org], 2)
    await process_events(db, NOW)
    async with db.reader() as session:
        stuck = await session.get_one(OutboxEvent, broken.id)
        assert stuck.processed_at is None and stuck.attempts >= 1 and "no partner org" in (stuck.last_error or "")
    assert set(await transfers_by_key(db, world.program_id)) == {award_key(rule.rule_id, i) for i in good + more}


async def test_a_failing_expression_skips_that_rule_only(db: Database) -> None:
    world = await make_program(db)
    org = await make_member(db, world)
    good = await add_test_rule(db, world.program_id)
    bad = await add_test_rule(db, world.program_id, points="100 / (lead.wave - 1)")
    [event] = await add_events(db, world.program_id, [org], 1)
    await process_events(db, NOW)
    assert await transfers_by_key(db, world.program_id) == {award_key(good.rule_id, event): 1}
    async with db.reader() as session:
        skip = await session.scalar(select(RuleSkip).where(RuleSkip.rule_id == bad.rule_id))
    assert skip is not None and skip.event_id == event and "division by zero" in skip.reason


async def test_caps_hold_under_concurrent_processors(db: Database) -> None:
    world = await make_program(db)
    orgs = [await make_member(db, world), await make_member(db, world)]
    rule = await add_test_rule(db, world.program_id, points="30", cap_per="day", cap_max_points=100)
    await add_events(db, world.program_id, orgs, 50)  # 25 each, all on one day
    await add_events(db, world.program_id, orgs[:1], 2, at=T0 + dt.timedelta(days=1))  # the next day: new room
    await asyncio.gather(*(process_events(db, NOW, limit=3) for _ in range(5)))
    async with db.reader() as session:
        rows = await session.execute(
            select(LedgerTransfer.credit_account_id, func.sum(LedgerTransfer.amount), func.count())
            .where(LedgerTransfer.rule_id == rule.rule_id)
            .group_by(LedgerTransfer.credit_account_id)
        )
        totals = sorted((int(total), count) for _, total, count in rows.all())
    # The award that would pass the cap pays the remainder (30 + 30 + 30 + 10), then nothing.
    assert totals == [(100, 4), (160, 6)]
    await assert_clean(db)


async def test_editing_makes_a_version_and_awards_name_theirs(db: Database) -> None:
    world = await make_program(db)
    org = await make_member(db, world)
    rule = await add_test_rule(db, world.program_id, points="10")
    [early] = await add_events(db, world.program_id, [org], 1)
    await process_events(db, NOW)
    async with db.transaction() as session:
        data = RuleInput(world.program_id, "Neu", "New", "lead.reserved", "true", "20")
        edited = await update_rule(session, world.admin.principal, rule.rule_id, data)
    assert edited.version == 2
    [late] = await add_events(db, world.program_id, [org], 1)
    await process_events(db, NOW)
    async with db.reader() as session:
        rows = await session.execute(
            select(LedgerTransfer.idempotency_key, LedgerTransfer.rule_version, LedgerTransfer.amount).where(
                LedgerTransfer.rule_id == rule.rule_id
            )
        )
        found = sorted(rows.all())
    assert found == sorted([(award_key(rule.rule_id, early), 1, 10), (award_key(rule.rule_id, late), 2, 20)])


async def test_each_paid_award_leaves_one_notice_for_its_partner(db: Database) -> None:
    world = await make_program(db)
    orgs = [await make_member(db, world) for _ in range(2)]
    await add_test_rule(db, world.program_id, name_en="Cold lead reserved", name_de="Kalter Lead reserviert")
    await add_events(db, world.program_id, orgs, 4)
    await process_events(db, NOW)
    await process_events(db, NOW)  # a rerun pays nothing twice, and tells nothing twice
    async with db.reader() as session:
        notices = (
            await session.execute(
                select(Notification.org_id, Notification.params).where(
                    Notification.program_id == world.program_id, Notification.kind == "points.awarded"
                )
            )
        ).all()
    assert sorted(org for org, _ in notices) == sorted(orgs * 2)
    assert all(params["points"] == {"points": 30} for _, params in notices)
    assert all(params["rule"] == {"de": "Kalter Lead reserviert", "en": "Cold lead reserved"} for _, params in notices)
