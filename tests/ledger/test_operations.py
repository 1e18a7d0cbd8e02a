"""Ledger operations one at a time: idempotency, holds, reversal, expiry, batches, immutability, crashes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError

from incentives.accounts.models import Program
from incentives.db import Database
from incentives.errors import IdempotencyConflict, InvalidState, NotFound, ValidationFailed
from incentives.ledger import book, lots, queries, services
from incentives.ledger import jobs as ledger_jobs
from incentives.ledger.errors import InsufficientPoints
from incentives.ledger.models import AccountKind, LedgerTransfer
from incentives.ledger.services import Award, Cause
from tests.ledger import T0, assert_clean, balance, program_with_partners


async def _count_transfers(db: Database) -> int:
    async with db.reader() as session:
        return int(await session.scalar(select(func.count()).select_from(LedgerTransfer)) or 0)


async def test_earn_is_idempotent(db: Database) -> None:
    program, [org] = await program_with_partners(db)
    cause = Cause(rule_id=7, rule_version=2, lead_id=99)
    async with db.transaction() as session:
        first = await services.award_points(session, program_id=program, org_id=org, points=40, key="e1", cause=cause)
    async with db.transaction() as session:
        again = await services.award_points(session, program_id=program, org_id=org, points=40, key="e1", cause=cause)
    assert again.replayed and again.id == first.id and again.rule_version == 2
    with pytest.raises(IdempotencyConflict):
        async with db.transaction() as session:
            await services.award_points(session, program_id=program, org_id=org, points=41, key="e1", cause=cause)
    assert await _count_transfers(db) == 1
    assert (await balance(db, program, org)).available == 40
    await assert_clean(db)


async def test_hold_resolves_exactly_once(db: Database) -> None:
    program, [org] = await program_with_partners(db)
    async with db.transaction() as session:
        await services.award_points(session, program_id=program, org_id=org, points=100, key="e", now=T0)
        hold = await services.hold_points(session, program_id=program, org_id=org, points=60, kind="mdf", key="h")
    assert await balance(db, program, org) == queries.Balance(program, org, 40, 60, 100)
    with pytest.raises(InvalidState):
        async with db.transaction() as session:
            await services.post_hold(session, program_id=program, hold_id=hold.id, points=61, key="p0")
    async with db.transaction() as session:
        await services.post_hold(session, program_id=program, hold_id=hold.id, points=50, key="p1")
        replay = await services.post_hold(session, program_id=program, hold_id=hold.id, points=50, key="p1")
    assert replay.replayed
    for attempt in ("post", "void"):
        with pytest.raises(InvalidState):
            async with db.transaction() as session:
                if attempt == "post":
                    await services.post_hold(session, program_id=program, hold_id=hold.id, key="p2")
                else:
                    await services.void_hold(session, program_id=program, hold_id=hold.id, key="v2")
    assert await balance(db, program, org) == queries.Balance(program, org, 50, 0, 100)
    await assert_clean(db)


async def test_another_programs_hold_or_award_is_not_found(db: Database) -> None:
    """Holds and awards are found by id; one of another program is refused as if it did not exist."""
    program, [org] = await program_with_partners(db)
    other, _ = await program_with_partners(db)
    async with db.transaction() as session:
        award = await services.award_points(session, program_id=program, org_id=org, points=100, key="e", now=T0)
        hold = await services.hold_points(session, program_id=program, org_id=org, points=60, kind="mdf", key="h")
    attempts = (
        lambda session: services.post_hold(session, program_id=other, hold_id=hold.id, key="p"),
        lambda session: services.void_hold(session, program_id=other, hold_id=hold.id, key="v"),
        lambda session: services.reverse_award(session, program_id=other, award_id=award.id, key="r"),
    )
    for attempt in attempts:
        with pytest.raises(NotFound):
            async with db.transaction() as session:
                await attempt(session)
    assert await balance(db, program, org) == queries.Balance(program, org, 40, 60, 100)
    await assert_clean(db)


async def test_void_and_timeout_return_points(db: Database) -> None:
    program, [org] = await program_with_partners(db)
    async with db.transaction() as session:
        await services.award_points(session, program_id=program, org_id=org, points=100, key="e", now=T0)
        hold = await services.hold_points(session, program_id=program, org_id=org, points=30, kind="bonus", key="h1")
        timed = await services.hold_points(
            session,
            program_id=program,
            org_id=org,
            points=20,
            kind="discount",
            key="h2",
            timeout_at=T0 + dt.timedelta(days=1),
        )
        await services.void_hold(session, program_id=program, hold_id=hold.id, key="v1")
    assert await ledger_jobs.void_timed_out_holds(db, T0) == 0
    assert await ledger_jobs.void_timed_out_holds(db, T0 + dt.timedelta(days=2)) == 1
    assert await ledger_jobs.void_timed_out_holds(db, T0 + dt.timedelta(days=2)) == 0
    assert await balance(db, program, org) == queries.Balance(program, org, 100, 0, 100)
    async with db.reader() as session:
        resolution = await session.scalar(select(LedgerTransfer.kind).where(LedgerTransfer.pending_id == timed.id))
    assert resolution == "void"
    await assert_clean(db)


async def test_no_overdraft_and_validation(db: Database) -> None:
    program, [org] = await program_with_partners(db)
    async with db.transaction() as session:
        await services.award_points(session, program_id=program, org_id=org, points=10, key="e")
    with pytest.raises(InsufficientPoints):
        async with db.transaction() as session:
            await services.redeem_points(session, program_id=program, org_id=org, points=11, kind="mdf", key="r")
    with pytest.raises(ValidationFailed):
        async with db.transaction() as session:
            await services.redeem_points(session, program_id=program, org_id=org, points=0, kind="mdf", key="r")
    with pytest.raises(ValidationFailed):
        async with db.transaction() as session:
            await services.redeem_points(session, program_id=program, org_id=org, points=1, kind="cash", key="r")
    with pytest.raises(ValidationFailed):
        async with db.transaction() as session:
            await services.adjust_points(session, program_id=program, org_id=org, points=5, key="a", cause=Cause())
    assert await _count_transfers(db) == 1
    await assert_clean(db)


async def test_reverse_books_the_spent_part_against_clawback(db: Database) -> None:
    program, [org] = await program_with_partners(db)
    async with db.transaction() as session:
        award = await services.award_points(session, program_id=program, org_id=org, points=100, key="e1", now=T0)
        await services.award_points(session, program_id=program, org_id=org, points=50, key="e2", now=T0)
        # Oldest first: the 70 come out of the first award's lot.
        await services.redeem_points(session, program_id=program, org_id=org, points=70, kind="mdf", key="r")
        reversal = await services.reverse_award(session, program_id=program, award_id=award.id, key="x")
        replay = await services.reverse_award(session, program_id=program, award_id=award.id, key="x")
    assert reversal.amount == 100 and replay.replayed
    with pytest.raises(InvalidState):
        async with db.transaction() as session:
            await services.reverse_award(session, program_id=program, award_id=award.id, key="y")
    assert await balance(db, program, org) == queries.Balance(program, org, 50, 0, 50)
    async with db.reader() as session:
        assert await queries.system_balance(session, program, AccountKind.CLAWBACK) == 70
        # Issued 150, got 100 back: 70 from the clawback receivable, 30 from the partner.
        assert await queries.system_balance(session, program, AccountKind.ISSUANCE) == 50
        assert await queries.system_balance(session, program, AccountKind.MDF) == 70
    await assert_clean(db)


async def test_reversing_an_award_taken_back_by_an_adjustment_keeps_issuance_whole(db: Database) -> None:
    """Found by the state machine: award 11, adjust −11, reverse the award left issuance at −11."""
    program, [org] = await program_with_partners(db)
    async with db.transaction() as session:
        award = await services.award_points(session, program_id=program, org_id=org, points=11, key="e", now=T0)
        await services.adjust_points(
            session, program_id=program, org_id=org, points=-11, key="a", cause=Cause(reason="wrong lead")
        )
        await services.reverse_award(session, program_id=program, award_id=award.id, key="x")
    assert await balance(db, program, org) == queries.Balance(program, org, 0, 0, 0)
    async with db.reader() as session:
        assert await queries.system_balance(session, program, AccountKind.ADJUSTED) == 11
        assert await queries.system_balance(session, program, AccountKind.CLAWBACK) == 11
        assert await queries.system_balance(session, program, AccountKind.ISSUANCE) == 0
    await assert_clean(db)


async def test_expiry_takes_what_is_left_and_not_held_once(db: Database) -> None:
    program, [org] = await program_with_partners(db)
    async with db.transaction() as session:
        await services.award_points(session, program_id=program, org_id=org, points=100, key="old", now=T0)
        await services.award_points(
            session, program_id=program, org_id=org, points=10, key="new", now=T0 + dt.timedelta(days=400)
        )
        await services.redeem_points(session, program_id=program, org_id=org, points=30, kind="mdf", key="r")
        hold = await services.hold_points(session, program_id=program, org_id=org, points=20, kind="mdf", key="h")
    async with db.reader() as session:
        soon = await queries.expiring(session, program, org, now=T0 + dt.timedelta(days=700))
    assert [e.points for e in soon] == [50]
    later = T0 + dt.timedelta(days=800)
    assert await ledger_jobs.expire_points(db, later) == 50
    assert await ledger_jobs.expire_points(db, later) == 0
    assert await balance(db, program, org) == queries.Balance(program, org, 10, 20, 110)
    # A void after expiry gives the lot its points back; the next sweep takes them.
    async with db.transaction() as session:
        await services.void_hold(session, program_id=program, hold_id=hold.id, key="v", now=later)
    assert await ledger_jobs.expire_points(db, later) == 20
    assert await balance(db, program, org) == queries.Balance(program, org, 10, 0, 110)
    await assert_clean(db)


async def test_spending_reads_past_the_first_page_of_lots(db: Database) -> None:
    """Lots are read a page at a time: a spend that needs more than the first page's live lots, and one that
    finds a whole page (and more) of expired lots first, still go oldest first and expire what is due."""
    page = lots.LOT_PAGE
    program, [org] = await program_with_partners(db)
    # page + 20 lots earned a day apart (the oldest expire first), one point each.
    for day in range(page + 20):
        async with db.transaction() as session:
            await services.award_batch(
                session,
                program_id=program,
                awards=[Award(org, 1, f"e{day}")],
                now=T0 + dt.timedelta(days=day),
            )
    async with db.transaction() as session:
        await services.redeem_points(
            session, program_id=program, org_id=org, points=page + 5, kind="mdf", key="r1", now=T0
        )
    async with db.reader() as session:
        left = (
            (
                await session.execute(
                    select(book.LOT.remaining)
                    .join(book.ACCOUNTS, book.ACCOUNT.id == book.LOT.account_id)
                    .where(book.ACCOUNT.org_id == org)
                    .order_by(book.LOT.expires_at)
                )
            )
            .scalars()
            .all()
        )
    assert left == [0] * (page + 5) + [1] * 15
    # When the lot of day page + 14 expires, so have the ten oldest of the rest: a hold expires them first.
    later = book.add_months(T0 + dt.timedelta(days=page + 14), 24)
    async with db.transaction() as session:
        await services.hold_points(session, program_id=program, org_id=org, points=3, kind="bonus", key="h", now=later)
    assert await balance(db, program, org) == queries.Balance(program, org, 15 - 10 - 3, 3, page + 20)
    await assert_clean(db)


async def test_a_page_of_expired_lots_is_expired_before_spending(db: Database) -> None:
    page = lots.LOT_PAGE
    program, [org] = await program_with_partners(db)
    async with db.transaction() as session:
        await services.award_batch(
            session, program_id=program, awards=[Award(org, 1, f"old{i}") for i in range(page + 10)], now=T0
        )
        await services.award_points(
            session, program_id=program, org_id=org, points=50, key="new", now=T0 + dt.timedelta(days=400)
        )
    later = T0 + dt.timedelta(days=800)
    async with db.transaction() as session:
        await services.redeem_points(session, program_id=program, org_id=org, points=40, kind="mdf", key="r", now=later)
    assert await balance(db, program, org) == queries.Balance(program, org, 10, 0, page + 60)
    async with db.reader() as session:
        assert await queries.system_balance(session, program, AccountKind.EXPIRED) == page + 10
    await assert_clean(db)


async def test_a_single_award_books_what_a_batch_books(db: Database) -> None:
    """PostgreSQL books a single award in one statement of its own (`ledger/postgres.py`): the same transfer,
    counters and lot as the portable path, the lot's expiry clamped to the month's end, a booked key replayed."""
    program, [org] = await program_with_partners(db)
    january_31 = dt.datetime(2027, 1, 31, 23, 30, tzinfo=dt.UTC)
    async with db.transaction() as session:
        await session.execute(update(Program).where(Program.id == program).values(points_expiry_months=1))
    async with db.transaction() as session:
        single = await services.award_points(
            session, program_id=program, org_id=org, points=7, key="one", now=january_31
        )
        [batched] = await services.award_batch(
            session, program_id=program, awards=[Award(org, 7, "many")], now=january_31
        )
        again = await services.award_points(
            session, program_id=program, org_id=org, points=7, key="one", now=january_31
        )
    assert again.replayed and again.id == single.id and not single.replayed
    async with db.reader() as session:
        booked = (
            await session.execute(
                select(
                    book.LOT.transfer_id, book.LOT.amount, book.LOT.remaining, book.LOT.held, book.LOT.expires_at
                ).order_by(book.LOT.transfer_id)
            )
        ).all()
    february_28 = dt.datetime(2027, 2, 28, 23, 30, tzinfo=dt.UTC)
    assert [tuple(row) for row in booked] == [(single.id, 7, 7, 0, february_28), (batched.id, 7, 7, 0, february_28)]
    assert (await balance(db, program, org)) == queries.Balance(program, org, 14, 0, 14)
    await assert_clean(db)


async def test_batch_is_all_or_nothing(db: Database) -> None:
    program, orgs = await program_with_partners(db, 3)
    awards = [Award(org, 10 + i, f"b{i}") for i, org in enumerate(orgs * 3)]
    async with db.transaction() as session:
        await services.award_points(session, program_id=program, org_id=orgs[0], points=1, key="b0")
    with pytest.raises(IdempotencyConflict):
        async with db.transaction() as session:
            await services.award_batch(session, program_id=program, awards=awards)
    assert await _count_transfers(db) == 1
    awards[0] = Award(orgs[0], 1, "b0")
    async with db.transaction() as session:
        done = await services.award_batch(session, program_id=program, awards=awards)
    assert [t.replayed for t in done] == [True] + [False] * 8
    async with db.transaction() as session:
        again = await services.award_batch(session, program_id=program, awards=awards)
    assert all(t.replayed for t in again) and [t.id for t in again] == [t.id for t in done]
    assert (await balance(db, program, orgs[1])).available == 11 + 14 + 17
    await assert_clean(db)


async def test_a_batch_returns_the_rows_it_wrote(db: Database) -> None:
    """Each returned transfer is the row stored under its id (account, amount, key, cause), with one lot of its
    points on that account; transfers written before the batch keep theirs."""
    program, orgs = await program_with_partners(db, 3)
    awards = [Award(orgs[i % 3], 1 + i, f"m{i}", Cause(rule_id=i)) for i in range(25)]
    async with db.transaction() as session:
        before = await services.award_points(session, program_id=program, org_id=orgs[2], points=7, key="before")
    async with db.transaction() as session:
        done = await services.award_batch(session, program_id=program, awards=awards, now=T0)
    assert before.id < min(t.id for t in done)
    async with db.reader() as session:
        rows = {
            row.id: row
            for row in (
                await session.execute(
                    select(
                        book.TRANSFER.id,
                        book.TRANSFER.credit_account_id,
                        book.TRANSFER.amount,
                        book.TRANSFER.idempotency_key,
                        book.TRANSFER.rule_id,
                    )
                )
            ).all()
        }
        lots = {
            row.transfer_id: (row.account_id, row.amount)
            for row in (await session.execute(select(book.LOT.transfer_id, book.LOT.account_id, book.LOT.amount))).all()
        }
        account_of = {
            org_id: account_id
            for account_id, org_id in (
                await session.execute(
                    select(book.ACCOUNT.id, book.ACCOUNT.org_id).where(book.ACCOUNT.org_id.is_not(None))
                )
            ).all()
        }
    for award, transfer in zip(awards, done, strict=True):
        row = rows[transfer.id]
        assert (row.credit_account_id, row.amount, row.idempotency_key, row.rule_id) == (
            account_of[award.org_id],
            award.points,
            award.key,
            award.cause.rule_id,
        )
        assert transfer.credit_account_id == row.credit_account_id and transfer.amount == award.points
        assert lots[transfer.id] == (account_of[award.org_id], award.points)
    assert len(lots) == len(awards) + 1 and lots[before.id] == (account_of[orgs[2]], 7)
    await assert_clean(db)


async def test_transfers_are_immutable_in_the_database(db: Database) -> None:
    program, [org] = await program_with_partners(db)
    async with db.transaction() as session:
        await services.award_points(session, program_id=program, org_id=org, points=5, key="e")
        await services.redeem_points(session, program_id=program, org_id=org, points=5, kind="mdf", key="r")
    for statement in (
        "UPDATE ledger_transfers SET amount = 500",
        "DELETE FROM ledger_transfers",
        "UPDATE ledger_lot_uses SET amount = 1",
        "DELETE FROM ledger_lot_uses",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with db.transaction() as session:
                await session.execute(text(statement))
    assert await _count_transfers(db) == 2


async def test_constraints_refuse_bad_rows(db: Database) -> None:
    program, [org] = await program_with_partners(db)
    async with db.transaction() as session:
        earn = await services.award_points(session, program_id=program, org_id=org, points=5, key="e")
    bad = [
        f"UPDATE ledger_accounts SET debits_posted = debits_posted + 6 WHERE id = {earn.credit_account_id}",
        "INSERT INTO ledger_transfers (program_id, kind, debit_account_id, credit_account_id, amount, at)"
        f" VALUES ({program}, 'earn', {earn.debit_account_id}, {earn.credit_account_id}, 0, '2026-01-01')",
        "INSERT INTO ledger_transfers (program_id, kind, debit_account_id, credit_account_id, amount, at)"
        f" VALUES ({program}, 'earn', {earn.debit_account_id}, {earn.debit_account_id}, 1, '2026-01-01')",
    ]
    for statement in bad:
        with pytest.raises(DBAPIError):
            async with db.transaction() as session:
                await session.execute(text(statement))
    await assert_clean(db)


async def test_crash_mid_operation_leaves_no_trace(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    program, [org] = await program_with_partners(db)
    async with db.transaction() as session:
        await services.award_points(session, program_id=program, org_id=org, points=50, key="e")
    before = await balance(db, program, org)

    debit = lots.debit

    async def crash_after_the_lots(conn: Any, *args: Any, **kwargs: Any) -> book.Transfer:
        transfer = await debit(conn, *args, **kwargs)
        await conn.execute(text("SELECT power_cut()"))  # no such function: the statement fails
        return transfer

    credit_partners = book.credit_partners

    async def crash_after_writing(*args: Any, **kwargs: Any) -> None:
        await credit_partners(*args, **kwargs)
        raise RuntimeError("power cut")

    # Redeem: a statement fails after the transfer, the account counters and the lots are written.
    monkeypatch.setattr(lots, "debit", crash_after_the_lots)
    # Award in the caller's transaction: after all its writes, before the caller commits.
    monkeypatch.setattr(book, "credit_partners", crash_after_writing)
    with pytest.raises(DBAPIError):
        async with db.transaction() as session:
            await services.redeem_points(session, program_id=program, org_id=org, points=20, kind="mdf", key="r")
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await services.award_points(session, program_id=program, org_id=org, points=20, key="e2")
    # The transfer and the counters are written, then the lot's expiry date cannot be computed (an expiry
    # period far beyond the calendar). Nothing may stay.
    async with db.transaction() as session:
        await session.execute(text(f"UPDATE programs SET points_expiry_months = 2000000000 WHERE id = {program}"))
    with pytest.raises((ValueError, DBAPIError)):
        async with db.transaction() as session:
            await services.award_points(session, program_id=program, org_id=org, points=20, key="e3")
    async with db.transaction() as session:
        await session.execute(text(f"UPDATE programs SET points_expiry_months = 24 WHERE id = {program}"))
    assert await _count_transfers(db) == 1
    assert await balance(db, program, org) == before
    await assert_clean(db)
    monkeypatch.undo()
    async with db.transaction() as session:  # the same keys work once the fault is gone
        await services.redeem_points(session, program_id=program, org_id=org, points=20, kind="mdf", key="r")
    async with db.transaction() as session:
        await services.award_points(session, program_id=program, org_id=org, points=20, key="e3")
    assert (await balance(db, program, org)).available == 50
    await assert_clean(db)


async def test_verify_reports_tampering(db: Database) -> None:
    program, [org] = await program_with_partners(db)
    async with db.transaction() as session:
        earn = await services.award_points(session, program_id=program, org_id=org, points=5, key="e")
    async with db.transaction() as session:
        await session.execute(
            text(f"UPDATE ledger_accounts SET credits_posted = 7, earned = 7 WHERE id = {earn.credit_account_id}")
        )
    async with db.reader() as session:
        from incentives.ledger.verify import verify

        found = [str(d) for d in await verify(session)]
    assert any(f"account {earn.credit_account_id}" in line for line in found)
    assert any(f"program {program}" in line for line in found)


async def test_history_pages_add_up(db: Database) -> None:
    program, [org] = await program_with_partners(db)
    async with db.transaction() as session:
        for i in range(7):
            await services.award_points(session, program_id=program, org_id=org, points=10, key=f"e{i}", now=T0)
        hold = await services.hold_points(session, program_id=program, org_id=org, points=25, kind="mdf", key="h")
        await services.post_hold(session, program_id=program, hold_id=hold.id, points=5, key="p")
    seen: list[int] = []
    cursor: int | None = None
    async with db.reader() as session:
        while True:
            page, cursor = await queries.history(session, program, org, limit=3, before=cursor)
            seen.extend(entry.points for entry in page)
            if cursor is None:
                break
    assert len(seen) == 9
    assert sum(seen) == (await balance(db, program, org)).available == 65


def test_fingerprints_stay_what_earlier_versions_stored() -> None:
    """A key used before an upgrade must still replay after it: the digest of a payload never changes."""
    assert (
        book.fingerprint("earn", org_id=3, points=10, rule_id=None, reason="Prämie für Ä")
        == "fda9ba88dd75b922ed0b0ecffa1051d41abdbe83746c6865480c623ea550d3c5"
    )
    timeout = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert (
        book.fingerprint("hold", org_id=1, points=5, kind="mdf", timeout_at=timeout)
        == "c9baaf9a8d84358523ffd1d68dcbdc4eae3e718092bc8e54549f45c8860cfbdf"
    )
