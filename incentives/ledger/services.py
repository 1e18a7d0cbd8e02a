"""Ledger operations: earn, batch awards, hold, post, void, redeem, adjust, reverse and expiry.

Only partner accounts cache their counters (the row every spend checks and locks). The program's
system accounts (issuance, sinks, expired, clawback) are sums of their transfers: caching them would
make the issuance row a lock that serializes every award of a program.

Each operation takes an AsyncSession and owns one transaction; called while the session is already in
a transaction, it becomes part of that one instead (the caller's other writes and the ledger's commit
or roll back together). Each (except the sweeps) takes an idempotency key, unique per program in the
database: the same key with the same payload returns the original transfer and writes nothing; with
another payload it raises IdempotencyConflict.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.orm import aliased

from incentives.db import utcnow
from incentives.errors import N_, FieldError, IdempotencyConflict, InvalidState, NotFound, ValidationFailed
from incentives.ledger import book
from incentives.ledger.book import (
    TRANSFER_COLUMNS,
    TRANSFERS,
    A,
    Cause,
    L,
    T,
    Transfer,
    change_account,
    find_keyed,
    fingerprint,
    insert_transfer,
    lock_account,
    partner_name,
)
from incentives.ledger.errors import InsufficientPoints
from incentives.ledger.models import SINK_KINDS, AccountKind, TransferKind

__all__ = [
    "Award",
    "Cause",
    "InsufficientPoints",
    "Transfer",
    "adjust_points",
    "award_batch",
    "award_points",
    "expire_points",
    "hold_points",
    "post_hold",
    "redeem_points",
    "reverse_award",
    "void_hold",
    "void_timed_out_holds",
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


def _replay(found: tuple[Transfer, str | None], expected: str) -> Transfer:
    transfer, stored = found
    if stored != expected:
        raise IdempotencyConflict()
    return transfer


@asynccontextmanager
async def _transaction(session: AsyncSession) -> AsyncIterator[None]:
    """The session's open transaction if there is one (the caller commits), else one of our own."""
    if session.in_transaction():
        yield
        return
    async with session.begin():
        yield


async def _once(
    session: AsyncSession,
    program_id: int,
    key: str,
    print_: str,
    work: Callable[[], Awaitable[Transfer]],
    *,
    locks_first: bool = False,
) -> Transfer:
    """Run `work` in one transaction, unless `key` was used already: then replay or refuse.

    The unique key in the database is the real guard: when a concurrent twin commits first, our
    insert fails, the transaction rolls back, and the second attempt finds and replays the twin.
    In the caller's transaction there is no second attempt (a failed statement spoils the whole
    transaction): the key is looked up first, and a concurrent twin's IntegrityError goes to the caller.
    `locks_first`: `work` looks the key up itself, once it holds the account lock.
    """
    if session.in_transaction():
        if not locks_first:
            replay = await _replayed(await session.connection(), program_id, key, print_)
            if replay is not None:
                return replay
        return await work()
    for attempt in (1, 2):
        try:
            async with session.begin():
                if attempt == 2:
                    found = await find_keyed(await session.connection(), program_id, key)
                    if found is not None:
                        return _replay(found, print_)
                return await work()
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def _replay_keyed(conn: AsyncConnection, program_id: int, key: str, print_: str) -> Transfer:
    """The transfer the lock found under `key`, checked against the payload."""
    replay = await _replayed(conn, program_id, key, print_)
    assert replay is not None
    return replay


async def _replayed(conn: AsyncConnection, program_id: int, key: str, print_: str) -> Transfer | None:
    """The stored transfer of `key`, checked against the payload, or None."""
    found = await find_keyed(conn, program_id, key)
    return None if found is None else _replay(found, print_)


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
    at = now or utcnow()
    print_ = fingerprint("earn", org_id=org_id, points=points, **cause.values())
    return await _issue(session, program_id, TransferKind.EARN, org_id, points, key, print_, cause, at)


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
    """Issuance → partner in one transaction of its own (or the caller's), once per key."""
    columns = {
        "program_id": program_id,
        "kind": kind.value,
        "amount": points,
        "idempotency_key": key,
        "fingerprint": print_,
        "at": at,
        **cause.values(),
    }
    if not session.in_transaction() and isinstance(session.bind, AsyncEngine):
        # The usual case, with the account ids known: a transaction of its own in one round trip. A used key
        # (IntegrityError, nothing written) goes the long way below, which finds and replays it.
        accounts = book.cached_accounts(session.bind, program_id, [org_id], [AccountKind.ISSUANCE])
        if accounts is not None:
            try:
                return await book.credit_partner_alone(session.bind, **_issuance_to(accounts, org_id, **columns))
            except IntegrityError:
                pass

    async def work() -> Transfer:
        accounts = await book.open_accounts(session, program_id, [org_id], [AccountKind.ISSUANCE])
        return await book.credit_partner(await session.connection(), **_issuance_to(accounts, org_id, **columns))

    return await _once(session, program_id, key, print_, work)


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
    """Many awards in one transaction, all or nothing. Awards whose key is already booked are replayed."""
    for award in awards:
        _positive(award.points)
        _check_key(award.key)
    if len({award.key for award in awards}) != len(awards):
        raise ValidationFailed([FieldError(("awards",), N_("Each award needs its own idempotency key."))])
    at = now or utcnow()
    causes = [a.cause.values() for a in awards]
    prints = [fingerprint("earn", org_id=a.org_id, points=a.points, **c) for a, c in zip(awards, causes, strict=True)]
    for attempt in (1, 2):
        try:
            async with session.begin():
                return await _award_batch(session, program_id, awards, causes, prints, at)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def _award_batch(
    session: AsyncSession,
    program_id: int,
    awards: Sequence[Award],
    causes: list[dict[str, Any]],
    prints: list[str],
    at: dt.datetime,
) -> list[Transfer]:
    """The batch in the caller's transaction. SQLite looks all keys up first; PostgreSQL writes and skips the
    keys already booked (book.credit_partners), then looks up only those."""
    keys = [award.key for award in awards]
    print_of = dict(zip(keys, prints, strict=True))
    conn = await session.connection()
    results: dict[str, Transfer] = {}
    if conn.dialect.name != "postgresql":
        results.update(await _replay_keys(conn, program_id, keys, print_of))
    new = [i for i, award in enumerate(awards) if award.key not in results]
    if new:
        org_ids = sorted({awards[i].org_id for i in new})
        accounts = await book.open_accounts(session, program_id, org_ids, [AccountKind.ISSUANCE])
        shared = {"program_id": program_id, "kind": TransferKind.EARN.value, "at": at}
        new_rows = [
            _issuance_to(
                accounts,
                awards[i].org_id,
                amount=awards[i].points,
                idempotency_key=keys[i],
                fingerprint=prints[i],
                **shared,
                **causes[i],
            )
            for i in new
        ]
        booked = await book.credit_partners(conn, new_rows)
        results.update(
            {row["idempotency_key"]: transfer for row, transfer in zip(new_rows, booked, strict=True) if transfer}
        )
        skipped = [row["idempotency_key"] for row, transfer in zip(new_rows, booked, strict=True) if transfer is None]
        if skipped:
            results.update(await _replay_keys(conn, program_id, skipped, print_of))
    return [results[key] for key in keys]


async def _replay_keys(
    conn: AsyncConnection, program_id: int, keys: list[str], print_of: dict[str, str]
) -> dict[str, Transfer]:
    """The transfers already booked under any of `keys`, each checked against its payload's fingerprint."""
    found: dict[str, Transfer] = {}
    for start in range(0, len(keys), 1000):  # stay below the bound-parameter limits
        rows = (
            await conn.execute(
                select(*TRANSFER_COLUMNS, T.fingerprint).where(
                    T.program_id == program_id, T.idempotency_key.in_(keys[start : start + 1000])
                )
            )
        ).all()
        for row in rows:
            found[row.idempotency_key] = _replay(
                (Transfer.of(row, replayed=True), row.fingerprint), print_of[row.idempotency_key]
            )
    return found


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
    then: Sequence[book.Write] = (),
) -> Transfer:
    """Partner → `to`, taking lots oldest first. A hold only reserves (pending) what a redeem spends. `then`: the
    caller's writes that go with the new transfer (`book.debit`); a replay runs none of them."""

    async def work() -> Transfer:
        accounts = await book.open_accounts(session, program_id, [org_id], [to, AccountKind.EXPIRED])
        partner = accounts[partner_name(org_id)]
        conn = await session.connection()
        locked = await book.lock_and_look(conn, program_id, partner, key)
        if locked.keyed_id is not None:
            return await _replay_keyed(conn, program_id, key, print_)
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
            return await book.debit(
                conn, values, book.plan_take(lots, points), hold=kind is TransferKind.HOLD, then=then
            )
        except book.Refused:  # cannot happen under the lock: the conditional UPDATE is the last line of defence
            raise InsufficientPoints() from None

    return await _once(session, program_id, key, print_, work, locks_first=True)


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
    then: Sequence[book.Write] = (),
) -> Transfer:
    """Reserve points for a redemption of `kind` (mdf, discount, bonus); post or void resolve it. `then`: the
    caller's writes that go with the new hold, in the same round trip where the database allows (`book.Write`,
    NEW_TRANSFER standing for the hold's id); a replayed hold (its key used before) runs none of them."""
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
        then=then,
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

    async def work() -> Transfer:
        conn = await session.connection()
        locked = await book.lock_hold_and_look(conn, program_id, hold_id, key)
        if locked is None:
            raise NotFound(N_("No such hold."))
        if key is not None and locked.keyed_id is not None:
            return await _replay_keyed(conn, program_id, key, print_)
        if locked.resolved is not None:
            raise InvalidState(N_("This hold was already resolved (%(how)s)."), params={"how": locked.resolved})
        hold = locked.hold
        partner, sink, held = hold.debit_account_id, hold.credit_account_id, hold.amount
        posted = held if points is None else points
        if posted > held:
            raise InvalidState(N_("A hold can post at most the points it holds (%(held)s)."), params={"held": held})
        values = {
            "program_id": program_id,
            "kind": (TransferKind.POST if posted else TransferKind.VOID).value,
            "debit_account_id": partner,
            "credit_account_id": sink,
            "amount": posted or held,
            "pending_id": hold_id,
            "idempotency_key": key,
            "fingerprint": print_ if key is not None else None,
            "at": at,
            **cause.values(),
        }
        released, spent = book.plan_release(locked.uses, posted)
        return await book.resolve(conn, values, held, posted, released, spent)

    if key is None:
        async with _transaction(session):
            return await work()
    return await _once(session, program_id, key, print_, work, locks_first=True)


async def void_timed_out_holds(session: AsyncSession, *, now: dt.datetime | None = None) -> int:
    """Void every unresolved hold whose time-out has passed; safe to run at any time, in parallel too."""
    at = now or utcnow()
    resolution = aliased(TRANSFERS)
    async with session.begin():
        due = (
            await session.execute(
                select(T.id, T.program_id)
                .outerjoin(resolution, resolution.c.pending_id == T.id)
                .where(T.kind == TransferKind.HOLD.value, T.timeout_at <= at, resolution.c.id.is_(None))
                .order_by(T.id)
            )
        ).all()
    voided = 0
    for hold_id, program_id in due:
        try:
            await void_hold(
                session, program_id=program_id, hold_id=hold_id, key=None, cause=Cause(reason="timeout"), now=at
            )
            voided += 1
        except (InvalidState, IntegrityError):
            pass  # resolved in the meantime by someone else: exactly what we wanted
    return voided


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

    async def work() -> Transfer:
        conn = await session.connection()
        # By the primary key alone, program and kind checked here: with them in the WHERE clause PostgreSQL,
        # before it had statistics, scanned the program's transfers in the (program_id, idempotency_key) index.
        award = (
            await conn.execute(
                select(T.credit_account_id, T.debit_account_id, T.amount, T.program_id, T.kind).where(T.id == award_id)
            )
        ).first()
        if award is None or award.program_id != program_id or award.kind != TransferKind.EARN.value:
            raise NotFound(N_("No such award."))
        partner, issuance, amount = award.credit_account_id, award.debit_account_id, award.amount
        if (await book.lock_and_look(conn, program_id, partner, key)).keyed_id is not None:
            return await _replay_keyed(conn, program_id, key, print_)
        if await conn.scalar(select(T.id).where(T.reverses_id == award_id)) is not None:
            raise InvalidState(N_("This award was already reversed."))
        lot = (await conn.execute(select(L.id, L.remaining).where(L.transfer_id == award_id))).one()
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

    return await _once(session, program_id, key, print_, work, locks_first=True)


# --- expiry ------------------------------------------------------------------------------------------


async def _expire_account(conn: AsyncConnection, program_id: int, partner: int, expired: int, at: dt.datetime) -> int:
    """Move what is left (and not held) of the account's lots that expired by `at` to the expired account.

    The caller holds the account lock. Returns the points expired.
    """
    lots = (
        await conn.execute(
            select(L.id, L.remaining)
            .where(L.account_id == partner, L.remaining > 0, L.expires_at <= at)
            .order_by(L.expires_at, L.id)
        )
    ).all()
    return await _expire_lots(conn, program_id, partner, expired, lots, at)


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


async def expire_points(session: AsyncSession, *, now: dt.datetime | None = None, program_id: int | None = None) -> int:
    """Expire every lot due by `now`, one short transaction per account. Running it again changes nothing."""
    at = now or utcnow()
    async with session.begin():
        statement = (
            select(A.id, A.program_id, A.org_id)
            .where(A.id.in_(select(L.account_id).where(L.remaining > 0, L.expires_at <= at)))
            .order_by(A.id)
        )
        if program_id is not None:
            statement = statement.where(A.program_id == program_id)
        due = (await session.execute(statement)).all()
    total = 0
    for account_id, account_program, org_id in due:
        async with session.begin():
            accounts = await book.open_accounts(session, account_program, [org_id], [AccountKind.EXPIRED])
            conn = await session.connection()
            await lock_account(conn, account_id)
            total += await _expire_account(conn, account_program, account_id, accounts[AccountKind.EXPIRED], at)
    return total
