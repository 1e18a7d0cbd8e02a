"""Earning and taking back: awards (one or a batch) from the program's issuance, and their reversal."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.db import utcnow
from incentives.errors import N_, FieldError, InvalidState, NotFound, ValidationFailed
from incentives.ledger import book, lots
from incentives.ledger.accounts import Book, open_accounts
from incentives.ledger.book import Cause, Transfer, change_account, fingerprint, insert_transfer, partner_name
from incentives.ledger.checks import NO_CAUSE, check_key, joined, positive, replay, replayed
from incentives.ledger.models import AccountKind, TransferKind
from incentives.ledger.tables import LOT, TRANSFER


@dataclass(frozen=True)
class Award:
    """One award of a batch."""

    org_id: int
    points: int
    key: str
    cause: Cause = NO_CAUSE


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
    positive(points)
    check_key(key)
    print_ = fingerprint("earn", org_id=org_id, points=points, **cause.values())
    return await issue(session, program_id, TransferKind.EARN, org_id, points, key, print_, cause, now or utcnow())


async def issue(
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
    conn = await joined(session)
    accounts = await open_accounts(session, program_id, [org_id], [AccountKind.ISSUANCE])
    values = issuance_to(
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
    return transfer or await replayed(conn, program_id, key, print_)


def issuance_to(accounts: Book, org_id: int, **columns: Any) -> dict[str, Any]:
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
        positive(award.points)
        check_key(award.key)
    if len({award.key for award in awards}) != len(awards):
        raise ValidationFailed([FieldError(("awards",), N_("Each award needs its own idempotency key."))])
    conn = await joined(session)
    if not awards:
        return []
    at = now or utcnow()
    accounts = await open_accounts(
        session, program_id, sorted({award.org_id for award in awards}), [AccountKind.ISSUANCE]
    )
    rows = [
        issuance_to(
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
    replays = {row["idempotency_key"]: replay(found[row["idempotency_key"]], row["fingerprint"]) for row in skipped}
    return [transfer or replays[row["idempotency_key"]] for row, transfer in zip(rows, written, strict=True)]


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
    check_key(key)
    at = now or utcnow()
    print_ = fingerprint("reverse", award_id=award_id, **cause.values())
    conn = await joined(session)
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
        return await replayed(conn, program_id, key, print_)
    if await conn.scalar(select(TRANSFER.id).where(TRANSFER.reverses_id == award_id)) is not None:
        raise InvalidState(N_("This award was already reversed."))
    lot = (await conn.execute(select(LOT.id, LOT.remaining).where(LOT.transfer_id == award_id))).one()
    spent = amount - lot.remaining
    accounts = await open_accounts(session, program_id, [], [AccountKind.CLAWBACK])
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
        await lots.take_from_lot(conn, lot.id, transfer.id, lot.remaining)
    return transfer
