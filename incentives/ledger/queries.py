"""Read side of the ledger: balances, points expiring soon, and transfer history with a cursor."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, case, exists, func, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from incentives.db import utcnow
from incentives.ledger.book import AVAILABLE, TRANSFER_COLUMNS, Transfer, partner_name
from incentives.ledger.models import DEBIT_NORMAL, AccountKind, TransferKind
from incentives.ledger.tables import ACCOUNT, ACCOUNTS, LOT, TRANSFER, TRANSFERS

EXPIRING_HORIZON = dt.timedelta(days=90)


@dataclass(frozen=True)
class Balance:
    program_id: int
    org_id: int
    available: int
    held: int
    lifetime_earned: int


@dataclass(frozen=True)
class Expiring:
    points: int
    expires_at: dt.datetime


@dataclass(frozen=True)
class Entry:
    """A transfer as one partner sees it: `points` is the change of its available points (signed)."""

    transfer: Transfer
    points: int


async def balance(session: AsyncSession, program_id: int, org_id: int) -> Balance:
    """One indexed row read, whatever the length of the history: the counters are cached on the account."""
    row = (
        await session.execute(
            select(AVAILABLE.label("available"), ACCOUNT.debits_pending, ACCOUNT.earned).where(
                ACCOUNT.program_id == program_id, ACCOUNT.name == partner_name(org_id)
            )
        )
    ).first()
    if row is None:
        return Balance(program_id, org_id, 0, 0, 0)
    return Balance(program_id, org_id, int(row.available), int(row.debits_pending), int(row.earned))


async def expiring(
    session: AsyncSession,
    program_id: int,
    org_id: int,
    *,
    now: dt.datetime | None = None,
    horizon: dt.timedelta = EXPIRING_HORIZON,
) -> list[Expiring]:
    """Points that will expire within `horizon`, by expiry time (held points do not expire)."""
    until = (now or utcnow()) + horizon
    account = (
        select(ACCOUNT.id)
        .where(ACCOUNT.program_id == program_id, ACCOUNT.name == partner_name(org_id))
        .scalar_subquery()
    )
    rows = (
        await session.execute(
            select(func.sum(LOT.remaining).label("points"), LOT.expires_at)
            .where(LOT.account_id == account, LOT.remaining > 0, LOT.expires_at <= until)
            .group_by(LOT.expires_at)
            .order_by(LOT.expires_at)
        )
    ).all()
    return [Expiring(int(row.points), row.expires_at) for row in rows]


async def expiring_by_org(
    session: AsyncSession, program_id: int, *, now: dt.datetime, horizon: dt.timedelta = EXPIRING_HORIZON
) -> dict[int, list[Expiring]]:
    """`expiring` for every partner of the program at once (a weekly run's thousands of readers)."""
    rows = await session.execute(
        select(ACCOUNT.org_id, func.sum(LOT.remaining).label("points"), LOT.expires_at)
        .join(ACCOUNTS, ACCOUNT.id == LOT.account_id)
        .where(ACCOUNT.program_id == program_id, ACCOUNT.org_id.is_not(None))
        .where(LOT.remaining > 0, LOT.expires_at <= now + horizon)
        .group_by(ACCOUNT.org_id, LOT.expires_at)
        .order_by(ACCOUNT.org_id, LOT.expires_at)
    )
    found: dict[int, list[Expiring]] = {}
    for row in rows:
        found.setdefault(row.org_id, []).append(Expiring(int(row.points), row.expires_at))
    return found


async def history(
    session: AsyncSession, program_id: int, org_id: int, *, limit: int = 50, before: int | None = None
) -> tuple[list[Entry], int | None]:
    """Transfers touching the partner's account, newest first; returns the page and the next cursor (an id)."""
    account_id = await session.scalar(
        select(ACCOUNT.id).where(ACCOUNT.program_id == program_id, ACCOUNT.name == partner_name(org_id))
    )
    if account_id is None:
        return [], None
    # Two index range scans (debit side, credit side), each already newest first, merged.
    sides = []
    for column in (TRANSFER.debit_account_id, TRANSFER.credit_account_id):
        side = select(TRANSFER.id).where(column == account_id)
        if before is not None:
            side = side.where(TRANSFER.id < before)
        sides.append(side.order_by(TRANSFER.id.desc()).limit(limit + 1).subquery().select())
    ids = union_all(*sides).subquery()
    rows = (
        await session.execute(
            select(*TRANSFER_COLUMNS)
            .where(TRANSFER.id.in_(select(ids.c.id)))
            .order_by(TRANSFER.id.desc())
            .limit(limit + 1)
        )
    ).all()
    page = [Transfer.of(row) for row in rows[:limit]]
    held = await _hold_amounts(session, [t.pending_id for t in page if t.pending_id is not None])
    entries = [Entry(transfer, _available_change(transfer, account_id, held)) for transfer in page]
    next_cursor = entries[-1].transfer.id if len(rows) > limit else None
    return entries, next_cursor


async def system_balance(session: AsyncSession, program_id: int, kind: AccountKind) -> int:
    """A system account's balance on its normal side, summed from its transfers (it caches nothing).

    Posted transfers and unresolved holds count; a resolved hold is replaced by its post or void.
    """
    account_id = await session.scalar(
        select(ACCOUNT.id).where(ACCOUNT.program_id == program_id, ACCOUNT.name == kind.value)
    )
    if account_id is None:
        return 0
    resolution = aliased(TRANSFERS)
    counted = and_(
        or_(TRANSFER.debit_account_id == account_id, TRANSFER.credit_account_id == account_id),
        TRANSFER.kind != TransferKind.VOID.value,
        or_(TRANSFER.kind != TransferKind.HOLD.value, ~exists().where(resolution.c.pending_id == TRANSFER.id)),
    )
    signed = case((TRANSFER.credit_account_id == account_id, TRANSFER.amount), else_=-TRANSFER.amount)
    total = int(await session.scalar(select(func.coalesce(func.sum(signed), 0)).where(counted)) or 0)
    return -total if kind in DEBIT_NORMAL else total


def _available_change(transfer: Transfer, account_id: int, held: dict[int, int]) -> int:
    """How the transfer changed the partner's available points; the entries of a history add up to them."""
    if transfer.pending_id is not None:  # post or void: the hold already took its points from available
        return held[transfer.pending_id] - (transfer.amount if transfer.kind == "post" else 0)
    return transfer.amount if transfer.credit_account_id == account_id else -transfer.amount


async def _hold_amounts(session: AsyncSession, hold_ids: list[int]) -> dict[int, int]:
    if not hold_ids:
        return {}
    rows = await session.execute(select(TRANSFER.id, TRANSFER.amount).where(TRANSFER.id.in_(hold_ids)))
    return {row.id: row.amount for row in rows}


@dataclass(frozen=True)
class ExpiringDay:
    """Points of one partner account that expire on one day."""

    account_id: int
    program_id: int
    org_id: int
    day: str
    points: int
    first_at: dt.datetime


async def expiring_by_day(session: AsyncSession, *, start: dt.datetime, end: dt.datetime) -> list[ExpiringDay]:
    """Every partner account's points expiring after `start` and by `end`, per account and expiry day."""
    day = func.date(LOT.expires_at)
    rows = await session.execute(
        select(
            ACCOUNT.id,
            ACCOUNT.program_id,
            ACCOUNT.org_id,
            day.label("day"),
            func.sum(LOT.remaining).label("points"),
            func.min(LOT.expires_at).label("first_at"),
        )
        .join(ACCOUNTS, ACCOUNT.id == LOT.account_id)
        .where(LOT.remaining > 0, LOT.expires_at > start, LOT.expires_at <= end, ACCOUNT.org_id.is_not(None))
        .group_by(ACCOUNT.id, ACCOUNT.program_id, ACCOUNT.org_id, day)
    )
    return [
        ExpiringDay(row.id, row.program_id, row.org_id, str(row.day), int(row.points), row.first_at) for row in rows
    ]


@dataclass(frozen=True)
class EarningChange:
    """A change of a partner's earned points: an award or issued correction (+), or a reversal (−)."""

    transfer_id: int
    org_id: int
    points: int
    at: dt.datetime
    reverses_id: int | None


async def earning_changes(session: AsyncSession, program_id: int) -> list[EarningChange]:
    """Every transfer of the program that changed a partner's earned points, in booking order (the same
    transfers that move `ledger_accounts.earned`)."""
    partner = aliased(ACCOUNTS)
    issued = (TRANSFER.kind.in_([TransferKind.EARN.value, TransferKind.ADJUST.value])) & (
        TRANSFER.credit_account_id == partner.c.id
    )
    reversed_ = (
        (TRANSFER.kind == TransferKind.REVERSE.value)
        & TRANSFER.reverses_id.is_not(None)
        & (TRANSFER.debit_account_id == partner.c.id)
    )
    rows = await session.execute(
        select(TRANSFER.id, partner.c.org_id, TRANSFER.amount, TRANSFER.at, TRANSFER.reverses_id, TRANSFER.kind)
        .join(partner, or_(issued, reversed_))
        .where(TRANSFER.program_id == program_id, partner.c.kind == AccountKind.PARTNER.value)
        .order_by(TRANSFER.id)
    )
    return [
        EarningChange(
            row.id,
            row.org_id,
            -row.amount if row.kind == TransferKind.REVERSE.value else row.amount,
            row.at,
            row.reverses_id,
        )
        for row in rows
    ]


@dataclass(frozen=True)
class AdjustmentEntry:
    """A manual adjustment as its audit trail shows it: whose balance it changed, by how much (signed), why, who."""

    at: dt.datetime
    org_id: int
    points: int
    reason: str
    user_id: int | None


async def recent_adjustments(session: AsyncSession, program_id: int, limit: int) -> list[AdjustmentEntry]:
    """The program's latest manual adjustments, newest first."""
    partner = aliased(ACCOUNTS)
    rows = await session.execute(
        select(*TRANSFER_COLUMNS, partner.c.id.label("partner_id"), partner.c.org_id.label("partner_org"))
        .join(
            partner,
            (partner.c.kind == AccountKind.PARTNER.value)
            & or_(partner.c.id == TRANSFER.credit_account_id, partner.c.id == TRANSFER.debit_account_id),
        )
        .where(TRANSFER.program_id == program_id, TRANSFER.kind == TransferKind.ADJUST.value)
        .order_by(TRANSFER.id.desc())
        .limit(limit)
    )
    return [
        AdjustmentEntry(
            row.at,
            row.partner_org,
            row.amount if row.partner_id == row.credit_account_id else -row.amount,
            row.reason or "",
            row.user_id,
        )
        for row in rows
    ]


async def earned_between(
    session: AsyncSession, program_id: int, org_id: int, start: dt.datetime, end: dt.datetime
) -> int:
    """Points the partner earned after `start` up to and including `end`: awards and issued corrections booked
    in the window, less the reversals booked in it (the transfers of `earning_changes`, for one account);
    never below 0."""
    account_id = await session.scalar(
        select(ACCOUNT.id).where(ACCOUNT.program_id == program_id, ACCOUNT.name == partner_name(org_id))
    )
    if account_id is None:
        return 0
    in_window = (TRANSFER.at > start) & (TRANSFER.at <= end)
    issued = select(func.coalesce(func.sum(TRANSFER.amount), 0)).where(
        TRANSFER.credit_account_id == account_id,
        TRANSFER.kind.in_([TransferKind.EARN.value, TransferKind.ADJUST.value]),
        in_window,
    )
    reversed_ = select(func.coalesce(func.sum(TRANSFER.amount), 0)).where(
        TRANSFER.debit_account_id == account_id,
        TRANSFER.kind == TransferKind.REVERSE.value,
        TRANSFER.reverses_id.is_not(None),
        in_window,
    )
    row = (await session.execute(select(issued.scalar_subquery(), reversed_.scalar_subquery()))).one()
    return max(0, int(row[0]) - int(row[1]))


async def programs_with_accounts(session: AsyncSession) -> list[int]:
    return list(await session.scalars(select(ACCOUNT.program_id).distinct().order_by(ACCOUNT.program_id)))


async def transfer_by_key(session: AsyncSession, program_id: int, key: str) -> Transfer | None:
    """The transfer booked under an idempotency key of the program, or None."""
    row = (
        await session.execute(
            select(*TRANSFER_COLUMNS).where(TRANSFER.program_id == program_id, TRANSFER.idempotency_key == key)
        )
    ).first()
    return None if row is None else Transfer.of(row)


async def resolution_of(session: AsyncSession, hold_id: int) -> Transfer | None:
    """The post or void that resolved a hold, or None while it is pending."""
    row = (await session.execute(select(*TRANSFER_COLUMNS).where(TRANSFER.pending_id == hold_id))).first()
    return None if row is None else Transfer.of(row)


__all__ = [
    "AdjustmentEntry",
    "Balance",
    "EarningChange",
    "Entry",
    "Expiring",
    "ExpiringDay",
    "balance",
    "earned_between",
    "earning_changes",
    "expiring",
    "expiring_by_day",
    "history",
    "programs_with_accounts",
    "recent_adjustments",
    "resolution_of",
    "system_balance",
    "transfer_by_key",
]
