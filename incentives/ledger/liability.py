"""What the program owes its partners in points: balances of many partners at once, and when open points expire."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.ledger.book import AVAILABLE
from incentives.ledger.models import AccountKind
from incentives.ledger.queries import Balance
from incentives.ledger.tables import ACCOUNT, LOT


@dataclass(frozen=True)
class Outstanding:
    """Points partners hold: spendable (`available`) and held for pending redemptions (`held`), and of the
    spendable ones how many expire before each boundary (cumulative, one figure per boundary)."""

    available: int
    held: int
    expiring_before: list[tuple[dt.datetime, int]]

    @property
    def points(self) -> int:
        return self.available + self.held


def _partner_accounts(program_id: int, org_ids: Any | None) -> Any:
    statement = select(ACCOUNT.id).where(ACCOUNT.program_id == program_id, ACCOUNT.kind == AccountKind.PARTNER.value)
    return statement if org_ids is None else statement.where(ACCOUNT.org_id.in_(org_ids))


async def balances(session: AsyncSession, program_id: int, org_ids: Any | None = None) -> dict[int, Balance]:
    """The balances of the program's partner accounts (those of `org_ids`, a list or a select of ids, if given)."""
    statement = select(ACCOUNT.org_id, AVAILABLE.label("available"), ACCOUNT.debits_pending, ACCOUNT.earned).where(
        ACCOUNT.program_id == program_id, ACCOUNT.kind == AccountKind.PARTNER.value
    )
    if org_ids is not None:
        statement = statement.where(ACCOUNT.org_id.in_(org_ids))
    rows = (await session.execute(statement)).all()
    return {
        row.org_id: Balance(program_id, row.org_id, int(row.available), int(row.debits_pending), int(row.earned))
        for row in rows
    }


async def outstanding(
    session: AsyncSession, program_id: int, boundaries: Sequence[dt.datetime], org_ids: Any | None = None
) -> Outstanding:
    """One pass over the open lots of the partners' accounts, summed per expiry boundary."""
    accounts = _partner_accounts(program_id, org_ids)
    totals = (
        await session.execute(
            select(func.coalesce(func.sum(AVAILABLE), 0), func.coalesce(func.sum(ACCOUNT.debits_pending), 0)).where(
                ACCOUNT.id.in_(accounts)
            )
        )
    ).one()
    columns = [func.coalesce(func.sum(case((LOT.expires_at < b, LOT.remaining), else_=0)), 0) for b in boundaries]
    expiring: list[int] = []
    if columns:
        # Lots expiring after the last boundary count in no column: leave them out of the pass.
        open_lots = (LOT.account_id.in_(accounts), LOT.remaining > 0, LOT.expires_at < max(boundaries))
        row = (await session.execute(select(*columns).where(*open_lots))).one()
        expiring = [int(value) for value in row]
    return Outstanding(int(totals[0]), int(totals[1]), list(zip(boundaries, expiring, strict=True)))
