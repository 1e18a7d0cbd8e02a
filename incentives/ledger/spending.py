"""Spending: holds (resolved by post or void), immediate redemptions and manual corrections."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from incentives.db import utcnow
from incentives.errors import N_, FieldError, InvalidState, NotFound, ValidationFailed
from incentives.ledger import book, lots
from incentives.ledger.accounts import open_accounts
from incentives.ledger.book import Cause, Transfer, fingerprint, partner_name
from incentives.ledger.checks import NO_CAUSE, check_key, joined, positive, replayed, sink
from incentives.ledger.earning import issue
from incentives.ledger.errors import InsufficientPoints
from incentives.ledger.expiry import expire_lots
from incentives.ledger.models import AccountKind, TransferKind
from incentives.ledger.tables import TRANSFER, TRANSFERS

# --- spending ----------------------------------------------------------------------------------------


async def debit_partner(
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
    conn = await joined(session)
    accounts = await open_accounts(session, program_id, [org_id], [to, AccountKind.EXPIRED])
    partner = accounts[partner_name(org_id)]
    locked = await book.lock_and_look(conn, program_id, partner, key)
    if locked.keyed_id is not None:
        return await replayed(conn, program_id, key, print_)
    expired, live = await lots.open_lots(conn, partner, at, points)
    available = locked.available - await expire_lots(
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
        return await lots.debit(conn, values, lots.plan_take(live, points), hold=kind is TransferKind.HOLD)
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
    positive(points)
    check_key(key)
    to = sink(kind)
    print_ = fingerprint("hold", org_id=org_id, points=points, kind=to, timeout_at=timeout_at, **cause.values())
    return await debit_partner(
        session,
        program_id=program_id,
        org_id=org_id,
        points=points,
        key=key,
        print_=print_,
        kind=TransferKind.HOLD,
        to=to,
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
    positive(points)
    check_key(key)
    to = sink(kind)
    print_ = fingerprint("redeem", org_id=org_id, points=points, kind=to, **cause.values())
    return await debit_partner(
        session,
        program_id=program_id,
        org_id=org_id,
        points=points,
        key=key,
        print_=print_,
        kind=TransferKind.REDEEM,
        to=to,
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
    check_key(key)
    at = now or utcnow()
    print_ = fingerprint("adjust", org_id=org_id, points=points, **cause.values())
    if points < 0:
        return await debit_partner(
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
    return await issue(session, program_id, TransferKind.ADJUST, org_id, points, key, print_, cause, at)


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
        positive(points)
    check_key(key)
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
        check_key(key)
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
    conn = await joined(session)
    locked = await book.lock_hold_and_look(conn, program_id, hold_id, key)
    if locked is None or locked.hold is None:
        raise NotFound(N_("No such hold."))
    if key is not None and locked.keyed_id is not None:
        return await replayed(conn, program_id, key, print_)
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
    released, spent = lots.plan_release(locked.uses, posted)
    return await lots.resolve(conn, values, held, posted, released, spent)


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
