"""Lots and the debits that take from them: which lots give what (oldest expiry first), and booking a debit or
a hold's resolution with its counters, lots and lot uses, in the caller's transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from incentives.ledger.book import AVAILABLE, Refused, Transfer, insert_transfer, rowcount
from incentives.ledger.tables import ACCOUNT, ACCOUNTS, LOT, LOT_USES, LOTS

_DEBIT = (
    update(ACCOUNTS)
    .where(ACCOUNT.id == bindparam("account"), bindparam("points") <= AVAILABLE)
    .values(
        debits_posted=ACCOUNT.debits_posted + bindparam("posted"),
        debits_pending=ACCOUNT.debits_pending + bindparam("pending"),
    )
)
_RESOLVE_PENDING = (
    update(ACCOUNTS)
    .where(ACCOUNT.id == bindparam("account"))
    .values(
        debits_pending=ACCOUNT.debits_pending - bindparam("was_pending"),
        debits_posted=ACCOUNT.debits_posted + bindparam("posted"),
    )
)
_TAKE_FROM_LOT = (
    update(LOTS)
    .where(LOT.id == bindparam("lot"))
    .values(remaining=LOT.remaining - bindparam("part"), held=LOT.held + bindparam("held_part"))
)
_RELEASE_LOT = (
    update(LOTS)
    .where(LOT.id == bindparam("lot"))
    .values(held=LOT.held - bindparam("was_held"), remaining=LOT.remaining + bindparam("back"))
)
_USE_LOT = insert(LOT_USES).values(transfer_id=bindparam("transfer"), lot_id=bindparam("lot"), amount=bindparam("part"))


def plan_take(lots: Sequence[Any], amount: int) -> list[tuple[int, int]]:
    """Which lots give how much of `amount`: `lots` (live open lots) oldest expiry first.

    The caller holds the account lock, so the lots read under it cannot change underneath.
    """
    taken: list[tuple[int, int]] = []
    left = amount
    for lot in lots:
        if not left:
            break
        part = min(left, lot.remaining)
        taken.append((lot.id, part))
        left -= part
    # Account counters and lots agree (verify checks it), so the lots always cover what the account had.
    assert left == 0, f"lots short by {left}"
    return taken


def plan_release(
    uses: Sequence[tuple[int, int]], posted: int
) -> tuple[list[tuple[int, int, int]], list[tuple[int, int]]]:
    """Resolving a hold that took `uses` (lot, points), oldest expiry first: per lot (lot, points it held, points
    back to `remaining`), and the spent parts (lot, points) — the first `posted` points, oldest expiry first."""
    released: list[tuple[int, int, int]] = []
    spent: list[tuple[int, int]] = []
    left = posted
    for lot_id, amount in uses:
        part = min(left, amount)
        left -= part
        released.append((lot_id, amount, amount - part))
        if part:
            spent.append((lot_id, part))
    return released, spent


async def debit(conn: AsyncConnection, values: dict[str, Any], taken: list[tuple[int, int]], *, hold: bool) -> Transfer:
    """Book a debit of the partner account `values["debit_account_id"]` (a hold only reserves, pending): the
    counters first (only if the points are available, else Refused and nothing is written), then the transfer
    and the lots it takes from (`taken`, see plan_take)."""
    points = values["amount"]
    counters = {
        "account": values["debit_account_id"],
        "points": points,
        "posted": 0 if hold else points,
        "pending": points if hold else 0,
    }
    if rowcount(await conn.execute(_DEBIT, counters)) != 1:
        raise Refused()
    assert taken, "a debit takes from at least one lot"
    transfer = await insert_transfer(conn, **values)
    await conn.execute(
        _TAKE_FROM_LOT, [{"lot": lot, "part": part, "held_part": part if hold else 0} for lot, part in taken]
    )
    await conn.execute(_USE_LOT, [{"transfer": transfer.id, "lot": lot, "part": part} for lot, part in taken])
    return transfer


async def resolve(
    conn: AsyncConnection,
    values: dict[str, Any],
    held: int,
    posted: int,
    released: list[tuple[int, int, int]],
    spent: list[tuple[int, int]],
) -> Transfer:
    """Book a hold's resolution (`values`: the post or void transfer): the counters (`held` pending points go,
    `posted` of them are spent), the lots (`released`, see plan_release) and the spent parts' lot uses."""
    transfer = await insert_transfer(conn, **values)
    await conn.execute(_RESOLVE_PENDING, {"account": values["debit_account_id"], "was_pending": held, "posted": posted})
    if released:
        await conn.execute(_RELEASE_LOT, [{"lot": lot, "was_held": was, "back": back} for lot, was, back in released])
    if spent:
        await conn.execute(_USE_LOT, [{"transfer": transfer.id, "lot": lot, "part": part} for lot, part in spent])
    return transfer


# --- lots ---------------------------------------------------------------------------------------------


_OPEN_LOTS = (
    select(LOT.id, LOT.remaining, LOT.expires_at)
    .where(LOT.account_id == bindparam("account"), LOT.remaining > 0)
    .order_by(LOT.expires_at, LOT.id)
)
LOT_PAGE = 100
_FIRST_OPEN_LOTS = _OPEN_LOTS.limit(LOT_PAGE)


async def open_lots(
    conn: AsyncConnection, account_id: int, at: dt.datetime, points: int
) -> tuple[Sequence[Any], Sequence[Any]]:
    """The account's lots with points left, oldest expiry first, split into those expired by `at` and live ones:
    every expired one, and live ones at least until they cover `points` (usually one short read)."""
    rows = (await conn.execute(_FIRST_OPEN_LOTS, {"account": account_id})).all()
    expired = [lot for lot in rows if lot.expires_at <= at]
    live = rows[len(expired) :]
    if len(rows) == LOT_PAGE and (not live or sum(lot.remaining for lot in live) < points):
        rows = (await conn.execute(_OPEN_LOTS, {"account": account_id})).all()
        expired = [lot for lot in rows if lot.expires_at <= at]
        live = rows[len(expired) :]
    return expired, live


async def take_from_lot(conn: AsyncConnection, lot_id: int, transfer_id: int, points: int) -> None:
    """Take `points` from one lot's remaining points for a posted debit (expiry, reversal)."""
    await conn.execute(_TAKE_FROM_LOT, {"lot": lot_id, "part": points, "held_part": 0})
    await conn.execute(_USE_LOT, {"transfer": transfer_id, "lot": lot_id, "part": points})
