"""Expiry: lots past their date give what is left (and not held) to the program's expired account."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from incentives.db import utcnow
from incentives.ledger import book
from incentives.ledger.accounts import open_accounts
from incentives.ledger.book import change_account, insert_transfer
from incentives.ledger.checks import joined
from incentives.ledger.lots import take_from_lot
from incentives.ledger.models import AccountKind, TransferKind
from incentives.ledger.tables import ACCOUNT, LOT

# --- expiry ------------------------------------------------------------------------------------------


async def expire_lots(
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
        await take_from_lot(conn, lot.id, transfer.id, lot.remaining)
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
    conn = await joined(session)
    accounts = await open_accounts(session, due.program_id, [due.org_id], [AccountKind.EXPIRED])
    await book.lock_and_look(conn, due.program_id, due.account_id, None)
    lots = (
        await conn.execute(
            select(LOT.id, LOT.remaining)
            .where(LOT.account_id == due.account_id, LOT.remaining > 0, LOT.expires_at <= at)
            .order_by(LOT.expires_at, LOT.id)
        )
    ).all()
    return await expire_lots(conn, due.program_id, due.account_id, accounts[AccountKind.EXPIRED], lots, at)
