"""Low-level bookkeeping shared by the ledger operations: tables, transfers, locks, counters and credits.

Every function joins the caller's transaction and runs portable SQLAlchemy Core statements on its connection,
the same on SQLite and PostgreSQL. Each operation locks exactly one partner account row (batches: several, in
id order), so PostgreSQL cannot deadlock on them; SQLite's writers are serialized by BEGIN IMMEDIATE.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, fields
from typing import Any, cast

from sqlalchemy import CursorResult, Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from incentives.accounts.models import Program
from incentives.db import dialect_insert
from incentives.errors import NotFound
from incentives.ledger import postgres
from incentives.ledger.tables import ACCOUNT, ACCOUNTS, LOT, LOT_USES, LOTS, TRANSFER, TRANSFERS

# Spendable points of a credit-normal account: pending debits are already promised away.
AVAILABLE = ACCOUNT.credits_posted - ACCOUNT.debits_posted - ACCOUNT.debits_pending


@dataclass(frozen=True)
class Transfer:
    """One transfer as the ledger returns it; `replayed` is true when an idempotency key matched."""

    id: int
    program_id: int
    kind: str
    debit_account_id: int
    credit_account_id: int
    amount: int
    at: dt.datetime
    pending_id: int | None = None
    reverses_id: int | None = None
    timeout_at: dt.datetime | None = None
    idempotency_key: str | None = None
    rule_id: int | None = None
    rule_version: int | None = None
    lead_id: int | None = None
    redemption_id: int | None = None
    user_id: int | None = None
    reason: str | None = None
    replayed: bool = False

    @classmethod
    def of(cls, row: Any, *, replayed: bool = False) -> Transfer:
        return cls(**{name: getattr(row, name) for name in TRANSFER_FIELDS}, replayed=replayed)


TRANSFER_FIELDS = tuple(f.name for f in fields(Transfer) if f.name != "replayed")
TRANSFER_COLUMNS = [TRANSFERS.c[name] for name in TRANSFER_FIELDS]
_FIELD_NAMES = frozenset(TRANSFER_FIELDS)


@dataclass(frozen=True)
class Cause:
    """Who or what caused a transfer. The ledger stores these ids without knowing their domains."""

    rule_id: int | None = None
    rule_version: int | None = None
    lead_id: int | None = None
    redemption_id: int | None = None
    user_id: int | None = None
    reason: str | None = None

    def values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in CAUSE_FIELDS}


CAUSE_FIELDS = tuple(f.name for f in fields(Cause))

# Built once: json.dumps with options builds a new encoder per call.
_CANONICAL = json.JSONEncoder(sort_keys=True, default=str, separators=(",", ":"))


def fingerprint(operation: str, **payload: Any) -> str:
    """A stable digest of an operation and its payload: the same key must come with the same one."""
    return hashlib.sha256(_CANONICAL.encode([operation, payload]).encode()).hexdigest()


def add_months(moment: dt.datetime, months: int) -> dt.datetime:
    """`moment` plus whole calendar months; the 31st becomes the month's last day when needed."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def partner_name(org_id: int) -> str:
    return f"org:{org_id}"


def rowcount(result: Any) -> int:
    count: int = cast(CursorResult[Any], result).rowcount
    return count


def insert_skipping_conflicts(conn: AsyncConnection, table: Table, *unique: str) -> Any:
    """INSERT … ON CONFLICT (`unique`) DO NOTHING: both databases spell it alike, through their dialect's insert."""
    return dialect_insert(conn, table).on_conflict_do_nothing(index_elements=list(unique))


# --- locks ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Locked:
    """What one locking statement learnt: the account, its available points, the transfer already booked under
    the operation's key (if any), and for a hold being resolved: how it was resolved already (if it was), the
    hold itself and the lots it took from."""

    account_id: int
    available: int
    keyed_id: int | None
    resolved: str | None
    hold: Transfer | None = None
    uses: tuple[tuple[int, int], ...] = ()  # a hold's lots: (lot id, points held), oldest expiry first


# Locking and looking are two statements: on PostgreSQL a statement that waited for a row lock sees the locked
# row's newest version, but its subqueries still see the snapshot taken when it began, which would miss what
# the lock holder just committed (a twin's transfer, a hold's resolution).
_LOCK = select(AVAILABLE.label("available")).where(ACCOUNT.id == bindparam("account")).with_for_update(of=ACCOUNTS)
_KEYED = (
    select(TRANSFER.id)
    .where(TRANSFER.program_id == bindparam("program"), TRANSFER.idempotency_key == bindparam("key"))
    .scalar_subquery()
)
_RESOLVED = select(TRANSFER.kind).where(TRANSFER.pending_id == bindparam("hold")).scalar_subquery()
_LOOK = select(_KEYED.label("keyed_id"), _RESOLVED.label("resolved"))
_HOLD = TRANSFERS.alias("hold")
_LOCK_HOLD = (
    select(
        AVAILABLE.label("available"),
        *[_HOLD.c[name].label(f"hold_{name}") for name in TRANSFER_FIELDS],
        # The lots the hold took from, one row each, oldest expiry first (lot uses never change once written).
        LOT_USES.c.lot_id.label("use_lot_id"),
        LOT_USES.c.amount.label("use_amount"),
    )
    .select_from(
        _HOLD.join(ACCOUNTS, ACCOUNT.id == _HOLD.c.debit_account_id).outerjoin(
            LOT_USES.join(LOTS, LOT.id == LOT_USES.c.lot_id), LOT_USES.c.transfer_id == _HOLD.c.id
        )
    )
    # By the primary key alone (the caller checks the program), so the planner always takes that index.
    .where(_HOLD.c.id == bindparam("hold"), _HOLD.c.kind == "hold")
    .order_by(LOT.expires_at, LOT.id)
    .with_for_update(of=ACCOUNTS)
)


async def lock_and_look(conn: AsyncConnection, program_id: int, account_id: int, key: str | None) -> Locked:
    """Lock the account row (PostgreSQL; SQLite writers are serialized already), then read its available points
    and the id of a transfer already booked under `key`."""
    available = (await conn.execute(_LOCK, {"account": account_id})).scalar_one()
    keyed_id = None
    if key is not None:
        keyed_id = (await conn.execute(_LOOK, {"program": program_id, "key": key, "hold": None})).one().keyed_id
    return Locked(account_id, int(available), keyed_id, None)


async def lock_hold_and_look(conn: AsyncConnection, program_id: int, hold_id: int, key: str | None) -> Locked | None:
    """`lock_and_look` for resolving a hold: the hold (None if the program has no such hold), its partner's
    account locked, then a transfer under `key` and the hold's resolution if it has one."""
    rows = (await conn.execute(_LOCK_HOLD, {"hold": hold_id})).all()
    if not rows or rows[0].hold_program_id != program_id:
        return None
    row = rows[0]
    hold = Transfer(**{name: getattr(row, f"hold_{name}") for name in TRANSFER_FIELDS})
    uses = tuple((use.use_lot_id, use.use_amount) for use in rows if use.use_lot_id is not None)
    look = (await conn.execute(_LOOK, {"program": program_id, "key": key, "hold": hold_id})).one()
    return Locked(hold.debit_account_id, int(row.available), look.keyed_id, look.resolved, hold, uses)


async def change_account(conn: AsyncConnection, account_id: int, *, need: int = 0, **deltas: int) -> bool:
    """Add `deltas` to the account's counters; with `need`, only if that many points are available.

    The condition sits in the UPDATE itself, so no interleaving can overdraw the account.
    """
    values = {name: ACCOUNT[name] + delta for name, delta in deltas.items() if delta}
    if not values:
        return True
    statement = update(ACCOUNTS).where(ACCOUNT.id == account_id).values(values)
    if need:
        statement = statement.where(need <= AVAILABLE)
    return rowcount(await conn.execute(statement)) == 1


class Refused(Exception):
    """A conditional counter update changed no row (the caller's transaction must not commit)."""


# --- transfers --------------------------------------------------------------------------------------


def booked(transfer_id: int, values: dict[str, Any], *, replayed: bool = False) -> Transfer:
    """The transfer written with `values` (its columns) under `transfer_id`."""
    return Transfer(id=transfer_id, replayed=replayed, **{k: v for k, v in values.items() if k in _FIELD_NAMES})


async def insert_transfer(conn: AsyncConnection, **values: Any) -> Transfer:
    primary_key = (await conn.execute(insert(TRANSFERS), values)).inserted_primary_key
    assert primary_key is not None
    return booked(primary_key[0], values)


async def find_keyed(conn: AsyncConnection, program_id: int, key: str) -> tuple[Transfer, str | None] | None:
    """The transfer booked under `key` and the fingerprint of its payload, or None."""
    row = (
        await conn.execute(
            select(*TRANSFER_COLUMNS, TRANSFER.fingerprint).where(
                TRANSFER.program_id == program_id, TRANSFER.idempotency_key == key
            )
        )
    ).first()
    if row is None:
        return None
    return Transfer.of(row, replayed=True), row.fingerprint


async def find_many_keyed(conn: AsyncConnection, program_id: int, keys: list[str]) -> dict[str, tuple[Transfer, str]]:
    """`find_keyed` for many keys at once."""
    found: dict[str, tuple[Transfer, str]] = {}
    for start in range(0, len(keys), 1000):  # stay below the bound-parameter limits
        rows = await conn.execute(
            select(*TRANSFER_COLUMNS, TRANSFER.fingerprint).where(
                TRANSFER.program_id == program_id, TRANSFER.idempotency_key.in_(keys[start : start + 1000])
            )
        )
        for row in rows:
            found[row.idempotency_key] = (Transfer.of(row, replayed=True), row.fingerprint)
    return found


# --- earning ----------------------------------------------------------------------------------------

# The program's expiry period for new lots: a setting that may change, so it is read with every credit.
_EXPIRY_MONTHS = select(Program.points_expiry_months).where(Program.id == bindparam("program"))
_MONTHS_OF_ACCOUNT = select(Program.points_expiry_months).where(Program.id == ACCOUNT.program_id).scalar_subquery()
_ADD_EARNED = (
    update(ACCOUNTS)
    .where(ACCOUNT.id == bindparam("account"))
    .values(credits_posted=ACCOUNT.credits_posted + bindparam("points"), earned=ACCOUNT.earned + bindparam("points"))
)
_ADD_EARNED_RETURNING_MONTHS = _ADD_EARNED.returning(_MONTHS_OF_ACCOUNT)


def _one_or_many(rows: list[dict[str, Any]]) -> dict[str, Any] | list[dict[str, Any]]:
    """One row is executed as a plain statement: the executemany path costs more for a single row."""
    return rows[0] if len(rows) == 1 else rows


async def _insert_new_transfers(conn: AsyncConnection, awards: list[dict[str, Any]]) -> dict[str, int]:
    """Insert the transfers whose keys are not booked yet; the new ids by key. One row goes as a plain INSERT
    (its id from the cursor), many as one statement per thousand rows returning theirs."""
    skipping = insert_skipping_conflicts(conn, TRANSFERS, "program_id", "idempotency_key")
    if len(awards) == 1:
        result = await conn.execute(skipping, awards[0])
        if rowcount(result) != 1:  # the key is booked already
            return {}
        assert result.inserted_primary_key is not None
        return {awards[0]["idempotency_key"]: result.inserted_primary_key[0]}
    written = await conn.execute(skipping.returning(TRANSFER.id, TRANSFER.idempotency_key), awards)
    return {key: transfer_id for transfer_id, key in written}


async def credit_partners(conn: AsyncConnection, awards: list[dict[str, Any]]) -> list[Transfer | None]:
    """Earning transfers (issuance → partner) of one program in the caller's transaction, each with the partner's
    counters and a new lot that expires after the program's expiry period. `awards` are the transfers' columns.

    An award whose key is booked already (by an earlier or a concurrent transaction) writes nothing and comes
    back as None, for the caller to replay: the INSERT skips conflicting keys, so no twin ever fails. Partner
    counters are updated in account id order, the lock order every ledger operation follows.
    """
    if not awards:
        return []
    if conn.dialect.name == "postgresql":
        id_of = await postgres.credit(conn, awards)
    else:
        id_of = await _credit_portably(conn, awards)
    return [
        booked(id_of[award["idempotency_key"]], award) if award["idempotency_key"] in id_of else None
        for award in awards
    ]


async def _credit_portably(conn: AsyncConnection, awards: list[dict[str, Any]]) -> dict[str, int]:
    """`credit_partners` in portable statements: the transfers, the counters in account id order, the lots.
    The new transfers' ids by key."""
    id_of = await _insert_new_transfers(conn, awards)
    new = [award for award in awards if award["idempotency_key"] in id_of]
    if new:
        per_partner: dict[int, int] = {}
        for award in new:
            per_partner[award["credit_account_id"]] = per_partner.get(award["credit_account_id"], 0) + award["amount"]
        counters = [{"account": account, "points": per_partner[account]} for account in sorted(per_partner)]
        if len(counters) == 1:  # one partner (a single award): the expiry period comes back with its counters
            months = await conn.scalar(_ADD_EARNED_RETURNING_MONTHS, counters[0])
        else:
            await conn.execute(_ADD_EARNED, counters)
            months = await conn.scalar(_EXPIRY_MONTHS, {"program": awards[0]["program_id"]})
        if months is None:
            raise NotFound()
        lots = [
            {
                "account_id": award["credit_account_id"],
                "transfer_id": id_of[award["idempotency_key"]],
                "amount": award["amount"],
                "remaining": award["amount"],
                "held": 0,
                "expires_at": add_months(award["at"].astimezone(dt.UTC), months),
            }
            for award in new
        ]
        await conn.execute(insert(LOTS), _one_or_many(lots))
    return id_of
