"""Ledger operations: earn, batch awards, hold, post, void, redeem, adjust, reverse and expiry.

Only partner accounts cache their counters (the row every spend checks and locks). The program's
system accounts (issuance, sinks, expired, clawback) are sums of their transfers: caching them would
make the issuance row a lock that serializes every award of a program.

Every operation joins the unit of work its caller opened (`async with session.begin()`): the caller's
other writes and the ledger's commit or roll back together, and an operation called outside a transaction
is refused. Each (except the sweeps' steps) takes an idempotency key, unique per program in the database:
the same key with the same payload returns the original transfer and writes nothing; with another payload
it raises IdempotencyConflict. Concurrent twins never fail: spending operations look the key up under the
account lock, and awards skip a conflicting key and replay it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import aliased

from incentives.db import utcnow
from incentives.errors import N_, FieldError, IdempotencyConflict, InvalidState, NotFound, ValidationFailed
from incentives.ledger import book
from incentives.ledger.book import (
    ACCOUNT,
    LOT,
    TRANSFER,
    TRANSFERS,
    Cause,
    Transfer,
    change_account,
    find_keyed,
    fingerprint,
    insert_transfer,
    partner_name,
)
from incentives.ledger.errors import InsufficientPoints
from incentives.ledger.models import SINK_KINDS, AccountKind, TransferKind

__all__ = [
    "Award",
    "Cause",
    "InsufficientPoints",
    "OutsideTransaction",
    "Transfer",
    "adjust_points",
    "award_batch",
    "award_points",
    "due_expiry",
    "expire_account",
    "hold_points",
    "post_hold",
    "redeem_points",
    "reverse_award",
    "timed_out_holds",
    "void_hold",
]

NO_CAUSE = Cause()


@dataclass(frozen=True)
class Award:
    """One award of a batch."""

    org_id: int
    points: int
    key: str
    cause: Cause = NO_CAUSE


def _positive(points: int, field: str = "points") -> None:
    if isinstance(points, bool) or not isinstance(points, int) or points <= 0:
        raise ValidationFailed([FieldError((field,), N_("Must be a positive whole number of points."))])


def _check_key(key: str) -> None:
    if not key or len(key) > 200:
        raise ValidationFailed([FieldError(("idempotency_key",), N_("Must be 1 to 200 characters long."))])


def _sink(kind: AccountKind | str) -> AccountKind:
    try:
        sink = AccountKind(kind)
    except ValueError:
        sink = AccountKind.PARTNER
    if sink not in SINK_KINDS:
        raise ValidationFailed(
            [FieldError(("kind",), N_("Must be one of: %(expected)s."), expected="mdf, discount, bonus")]
        )
    return sink


class OutsideTransaction(RuntimeError):
    """A ledger operation was called without a unit of work: its caller must open one."""


async def _joined(session: AsyncSession) -> AsyncConnection:
    """The connection of the caller's open transaction; the ledger never opens or commits one itself."""
    if not session.in_transaction():
        raise OutsideTransaction("ledger operations join the caller's transaction: open one with session.begin()")
    return await session.connection()


def _replay(found: tuple[Transfer, str | None], expected: str) -> Transfer:
    transfer, stored = found
    if stored != expected:
        raise IdempotencyConflict()
    return transfer


async def _replayed(conn: AsyncConnection, program_id: int, key: str, print_: str) -> Transfer:
    """The transfer booked under `key` (found under the account lock, or skipped as a conflict), checked
    against the payload."""
    found = await find_keyed(conn, program_id, key)
    assert found is not None, "a key seen booked stays booked"
    return _replay(found, print_)


# --- earning -----------------------------------------------------------------------------------------


async def award_points(
    session: AsyncSession,
    *,
    program_id: int,
    org_id: int,
    points: int,
    key: str,
    cause: Cause = NO_CAUSE,
    now: dt.datetime | None = None,
) -> Transfer:
    """Earn: issuance → partner, and a new lot that expires after the program's expiry period."""
    _positive(points)
    _check_key(key)
    print_ = fingerprint("earn", org_id=org_id, points=points, **cause.values())
    return await _issue(session, program_id, TransferKind.EARN, org_id, points, key, print_, cause, now or utcnow())


async def _issue(
    session: AsyncSession,
    program_id: int,
    kind: TransferKind,
    org_id: int,
    points: int,
    key: str,
    print_: str,
    cause: Cause,
    at: dt.datetime,
) -> Transfer:
    """Issuance → partner, once per key."""
    conn = await _joined(session)
    accounts = await book.open_accounts(session, program_id, [org_id], [AccountKind.ISSUANCE])
    values = _issuance_to(
        accounts,
        org_id,
        program_id=program_id,
        kind=kind.value,
        amount=points,
        idempotency_key=key,
        fingerprint=print_,
        at=at,
        **cause.values(),
    )
    [transfer] = await book.credit_partners(conn, [values])
    return transfer or await _replayed(conn, program_id, key, print_)


def _issuance_to(accounts: book.Book, org_id: int, **columns: Any) -> dict[str, Any]:
    """An earning transfer's columns: `columns`, from the program's issuance to the partner's account."""
    return {
        "debit_account_id": accounts[AccountKind.ISSUANCE],
        "credit_account_id": accounts[partner_name(org_id)],
        **columns,
    }


async def award_batch(
    session: AsyncSession, *, program_id: int, awards: Sequence[Award], now: dt.datetime | None = None
) -> list[Transfer]:
    """Many awards at once, all or nothing with the caller's transaction. Keys already booked are replayed."""
    for award in awards:
        _positive(award.points)
        _check_key(award.key)
    if len({award.key for award in awards}) != len(awards):
        raise ValidationFailed([FieldError(("awards",), N_("Each award needs its own idempotency key."))])
    conn = await _joined(session)
    if not awards:
        return []
    at = now or utcnow()
    accounts = await book.open_accounts(
        session, program_id, sorted({award.org_id for award in awards}), [AccountKind.ISSUANCE]
    )
    rows = [
        _issuance_to(
            accounts,
            award.org_id,
            program_id=program_id,
            kind=TransferKind.EARN.value,
            amount=award.points,
            idempotency_key=award.key,
            fingerprint=fingerprint("earn", org_id=award.org_id, points=award.points, **award.cause.values()),
            at=at,
            **award.cause.values(),
        )
        for award in awards
    ]
    written = await book.credit_partners(conn, rows)
    skipped = [row for row, transfer in zip(rows, written, strict=True) if transfer is None]
    found = await book.find_many_keyed(conn, program_id, [row["idempotency_key"] for row in skipped])
    replays = {row["idempotency_key"]: _replay(found[row["idempotency_key"]], row["fingerprint"]) for row in skipped}
    return [transfer or replays[row["idempotency_key"]] for row, transfer in zip(rows, written, strict=True)]


# --- spending ----------------------------------------------------------------------------------------


async def _debit_partner(
    session: AsyncSession,
    *,
    program_id: int,
    org_id: int,
    points: int,
    key: str,
    print_: str,
    kind: TransferKind,
    to: AccountKind,
    cause: Cause,
    at: dt.datetime,
    timeout_at: dt.datetime | None = None,
) -> Transfer:
    """Partner → `to`, taking lots oldest first. A hold only reserves (pending) what a redeem spends."""
    conn = await _joined(session)
    accounts = await book.open_accounts(session, program_id, [org_id], [to, AccountKind.EXPIRED])
    partner = accounts[partner_name(org_id)]
    locked = await book.lock_and_look(conn, program_id, partner, key)
    if locked.keyed_id is not None:
        return await _replayed(conn, program_id, key, print_)
    expired, lots = await book.open_lots(conn, partner, at, points)
    available = locked.available - await _expire_lots(
        conn, program_id, partner, accounts[AccountKind.EXPIRED], expired, at
    )
    if available < points:
        raise InsufficientPoints(
            N_("Only %(available)s points are available; %(points)s are needed."),
            params={"available": available, "points": points},
        )
    values = {
        "program_id": program_id,
        "kind": kind.value,
        "debit_account_id": partner,
        "credit_account_id": accounts[to],
        "amount": points,
        "timeout_at": timeout_at,
        "idempotency_key": key,
        "fingerprint": print_,
        "at": at,
        **cause.values(),
    }
    try:
        return await book.debit(conn, values, book.plan_take(lots, points), hold=kind is TransferKind.HOLD)
    except book.Refused:  # cannot happen under the lock: the conditional UPDATE is the last line of defence
        raise InsufficientPoints() from None


async def hold_points(
    session: AsyncSession,
    *,
    program_id: int,
    org_id: int,
    points: int,
    kind: AccountKind | str,
    key: str,
    cause: Cause = NO_CAUSE,
    timeout_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> Transfer:
    """Reserve points for a redemption of `kind` (mdf, discount, bonus); post or void resolve it."""
    _positive(points)
    _check_key(key)
    sink = _sink(kind)
    print_ = fingerprint("hold", org_id=org_id, points=points, kind=sink, timeout_at=timeout_at, **cause.values())
    return await _debit_partner(
        session,
        program_id=program_id,
        org_id=org_id,
        points=points,
        key=key,
        print_=print_,
        kind=TransferKind.HOLD,
        to=sink,
        cause=cause,
        at=now or utcnow(),
        timeout_at=timeout_at,
    )


async def redeem_points(
    session: AsyncSession,
    *,
    program_id: int,
    org_id: int,
    points: int,
    kind: AccountKind | str,
    key: str,
    cause: Cause = NO_CAUSE,
    now: dt.datetime | None = None,
) -> Transfer:
    """Spend points at once (no approval step): partner → the sink of `kind`."""
    _positive(points)
    _check_key(key)
    sink = _sink(kind)
    print_ = fingerprint("redeem", org_id=org_id, points=points, kind=sink, **cause.values())
    return await _debit_partner(
        session,
        program_id=program_id,
        org_id=org_id,
        points=points,
        key=key,
        print_=print_,
        kind=TransferKind.REDEEM,
        to=sink,
        cause=cause,
        at=now or utcnow(),
    )


async def adjust_points(
    session: AsyncSession,
    *,
    program_id: int,
    org_id: int,
    points: int,
    key: str,
    cause: Cause,
    now: dt.datetime | None = None,
) -> Transfer:
    """A manual correction: positive points are issued (as a new lot), negative ones go to the adjusted sink."""
    if isinstance(points, bool) or not isinstance(points, int) or points == 0:
        raise ValidationFailed([FieldError(("points",), N_("Must be a whole number of points other than zero."))])
    if not (cause.reason or "").strip():
        raise ValidationFailed([FieldError(("reason",), N_("This field is required."))])
    _check_key(key)
    at = now or utcnow()
    print_ = fingerprint("adjust", org_id=org_id, points=points, **cause.values())
    if points < 0:
        return await _debit_partner(
            session,
            program_id=program_id,
            org_id=org_id,
            points=-points,
            key=key,
            print_=print_,
            kind=TransferKind.ADJUST,
            # Not back to issuance: a later reversal of the award these points came from returns the whole
            # award to issuance (and books what is gone against the clawback receivable); issuance taking
            # them twice would go negative.
            to=AccountKind.ADJUSTED,
            cause=cause,
            at=at,
        )
    return await _issue(session, program_id, TransferKind.ADJUST, org_id, points, key, print_, cause, at)


# --- resolving holds -----------------------------------------------------------------------------------


async def post_hold(
    session: AsyncSession,
    *,
    program_id: int,
    hold_id: int,
    key: str,
    points: int | None = None,
    cause: Cause = NO_CAUSE,
    now: dt.datetime | None = None,
) -> Transfer:
    """Spend held points: all of the hold, or fewer (the rest becomes available again). Once per hold."""
    if points is not None:
        _positive(points)
    _check_key(key)
    print_ = fingerprint("post", hold_id=hold_id, points=points, **cause.values())
    return await _resolve(session, program_id, hold_id, key, print_, points, cause, now or utcnow())


async def void_hold(
    session: AsyncSession,
    *,
    program_id: int,
    hold_id: int,
    key: str | None,
    cause: Cause = NO_CAUSE,
    now: dt.datetime | None = None,
) -> Transfer:
    """Release held points back to available. Once per hold; `key` None only for the time-out sweep."""
    if key is not None:
        _check_key(key)
    print_ = fingerprint("void", hold_id=hold_id, **cause.values())
    return await _resolve(session, program_id, hold_id, key, print_, 0, cause, now or utcnow())


async def _resolve(
    session: AsyncSession,
    program_id: int,
    hold_id: int,
    key: str | None,
    print_: str,
    points: int | None,
    cause: Cause,
    at: dt.datetime,
) -> Transfer:
    """Post (`points` None = all, or n) or void (`points` 0) a hold. The unique pending_id makes it once only."""
    conn = await _joined(session)
    locked = await book.lock_hold_and_look(conn, program_id, hold_id, key)
    if locked is None or locked.hold is None:
        raise NotFound(N_("No such hold."))
    if key is not None and locked.keyed_id is not None:
        return await _replayed(conn, program_id, key, print_)
    if locked.resolved is not None:
        raise InvalidState(N_("This hold was already resolved (%(how)s)."), params={"how": locked.resolved})
    hold = locked.hold
    held = hold.amount
    posted = held if points is None else points
    if posted > held:
        raise InvalidState(N_("A hold can post at most the points it holds (%(held)s)."), params={"held": held})
    values = {
        "program_id": program_id,
        "kind": (TransferKind.POST if posted else TransferKind.VOID).value,
        "debit_account_id": hold.debit_account_id,
        "credit_account_id": hold.credit_account_id,
        "amount": posted or held,
        "pending_id": hold_id,
        "idempotency_key": key,
        "fingerprint": print_ if key is not None else None,
        "at": at,
        **cause.values(),
    }
    released, spent = book.plan_release(locked.uses, posted)
    return await book.resolve(conn, values, held, posted, released, spent)


async def timed_out_holds(session: AsyncSession, *, now: dt.datetime | None = None) -> list[tuple[int, int]]:
    """(hold id, program id) of every unresolved hold whose time-out has passed, oldest first."""
    resolution = aliased(TRANSFERS)
    rows = await session.execute(
        select(TRANSFER.id, TRANSFER.program_id)
        .outerjoin(resolution, resolution.c.pending_id == TRANSFER.id)
        .where(
            TRANSFER.kind == TransferKind.HOLD.value,
            TRANSFER.timeout_at <= (now or utcnow()),
            resolution.c.id.is_(None),
        )
        .order_by(TRANSFER.id)
    )
    return [(hold_id, program_id) for hold_id, program_id in rows]


# --- reversal ----------------------------------------------------------------------------------------


async def reverse_award(
    session: AsyncSession,
    *,
    program_id: int,
    award_id: int,
    key: str,
    cause: Cause = NO_CAUSE,
    now: dt.datetime | None = None,
) -> Transfer:
    """Take an award back (clawback), at most once.

    What is left of the award's lot returns to issuance; what was already spent or is held is booked
    against the clawback receivable, so the partner's balance never goes negative. Booking: clawback →
    partner (the spent part), then partner → issuance (the whole award); the second is the returned
    transfer and carries `reverses_id`, which is unique.
    """
    _check_key(key)
    at = now or utcnow()
    print_ = fingerprint("reverse", award_id=award_id, **cause.values())
    conn = await _joined(session)
    # By the primary key alone, program and kind checked here, so the planner always takes that index.
    award = (
        await conn.execute(
            select(
                TRANSFER.credit_account_id,
                TRANSFER.debit_account_id,
                TRANSFER.amount,
                TRANSFER.program_id,
                TRANSFER.kind,
            ).where(TRANSFER.id == award_id)
        )
    ).first()
    if award is None or award.program_id != program_id or award.kind != TransferKind.EARN.value:
        raise NotFound(N_("No such award."))
    partner, issuance, amount = award.credit_account_id, award.debit_account_id, award.amount
    if (await book.lock_and_look(conn, program_id, partner, key)).keyed_id is not None:
        return await _replayed(conn, program_id, key, print_)
    if await conn.scalar(select(TRANSFER.id).where(TRANSFER.reverses_id == award_id)) is not None:
        raise InvalidState(N_("This award was already reversed."))
    lot = (await conn.execute(select(LOT.id, LOT.remaining).where(LOT.transfer_id == award_id))).one()
    spent = amount - lot.remaining
    accounts = await book.open_accounts(session, program_id, [], [AccountKind.CLAWBACK])
    transfer = await insert_transfer(
        conn,
        program_id=program_id,
        kind=TransferKind.REVERSE.value,
        debit_account_id=partner,
        credit_account_id=issuance,
        amount=amount,
        reverses_id=award_id,
        idempotency_key=key,
        fingerprint=print_,
        at=at,
        **cause.values(),
    )
    if spent:
        await insert_transfer(
            conn,
            program_id=program_id,
            kind=TransferKind.REVERSE.value,
            debit_account_id=accounts[AccountKind.CLAWBACK],
            credit_account_id=partner,
            amount=spent,
            at=at,
            **cause.values(),
        )
    await change_account(conn, partner, debits_posted=amount, credits_posted=spent, earned=-amount)
    if lot.remaining:
        await book.take_from_lot(conn, lot.id, transfer.id, lot.remaining)
    return transfer


# --- expiry ------------------------------------------------------------------------------------------


async def _expire_lots(
    conn: AsyncConnection, program_id: int, partner: int, expired: int, lots: Sequence[Any], at: dt.datetime
) -> int:
    """Expire what is left of `lots` (expired lots of the locked account `partner`); returns the points expired."""
    total = 0
    for lot in lots:
        transfer = await insert_transfer(
            conn,
            program_id=program_id,
            kind=TransferKind.EXPIRE.value,
            debit_account_id=partner,
            credit_account_id=expired,
            amount=lot.remaining,
            at=at,
        )
        await book.take_from_lot(conn, lot.id, transfer.id, lot.remaining)
        total += lot.remaining
    if total:
        await change_account(conn, partner, need=total, debits_posted=total)
    return total


@dataclass(frozen=True)
class DueExpiry:
    """A partner account with lots that expired and still have points."""

    account_id: int
    program_id: int
    org_id: int


async def due_expiry(
    session: AsyncSession, *, now: dt.datetime | None = None, program_id: int | None = None
) -> list[DueExpiry]:
    """The partner accounts with points expired by `now`, in account order."""
    at = now or utcnow()
    statement = (
        select(ACCOUNT.id, ACCOUNT.program_id, ACCOUNT.org_id)
        .where(ACCOUNT.id.in_(select(LOT.account_id).where(LOT.remaining > 0, LOT.expires_at <= at)))
        .order_by(ACCOUNT.id)
    )
    if program_id is not None:
        statement = statement.where(ACCOUNT.program_id == program_id)
    return [DueExpiry(*row) for row in await session.execute(statement)]


async def expire_account(session: AsyncSession, due: DueExpiry, *, now: dt.datetime | None = None) -> int:
    """Move what is left (and not held) of the account's expired lots to the expired account; the points moved.
    Running it again changes nothing."""
    at = now or utcnow()
    conn = await _joined(session)
    accounts = await book.open_accounts(session, due.program_id, [due.org_id], [AccountKind.EXPIRED])
    await book.lock_and_look(conn, due.program_id, due.account_id, None)
    lots = (
        await conn.execute(
            select(LOT.id, LOT.remaining)
            .where(LOT.account_id == due.account_id, LOT.remaining > 0, LOT.expires_at <= at)
            .order_by(LOT.expires_at, LOT.id)
        )
    ).all()
    return await _expire_lots(conn, due.program_id, due.account_id, accounts[AccountKind.EXPIRED], lots, at)
