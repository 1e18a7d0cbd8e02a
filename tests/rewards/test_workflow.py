"""The redemption workflow and its sweeps against a real database: states, crash recovery, expiry notices."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from incentives.db import Database, utcnow
from incentives.errors import InvalidState
from incentives.ledger import queries
from incentives.ledger import services as ledger
from incentives.ledger.models import LedgerTransfer
from incentives.ledger.verify import verify
from incentives.notifications import services as notifications
from incentives.notifications.models import Notification
from incentives.rewards import decisions, services
from incentives.rewards.coupons import ALPHABET, new_coupon_code
from incentives.rewards.jobs import finish_redemptions, notify_expiring
from incentives.rewards.models import MdfAllocation, Redemption, Reward
from tests.rewards.helpers import make_reward, make_rewards_world, redeem


async def _balance(db: Database, rw: object) -> tuple[int, int]:
    async with db.reader() as session:
        b = await queries.balance(session, rw.program_id, rw.org_id)  # type: ignore[attr-defined]
    return b.available, b.held


async def test_a_request_stores_the_row_it_returns(db: Database) -> None:
    """The request's row goes to the database with the ledger's hold (one round trip on SQLite): what is read
    back is what `redeem` returned, times and all, and the hold it names is the one holding the points."""
    rw = await make_rewards_world(db, points=1000)
    reward = await make_reward(db, rw, "bonus", points=100, limit_per_period=5, limit_period="month")
    made = await redeem(db, rw.manager, reward, quantity=2)
    async with db.reader() as session:
        stored = await session.get_one(Redemption, made.id)
        held = await session.scalar(select(LedgerTransfer.amount).where(LedgerTransfer.id == stored.hold_id))
    columns = [column.key for column in Redemption.__table__.columns]
    assert {name: getattr(stored, name) for name in columns} == {name: getattr(made, name) for name in columns}
    assert stored.created_at.tzinfo is not None and stored.period is not None and held == 200


async def test_rejection_and_cancellation_return_points_and_stock_at_once(db: Database) -> None:
    rw = await make_rewards_world(db, points=1000)
    reward = await make_reward(db, rw, "bonus", points=300, stock=2, limit_per_period=2, limit_period="year")
    first = await redeem(db, rw.manager, reward)
    second = await redeem(db, rw.manager, reward)
    assert await _balance(db, rw) == (400, 600)
    async with db.transaction() as session:
        rejected = await services.reject_redemption(session, rw.pam.principal, first.id, reason="no")
    async with db.transaction() as session:
        cancelled = await services.cancel_redemption(session, rw.manager.principal, second.id)
    assert (rejected.status, cancelled.status) == ("rejected", "cancelled")
    assert rejected.resolution_id is not None and cancelled.resolution_id is not None
    assert await _balance(db, rw) == (1000, 0)
    async with db.reader() as session:
        assert await session.scalar(select(Reward.stock).where(Reward.id == reward)) == 2
    again = [await redeem(db, rw.manager, reward) for _ in range(2)]  # stock and limit were given back
    assert [r.status for r in again] == ["pending", "pending"]
    with pytest.raises(InvalidState):
        async with db.transaction() as session:
            await services.cancel_redemption(session, rw.manager.principal, first.id)


async def test_mdf_allocation_amounts_are_exact(db: Database) -> None:
    rw = await make_rewards_world(db, points=1000)
    reward = await make_reward(db, rw, "mdf", points=100, value=Decimal("333.33"), auto_approve_up_to=1000)
    redemption = await redeem(db, rw.manager, reward, quantity=3)
    assert redemption.status == "fulfilled"
    async with db.reader() as session:
        allocation = await session.scalar(select(MdfAllocation).where(MdfAllocation.redemption_id == redemption.id))
    assert allocation is not None and allocation.amount == Decimal("999.99") == allocation.remaining


async def test_reconcile_sweep_finishes_what_a_crash_left_behind(db: Database) -> None:
    rw = await make_rewards_world(db, points=1000)
    reward = await make_reward(db, rw, "discount", points=100)
    approved = await redeem(db, rw.manager, reward)
    stuck = await redeem(db, rw.manager, reward)
    async with db.transaction() as session:
        # a crash after the decision, before the ledger posted: status approved, hold still open
        await session.execute(update(Redemption).where(Redemption.id == approved.id).values(status="approved"))
        # a crash after writing the request, before the hold: status requested, nothing held
        await session.execute(
            update(Redemption).where(Redemption.id == stuck.id).values(status="requested", hold_id=None)
        )
    later = utcnow() + dt.timedelta(minutes=5)
    assert await finish_redemptions(db, later) == 2
    assert await finish_redemptions(db, later) == 0  # nothing left to do; running it again changes nothing
    async with db.reader() as session:
        rows = {r.id: r for r in await session.scalars(select(Redemption))}
    assert rows[approved.id].status == "fulfilled" and rows[approved.id].coupon_code
    # the stuck request's hold is found again through its ledger key: one hold, not two
    assert rows[stuck.id].status == "pending" and rows[stuck.id].hold_id == stuck.hold_id
    assert await _balance(db, rw) == (800, 100)


async def test_expiry_notice_30_days_before_once_in_the_readers_language(db: Database) -> None:
    rw = await make_rewards_world(db)
    now = utcnow()
    async with db.transaction() as session:
        await ledger.award_points(
            session,
            program_id=rw.program_id,
            org_id=rw.org_id,
            points=1250,
            key="old",
            now=now - dt.timedelta(days=715),
        )
    assert await notify_expiring(db, now) == 1
    await notify_expiring(db, now)
    async with db.reader() as session:
        stored = list(await session.scalars(select(Notification)))
        assert len(stored) == 1
        shown = notifications.show(stored[0], "de")
    assert shown.text.startswith("1.250 Punkte verfallen am ") and shown.link == "/wallet"
    assert notifications.show(stored[0], "en").text.startswith("1,250 points expire on ")


def test_coupon_codes_are_unique_over_100k() -> None:
    codes = {new_coupon_code() for _ in range(100_000)}
    assert len(codes) == 100_000
    sample = next(iter(codes))
    assert len(sample) == len("RW-XXXX-XXXX-XXXX-XXXX") and set(sample[3:].replace("-", "")) <= set(ALPHABET)


async def test_notifications_are_private_to_the_org_and_marked_read_once(db: Database) -> None:
    rw = await make_rewards_world(db, points=500)
    other = await make_rewards_world(db, points=500)
    async with db.transaction() as session:
        await notifications.notify(
            session,
            program_id=rw.program_id,
            org_id=rw.org_id,
            kind="test",
            message="Hello %(name)s",
            params={"name": "A"},
        )
    async with db.reader() as session:
        mine = await notifications.list_notifications(session, rw.rep.principal)
        assert len(mine) == 1 and await notifications.unread_count(session, rw.manager.principal) == 1
        assert await notifications.list_notifications(session, other.manager.principal) == []
    async with db.transaction() as session:
        assert await notifications.mark_read(session, other.manager.principal, [mine[0].id]) == 0
    async with db.transaction() as session:
        assert await notifications.mark_read(session, rw.manager.principal, [mine[0].id]) == 1
    async with db.reader() as session:
        assert await notifications.unread_count(session, rw.rep.principal) == 0


async def test_an_approval_and_a_rejection_notify_once_with_their_decision_and_a_refused_one_not(
    db: Database,
) -> None:
    """The notification is written with the decision's row (PostgreSQL: in its statement): a decision that is
    refused leaves none behind, a cancellation tells no one."""
    rw = await make_rewards_world(db, points=1000)
    reward = await make_reward(db, rw, "bonus", points=100)
    approved, rejected, cancelled = [await redeem(db, rw.manager, reward) for _ in range(3)]
    async with db.transaction() as session:
        await services.approve_redemption(session, rw.pam.principal, approved.id)
    async with db.transaction() as session:
        await services.reject_redemption(session, rw.pam.principal, rejected.id, reason="No budget")
    async with db.transaction() as session:
        await services.cancel_redemption(session, rw.manager.principal, cancelled.id)
    for redemption in (approved, rejected, cancelled):
        with pytest.raises(InvalidState):
            async with db.transaction() as session:
                await services.approve_redemption(session, rw.pam.principal, redemption.id)
    async with db.reader() as session:
        stored = await notifications.list_notifications(session, rw.manager.principal)
    assert sorted(notifications.show(note, "en").text for note in stored) == [
        "Your redemption of Reward bonus (100 points) was approved.",
        "Your redemption of Reward bonus (100 points) was rejected: No budget",
    ]
    assert {note.program_id for note in stored} == {rw.program_id} and {note.link for note in stored} == {
        "/redemptions"
    }


async def test_reconcile_sweep_voids_a_rejection_a_crash_left_open_and_notifies_once(db: Database) -> None:
    rw = await make_rewards_world(db, points=1000)
    reward = await make_reward(db, rw, "bonus", points=100)
    stuck = await redeem(db, rw.manager, reward)
    async with db.transaction() as session:
        # an older version's crash after the rejection, before the ledger voided the hold
        await session.execute(
            update(Redemption).where(Redemption.id == stuck.id).values(status="rejected", reason="Late")
        )
    later = utcnow() + dt.timedelta(minutes=5)
    assert await finish_redemptions(db, later) == 1
    assert await finish_redemptions(db, later) == 0
    assert await _balance(db, rw) == (1000, 0)
    async with db.reader() as session:
        assert await session.scalar(select(Redemption.resolution_id).where(Redemption.id == stuck.id)) is not None
        stored = await notifications.list_notifications(session, rw.manager.principal)
    assert [notifications.show(note, "en").text for note in stored] == [
        "Your redemption of Reward bonus (100 points) was rejected: Late"
    ]


async def test_a_decision_reads_back_as_written_and_a_coupon_code_taken_makes_it_run_again(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The decision's row and its notification are written without the ORM (SQLite: in one call into the
    connection's thread): they read back as written, and a unique code already taken rolls the whole
    approval back, which then runs again with a new code."""
    rw = await make_rewards_world(db, points=1000)
    reward = await make_reward(db, rw, "discount", points=100)
    first, second = await redeem(db, rw.manager, reward), await redeem(db, rw.manager, reward)
    at = dt.datetime(2026, 11, 27, 12, 30, 15, 123456, tzinfo=dt.UTC)
    async with db.transaction() as session:
        done = await services.approve_redemption(session, rw.pam.principal, first.id, now=at)
    codes = iter([done.coupon_code, "RW-AAAA-BBBB-CCCC-DDDD"])
    monkeypatch.setattr(decisions, "new_coupon_code", lambda: next(codes))
    again = await db.run(lambda session: services.approve_redemption(session, rw.pam.principal, second.id, now=at))
    assert again.coupon_code == "RW-AAAA-BBBB-CCCC-DDDD"
    async with db.reader() as session:
        rows = list(await session.scalars(select(Redemption).order_by(Redemption.id)))
        stored = await notifications.list_notifications(session, rw.manager.principal)
        assert await verify(session) == []
    assert [(r.status, r.decided_at, r.fulfilled_at, r.decided_by_id) for r in rows] == [
        ("fulfilled", at, at, rw.pam.principal.user_id)
    ] * 2
    assert [r.coupon_code for r in rows] == [done.coupon_code, "RW-AAAA-BBBB-CCCC-DDDD"]
    assert [note.params for note in stored] == [
        {"reward": {"de": "Prämie discount", "en": "Reward discount"}, "points": {"points": 100}}
    ] * 2
    assert all(note.created_at.tzinfo is not None and note.read_at is None for note in stored)
    assert await _balance(db, rw) == (800, 0)
