"""Low-level bookkeeping shared by the ledger operations: accounts, locks, transfers, counters and lots.

Every function runs inside the caller's transaction, as Core statements on its connection (the ORM
session layer costs more per statement than a short statement itself). Each operation locks exactly
one partner account row (batches: several, in id order), so PostgreSQL cannot deadlock on them.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, cast
from weakref import WeakKeyDictionary

from sqlalchemy import (
    CursorResult,
    Engine,
    Insert,
    Table,
    bindparam,
    event,
    func,
    insert,
    literal,
    literal_column,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.util import greenlet_spawn

from incentives import alone, sqlite_driver
from incentives.accounts.models import Program
from incentives.errors import NotFound
from incentives.ledger.models import AccountKind, LedgerAccount, LedgerLot, LedgerLotUse, LedgerTransfer

ACCOUNTS = cast(Table, LedgerAccount.__table__)
TRANSFERS = cast(Table, LedgerTransfer.__table__)
LOTS = cast(Table, LedgerLot.__table__)
LOT_USES = cast(Table, LedgerLotUse.__table__)

A = ACCOUNTS.c
T = TRANSFERS.c
L = LOTS.c

# Spendable points of a credit-normal account: pending debits are already promised away.
AVAILABLE = A.credits_posted - A.debits_posted - A.debits_pending


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
        data = row._mapping
        return cls(**{name: data[name] for name in TRANSFER_FIELDS}, replayed=replayed)


# Computed once: dataclasses.fields() is slow enough to show up in a batch of 1,000 awards.
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


# The hot statements are built once: building one per call (and its cache key) costs more than running it.
_LOCK = select(AVAILABLE).where(A.id == bindparam("account")).with_for_update()
# The program's expiry period, read with the account row: a setting that may change, so never cached.
_MONTHS = select(Program.points_expiry_months).where(Program.id == A.program_id).scalar_subquery()
_CREDIT_EARNED = (
    update(ACCOUNTS)
    .where(A.id == bindparam("account"))
    .values(credits_posted=A.credits_posted + bindparam("points"), earned=A.earned + bindparam("points"))
    .returning(_MONTHS)
)
_INSERT_TRANSFER = insert(TRANSFERS)


def _credit_partner_in_one_statement() -> Insert:
    """PostgreSQL: the earning transfer, the partner's counters and the new lot in one statement (data-modifying
    CTEs). Calendar months are added in UTC, and like `add_months` PostgreSQL makes the 31st the month's last day."""
    names = ("program_id", "kind", "debit_account_id", "credit_account_id", "amount", "idempotency_key")
    # Parameter names that are no column's name: an UPDATE would add those to its SET clause.
    params = {name: bindparam(f"p_{name}", type_=T[name].type) for name in (*names, "fingerprint", "at", *CAUSE_FIELDS)}
    transfer = insert(TRANSFERS).values(params).returning(T.id).cte("transfer")
    partner, points = params["credit_account_id"], params["amount"]
    account = (
        update(ACCOUNTS)
        .where(A.id == partner)
        .values(credits_posted=A.credits_posted + points, earned=A.earned + points)
        .returning(_MONTHS.label("months"))
        .cte("account")
    )
    expires_at = func.timezone("UTC", func.timezone("UTC", params["at"]) + func.make_interval(0, account.c.months))
    return (
        insert(LOTS)
        .from_select(
            ["account_id", "transfer_id", "amount", "remaining", "held", "expires_at"],
            select(partner, transfer.c.id, points, points, literal(0), expires_at).select_from(
                transfer.join(account, true())
            ),
        )
        .returning(L.transfer_id)
    )


_CREDIT_PARTNER_PG = _credit_partner_in_one_statement()
# In a transaction of its own: the same statement straight on asyncpg, in autocommit (incentives/alone.py).
_CREDIT_PARTNER_ALONE = alone.AloneStatement(_CREDIT_PARTNER_PG)


# Built once: json.dumps with options builds a new encoder per call, which showed in batches of 1,000 awards.
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


# --- accounts ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Book:
    """The account ids an operation needs, by name."""

    ids: dict[str, int]

    def __getitem__(self, name: str) -> int:
        return self.ids[name]


# Ledger accounts are never changed in what they are (program, name, id) and never deleted, so their ids
# are cached per engine (one cache per database) and only balances are read from the rows. An id enters
# the cache once the transaction that saw it has committed: an account created by a transaction that
# rolls back is never cached. A miss reads (and if need be creates) the rows.
_ACCOUNT_IDS: WeakKeyDictionary[Engine, dict[tuple[int, str], int]] = WeakKeyDictionary()
_SEEN = "ledger_accounts_seen"


@event.listens_for(Session, "after_commit")
def _cache_seen_accounts(session: Session) -> None:
    for engine, ids in session.info.pop(_SEEN, {}).items():
        _ACCOUNT_IDS.setdefault(engine, {}).update(ids)


@event.listens_for(Session, "after_soft_rollback")
def _forget_seen_accounts(session: Session, _previous: Any) -> None:
    session.info.pop(_SEEN, None)


def cached_accounts(engine: AsyncEngine, program_id: int, org_ids: list[int], kinds: list[AccountKind]) -> Book | None:
    """The named accounts' ids if all of them are cached already (no statement), else None."""
    cached = _ACCOUNT_IDS.get(engine.sync_engine, {})
    names = [partner_name(org_id) for org_id in org_ids] + [kind.value for kind in kinds]
    ids = {name: cached[program_id, name] for name in names if (program_id, name) in cached}
    return Book(ids) if len(ids) == len(names) else None


async def open_accounts(session: AsyncSession, program_id: int, org_ids: list[int], kinds: list[AccountKind]) -> Book:
    """The named accounts of a program, created on first use (concurrent creators agree on one row)."""
    wanted: dict[str, tuple[AccountKind, int | None]] = {
        partner_name(org_id): (AccountKind.PARTNER, org_id) for org_id in org_ids
    }
    wanted.update({kind.value: (kind, None) for kind in kinds})
    conn = await session.connection()
    cached = cached_accounts(conn.engine, program_id, org_ids, kinds)
    if cached is not None:
        return cached
    ids = await _load_accounts(conn, program_id, list(wanted))
    missing = [name for name in wanted if name not in ids]
    if missing:
        rows = [
            {
                "program_id": program_id,
                "kind": wanted[name][0].value,
                "name": name,
                "org_id": wanted[name][1],
                "debits_posted": 0,
                "credits_posted": 0,
                "debits_pending": 0,
                "credits_pending": 0,
                "earned": 0,
            }
            for name in sorted(missing)
        ]
        dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        await conn.execute(
            dialect_insert(ACCOUNTS).values(rows).on_conflict_do_nothing(index_elements=["program_id", "name"])
        )
        ids = await _load_accounts(conn, program_id, list(wanted))
    seen = session.info.setdefault(_SEEN, {}).setdefault(conn.sync_engine, {})
    seen.update({(program_id, name): account_id for name, account_id in ids.items()})
    return Book(ids)


async def _load_accounts(conn: AsyncConnection, program_id: int, names: list[str]) -> dict[str, int]:
    rows = (
        await conn.execute(
            select(Program.id, A.id.label("account_id"), A.name)
            .select_from(Program)
            .outerjoin(ACCOUNTS, (A.program_id == Program.id) & A.name.in_(names))
            .where(Program.id == program_id)
        )
    ).all()
    if not rows:
        raise NotFound()
    return {row.name: row.account_id for row in rows if row.account_id is not None}


@dataclass(frozen=True)
class Locked:
    """What one locking statement learnt: the account, its available points, the transfer already booked under
    the operation's key (if any), and how the hold being resolved was resolved already (if it was)."""

    account_id: int
    available: int
    keyed_id: int | None
    resolved: str | None
    hold: Any = None
    uses: tuple[tuple[int, int], ...] = ()  # a hold's lots: (lot id, points held), oldest expiry first


_KEYED = (
    select(T.id).where(T.program_id == bindparam("program"), T.idempotency_key == bindparam("key")).scalar_subquery()
)
_LOCK_AND_LOOK = (
    select(A.id.label("account_id"), AVAILABLE.label("available"), _KEYED.label("keyed_id"))
    .where(A.id == bindparam("account"))
    .with_for_update(of=ACCOUNTS)
)
_HOLD = TRANSFERS.alias("hold")
_RESOLVED = select(T.kind).where(T.pending_id == _HOLD.c.id).scalar_subquery()
_LOCK_HOLD_AND_LOOK = (
    select(
        A.id.label("account_id"),
        AVAILABLE.label("available"),
        _KEYED.label("keyed_id"),
        _RESOLVED.label("resolved"),
        *[_HOLD.c[name].label(f"hold_{name}") for name in TRANSFER_FIELDS],
        # The lots the hold took from, one row each, oldest expiry first (lot uses never change once written).
        LOT_USES.c.lot_id.label("use_lot_id"),
        LOT_USES.c.amount.label("use_amount"),
    )
    .select_from(
        _HOLD.join(ACCOUNTS, A.id == _HOLD.c.debit_account_id).outerjoin(
            LOT_USES.join(LOTS, L.id == LOT_USES.c.lot_id), LOT_USES.c.transfer_id == _HOLD.c.id
        )
    )
    # By primary keys alone; `lock_hold_and_look` checks the program. With a condition on a program_id here,
    # PostgreSQL, before it had statistics, scanned the program's transfers (or accounts) in an index on
    # program_id instead of taking the primary key.
    .where(_HOLD.c.id == bindparam("hold"), _HOLD.c.kind == "hold")
    .order_by(L.expires_at, L.id)
    .with_for_update(of=ACCOUNTS)
)


async def lock_and_look(conn: AsyncConnection, program_id: int, account_id: int, key: str | None) -> Locked:
    """Lock the account row (PostgreSQL; SQLite writers are serialized already) and, in the same statement,
    read its available points and the id of a transfer already booked under `key`."""
    row = (await conn.execute(_LOCK_AND_LOOK, {"account": account_id, "program": program_id, "key": key})).one()
    return Locked(row.account_id, int(row.available), row.keyed_id, None)


async def lock_hold_and_look(conn: AsyncConnection, program_id: int, hold_id: int, key: str | None) -> Locked | None:
    """`lock_and_look` for resolving a hold: the hold (None if the program has no such hold), its partner's
    account locked, a transfer under `key`, the hold's resolution if it has one, and the lots it took from
    (`Locked.uses`) — one statement."""
    rows = (await conn.execute(_LOCK_HOLD_AND_LOOK, {"hold": hold_id, "program": program_id, "key": key})).all()
    if not rows or rows[0].hold_program_id != program_id:
        return None
    row = rows[0]
    hold = Transfer(**{name: row._mapping[f"hold_{name}"] for name in TRANSFER_FIELDS})
    uses = tuple((use.use_lot_id, use.use_amount) for use in rows if use.use_lot_id is not None)
    return Locked(row.account_id, int(row.available), row.keyed_id, row.resolved, hold, uses)


async def lock_account(conn: AsyncConnection, account_id: int) -> int:
    """Lock the account row (PostgreSQL; SQLite writers are serialized already) and return its available points."""
    available = await conn.scalar(_LOCK, {"account": account_id})
    return int(available or 0)


async def change_account(conn: AsyncConnection, account_id: int, *, need: int = 0, **deltas: int) -> bool:
    """Add `deltas` to the account's counters; with `need`, only if that many points are available.

    The condition sits in the UPDATE itself, so no interleaving can overdraw the account.
    """
    values = {name: A[name] + delta for name, delta in deltas.items() if delta}
    if not values:
        return True
    statement = update(ACCOUNTS).where(A.id == account_id).values(values)
    if need:
        statement = statement.where(need <= AVAILABLE)
    return rowcount(await conn.execute(statement)) == 1


async def credit_partner(conn: AsyncConnection, **values: Any) -> Transfer:
    """Book an earning transfer (issuance → partner): the transfer, the partner's counters, and a new lot that
    expires after the program's expiry period. `values` are the transfer's columns, every cause field included.

    In the caller's transaction: one statement on PostgreSQL, one call into the connection's thread on SQLite.
    """
    if conn.dialect.name == "postgresql":
        transfer_id = await conn.scalar(_CREDIT_PARTNER_PG, {f"p_{name}": value for name, value in values.items()})
    else:
        ids = await sqlite_driver.call_in_thread(await conn.get_raw_connection(), _awards_in_thread, [values], False)
        transfer_id = None if ids is None else ids[0]
    return _booked(transfer_id, values)


async def credit_partner_alone(engine: AsyncEngine, **values: Any) -> Transfer:
    """`credit_partner` as a transaction of its own, in one round trip: on PostgreSQL the one statement in
    autocommit (a statement is atomic by itself), sent straight on asyncpg; on SQLite BEGIN IMMEDIATE, the
    three statements and COMMIT in one call into the connection's thread. A used idempotency key raises
    IntegrityError and leaves nothing."""
    if engine.dialect.name == "postgresql":
        transfer_id = await _CREDIT_PARTNER_ALONE.fetchval(
            engine, {f"p_{name}": value for name, value in values.items()}
        )
        return _booked(transfer_id, values)
    raw = await engine.raw_connection()  # straight from the pool: the transaction is all in the call below
    try:
        ids = await sqlite_driver.call_in_thread(raw, _awards_in_thread, [values], True)
    finally:
        await greenlet_spawn(raw.close)
    return _booked(None if ids is None else ids[0], values)


def _booked(transfer_id: int | None, values: dict[str, Any]) -> Transfer:
    """The transfer written with `values` (its columns) under `transfer_id`; None: the account row was missing,
    so nothing was written (an earning transfer must not stay without its lot)."""
    if transfer_id is None:
        raise NotFound()
    return Transfer(id=transfer_id, **{k: v for k, v in values.items() if k in _FIELD_NAMES})


# SQLite: the award's statements, compiled once from the same Core constructs (`sqlite_driver.compiled`),
# their values bound as SQLAlchemy binds them (`sqlite_driver.bind_value`).
_SQLITE_TRANSFER_COLUMNS = (*(name for name in TRANSFER_FIELDS if name != "id"), "fingerprint")
_SQLITE_INSERT_TRANSFER = sqlite_driver.compiled(
    insert(TRANSFERS).values({name: bindparam(name) for name in _SQLITE_TRANSFER_COLUMNS})
)
_SQLITE_CREDIT_EARNED = sqlite_driver.compiled(_CREDIT_EARNED)
_SQLITE_INSERT_LOT = sqlite_driver.compiled(
    insert(LOTS).values(
        account_id=bindparam("account"),
        transfer_id=bindparam("transfer"),
        amount=bindparam("points"),
        remaining=bindparam("points"),
        held=0,
        expires_at=bindparam("expires_at"),
    )
)


# A transfer's parameters for `_SQLITE_INSERT_TRANSFER`: every column, bound as SQLAlchemy binds them.
_sqlite_transfer_row = sqlite_driver.RowBinder([T[name] for name in _SQLITE_TRANSFER_COLUMNS])


def _awards_in_thread(conn: sqlite3.Connection, awards: list[dict[str, Any]], alone: bool) -> list[int] | None:
    """Runs in the connection's thread: per award the transfer, the counters (returning the program's expiry
    period) and the lot; `alone`, inside BEGIN IMMEDIATE … COMMIT, rolled back on any error. None when an
    account row is missing (then nothing stays either)."""
    if alone:
        conn.execute("BEGIN IMMEDIATE")
    try:
        ids = []
        for values in awards:
            partner, points, at = values["credit_account_id"], values["amount"], values["at"]
            transfer_id = conn.execute(_SQLITE_INSERT_TRANSFER, _sqlite_transfer_row(values)).lastrowid
            months = conn.execute(_SQLITE_CREDIT_EARNED, {"account": partner, "points": points}).fetchall()
            if not months:
                raise LookupError("no such account")
            expires_at = add_months(at.astimezone(dt.UTC), months[0][0])
            lot = {
                "account": partner,
                "transfer": transfer_id,
                "points": points,
                "held": 0,
                "expires_at": sqlite_driver.bind_value(L.expires_at, expires_at),
            }
            conn.execute(_SQLITE_INSERT_LOT, lot)
            assert transfer_id is not None
            ids.append(transfer_id)
        if alone:
            conn.execute("COMMIT")
    except LookupError:
        if alone:
            conn.execute("ROLLBACK")
        return None
    except BaseException:
        if alone and conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return ids


# A batch's earned points per partner account, added in account id order (the same lock order everywhere).
_ADD_EARNED = (
    update(ACCOUNTS)
    .where(A.id == bindparam("account"))
    .values(credits_posted=A.credits_posted + bindparam("points"), earned=A.earned + bindparam("points"))
)


def _earned_per_partner(awards: list[dict[str, Any]]) -> list[dict[str, int]]:
    """`_ADD_EARNED`'s parameters for a batch of earning transfers: one per partner account, in id order."""
    per_partner: dict[int, int] = {}
    for award in awards:
        per_partner[award["credit_account_id"]] = per_partner.get(award["credit_account_id"], 0) + award["amount"]
    return [{"account": account, "points": per_partner[account]} for account in sorted(per_partner)]


# SQLite, a batch: statements over all of its rows instead of three per award.
_SQLITE_LAST_TRANSFER = "SELECT COALESCE(max(id), 0) FROM ledger_transfers"
_SQLITE_ADD_EARNED = sqlite_driver.compiled(_ADD_EARNED)
_SQLITE_EXPIRY_MONTHS = sqlite_driver.compiled(
    select(Program.points_expiry_months).where(Program.id == bindparam("program"))
)
_SQLITE_LOTS_AFTER = sqlite_driver.compiled(
    insert(LOTS).from_select(
        ["account_id", "transfer_id", "amount", "remaining", "held", "expires_at"],
        select(T.credit_account_id, T.id, T.amount, T.amount, literal_column("0"), bindparam("expires_at")).where(
            T.id > bindparam("last")
        ),
    )
)


def _batch_in_thread(conn: sqlite3.Connection, awards: list[dict[str, Any]]) -> list[int] | None:
    """Runs in the connection's thread, in the caller's write transaction: the earning transfers of one program,
    debit account and time (one INSERT run over all rows), the partners' counters (one UPDATE per partner, in
    account order) and the lots (one INSERT … SELECT of the new transfers). Their ids follow the highest id
    before them: the transaction holds SQLite's write lock, and an INTEGER PRIMARY KEY takes max + 1. Transfer
    ids in the order of `awards`; None when an account row is missing (the caller's rollback undoes the rest)."""
    last = conn.execute(_SQLITE_LAST_TRANSFER).fetchone()[0]
    shared = {"at": sqlite_driver.bind_value(T.at, awards[0]["at"])}
    conn.executemany(_SQLITE_INSERT_TRANSFER, [_sqlite_transfer_row(values, shared) for values in awards])
    end = conn.execute(_SQLITE_LAST_TRANSFER).fetchone()[0]
    if end != last + len(awards):
        raise RuntimeError(f"{len(awards)} transfers after id {last} did not take the ids up to {end}")
    earned = _earned_per_partner(awards)
    updated = conn.executemany(_SQLITE_ADD_EARNED, earned).rowcount
    found = conn.execute(_SQLITE_EXPIRY_MONTHS, {"program": awards[0]["program_id"]}).fetchone()
    if updated != len(earned) or found is None:
        return None
    expires_at = add_months(awards[0]["at"].astimezone(dt.UTC), found[0])
    conn.execute(_SQLITE_LOTS_AFTER, {"last": last, "expires_at": sqlite_driver.bind_value(L.expires_at, expires_at)})
    return list(range(last + 1, end + 1))


# PostgreSQL: many earning transfers and their lots in one statement, the rows passed as arrays (unnest), the
# lots expiring after the program's period as in the single statement above. A key already booked is skipped
# (ON CONFLICT DO NOTHING: no transfer, no lot), so that the caller need not look all keys up first. A cause
# column that is NULL in every row is sent as NULL: a multi-argument unnest pads it with NULLs. The partners'
# counters are updated by the caller, in account id order.
_CREDIT_PARTNERS_PG = text(
    """
WITH transfer AS (
    INSERT INTO ledger_transfers (program_id, kind, debit_account_id, credit_account_id, amount, idempotency_key,
                                  fingerprint, at, rule_id, rule_version, lead_id, redemption_id, user_id, reason)
    SELECT :program_id, :kind, :debit_account_id, u.credit, u.amount, u.key, u.print, :at, u.rule_id,
           u.rule_version, u.lead_id, u.redemption_id, u.user_id, u.reason
    FROM unnest(CAST(:credit AS INTEGER[]), CAST(:amount AS BIGINT[]), CAST(:key AS VARCHAR[]),
                CAST(:print AS VARCHAR[]), CAST(:rule_id AS INTEGER[]), CAST(:rule_version AS INTEGER[]),
                CAST(:lead_id AS INTEGER[]), CAST(:redemption_id AS INTEGER[]), CAST(:user_id AS INTEGER[]),
                CAST(:reason AS VARCHAR[]))
         AS u(credit, amount, key, print, rule_id, rule_version, lead_id, redemption_id, user_id, reason)
    ON CONFLICT (program_id, idempotency_key) DO NOTHING
    RETURNING id, credit_account_id, amount, idempotency_key
), lot AS (
    INSERT INTO ledger_lots (account_id, transfer_id, amount, remaining, held, expires_at)
    SELECT credit_account_id, id, amount, amount, 0,
           timezone('UTC', timezone('UTC', CAST(:at AS TIMESTAMPTZ)) + make_interval(0, (
               SELECT points_expiry_months FROM programs WHERE id = :program_id)))
    FROM transfer
)
SELECT idempotency_key, id FROM transfer
"""
).bindparams(bindparam("at", type_=T.at.type))


async def credit_partners(conn: AsyncConnection, awards: list[dict[str, Any]]) -> list[Transfer | None]:
    """Many earning transfers (all of one program, one debit account, one time) in the caller's transaction:
    transfers and lots in one statement (PostgreSQL) or one call into the connection's thread (SQLite), in the
    order of `awards`. None for an award whose key is already booked: PostgreSQL skips it (the caller replays
    it); SQLite raises IntegrityError instead (its callers look the keys up first). PostgreSQL's partner
    counters are updated here, for the awards written, in account id order."""
    if conn.dialect.name != "postgresql":
        ids = await sqlite_driver.call_in_thread(await conn.get_raw_connection(), _batch_in_thread, awards)
        if ids is None:
            raise NotFound()
        return [_booked(transfer_id, award) for transfer_id, award in zip(ids, awards, strict=True)]
    first = awards[0]
    causes = {name: [award.get(name) for award in awards] for name in CAUSE_FIELDS}
    rows = await conn.execute(
        _CREDIT_PARTNERS_PG,
        {
            "program_id": first["program_id"],
            "kind": first["kind"],
            "debit_account_id": first["debit_account_id"],
            "at": first["at"],
            "credit": [award["credit_account_id"] for award in awards],
            "amount": [award["amount"] for award in awards],
            "key": [award["idempotency_key"] for award in awards],
            "print": [award["fingerprint"] for award in awards],
            **{name: values if any(value is not None for value in values) else None for name, values in causes.items()},
        },
    )
    id_of: dict[str, int] = {key: transfer_id for key, transfer_id in rows}
    written = [award for award in awards if award["idempotency_key"] in id_of]
    if written:
        await conn.execute(_ADD_EARNED, _earned_per_partner(written))
    return [
        _booked(id_of[award["idempotency_key"]], award) if award["idempotency_key"] in id_of else None
        for award in awards
    ]


# --- a transfer and what it changes, in one go ---------------------------------------------------------------

NEW_TRANSFER = -1  # a parameter value that `write_transfer` replaces by the id of the transfer it inserted


@dataclass(frozen=True)
class Write:
    """One statement that goes with a new transfer: `params` for one execution (a dict) or many (a list), where
    the value NEW_TRANSFER stands for the new transfer's id. `must_change_one`: a single execution that changes
    no row refuses the whole operation. `binder`: on SQLite, binds the values as SQLAlchemy would (needed for
    times; the ledger's own writes carry integers only)."""

    statement: Any
    params: dict[str, Any] | list[dict[str, Any]]
    must_change_one: bool = False
    binder: sqlite_driver.RowBinder | None = None

    def sqlite_params(self) -> dict[str, Any] | list[dict[str, Any]]:
        if self.binder is None:
            return self.params
        if isinstance(self.params, list):
            return [self.binder(params) for params in self.params]
        return self.binder(self.params)


def _with_id(params: dict[str, Any], transfer_id: int) -> dict[str, Any]:
    return {name: transfer_id if value is NEW_TRANSFER else value for name, value in params.items()}


class Refused(Exception):
    """A write that had to change one row changed none (the caller's transaction must not commit)."""


def _write_in_thread(conn: sqlite3.Connection, row: dict[str, Any], writes: list[tuple[str, Any, bool]]) -> int:
    transfer_id = conn.execute(_SQLITE_INSERT_TRANSFER, row).lastrowid
    assert transfer_id is not None
    for sql, params, must_change_one in writes:
        if isinstance(params, list):
            conn.executemany(sql, [_with_id(p, transfer_id) for p in params])
        elif conn.execute(sql, _with_id(params, transfer_id)).rowcount != 1 and must_change_one:
            raise Refused()
    return transfer_id


async def write_transfer(conn: AsyncConnection, values: dict[str, Any], writes: list[Write]) -> Transfer:
    """SQLite: insert a transfer (`values`: its columns) and run `writes` after it, in the caller's transaction and
    in one call into the connection's thread. Raises Refused when a write that must change one row changed none."""
    steps = [
        (sqlite_driver.compiled(w.statement), w.sqlite_params(), w.must_change_one) for w in writes if w.params != []
    ]
    raw = await conn.get_raw_connection()
    transfer_id = await sqlite_driver.call_in_thread(raw, _write_in_thread, _sqlite_transfer_row(values), steps)
    return _booked(transfer_id, values)


# Account counters and lots as a debit or a hold's resolution changes them (parameter names that are no column
# names of the updated table: those would be added to its SET clause).
DEBIT_POSTED = (
    update(ACCOUNTS)
    .where(A.id == bindparam("account"), bindparam("points") <= AVAILABLE)
    .values(debits_posted=A.debits_posted + bindparam("points"))
)
DEBIT_PENDING = (
    update(ACCOUNTS)
    .where(A.id == bindparam("account"), bindparam("points") <= AVAILABLE)
    .values(debits_pending=A.debits_pending + bindparam("points"))
)
RESOLVE_PENDING = (
    update(ACCOUNTS)
    .where(A.id == bindparam("account"))
    .values(
        debits_pending=A.debits_pending - bindparam("was_pending"),
        debits_posted=A.debits_posted + bindparam("posted"),
    )
)
TAKE_FROM_LOT = update(LOTS).where(L.id == bindparam("lot")).values(remaining=L.remaining - bindparam("part"))
HOLD_FROM_LOT = (
    update(LOTS)
    .where(L.id == bindparam("lot"))
    .values(remaining=L.remaining - bindparam("part"), held=L.held + bindparam("part"))
)
RELEASE_LOT = (
    update(LOTS)
    .where(L.id == bindparam("lot"))
    .values(held=L.held - bindparam("was_held"), remaining=L.remaining + bindparam("back"))
)
USE_LOT = insert(LOT_USES).values(transfer_id=bindparam("transfer"), lot_id=bindparam("lot"), amount=bindparam("part"))


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


async def debit(
    conn: AsyncConnection,
    values: dict[str, Any],
    taken: list[tuple[int, int]],
    *,
    hold: bool,
    then: Sequence[Write] = (),
) -> Transfer:
    """Book a debit of the partner account `values["debit_account_id"]` (a hold only reserves, pending): the
    transfer, the counters (only if the points are available: else Refused) and the lots it takes from, in the
    caller's transaction — one statement on PostgreSQL, one call into the connection's thread on SQLite. `then`:
    the caller's writes that go with the new transfer (NEW_TRANSFER in their values is its id), on SQLite in the
    same call, on PostgreSQL one statement each after it."""
    account, points = values["debit_account_id"], values["amount"]
    if conn.dialect.name == "postgresql":
        transfer_id = await conn.scalar(
            _DEBIT_PG,
            {
                **{name: values.get(name) for name in _PG_TRANSFER_COLUMNS},
                "pending": points if hold else 0,
                "posted": 0 if hold else points,
                "lots": [lot for lot, _ in taken],
                "parts": [part for _, part in taken],
                "helds": [part if hold else 0 for _, part in taken],
            },
        )
        if transfer_id is None:
            raise Refused()
        for write in then:
            await _write_after(conn, write, transfer_id)
        return _booked(transfer_id, values)
    rows = [{"lot": lot, "part": part, "transfer": NEW_TRANSFER} for lot, part in taken]
    counters = Write(DEBIT_PENDING if hold else DEBIT_POSTED, {"account": account, "points": points}, True)
    return await write_transfer(
        conn,
        values,
        [counters, Write(HOLD_FROM_LOT if hold else TAKE_FROM_LOT, rows), Write(USE_LOT, rows), *then],
    )


async def _write_after(conn: AsyncConnection, write: Write, transfer_id: int) -> None:
    """PostgreSQL: one of the caller's writes after the new transfer `transfer_id`, as `_write_in_thread` runs it."""
    if isinstance(write.params, list):
        if write.params:
            await conn.execute(write.statement, [_with_id(params, transfer_id) for params in write.params])
    elif (
        rowcount(await conn.execute(write.statement, _with_id(write.params, transfer_id))) != 1
        and write.must_change_one
    ):
        raise Refused()


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
    account = values["debit_account_id"]
    if conn.dialect.name == "postgresql":
        transfer_id = await conn.scalar(
            _RESOLVE_PG,
            {
                **{name: values.get(name) for name in _PG_TRANSFER_COLUMNS},
                "was_pending": held,
                "posted_points": posted,
                "lots": [lot for lot, _, _ in released],
                "was_held": [was for _, was, _ in released],
                "back": [back for _, _, back in released],
                "spent_lots": [lot for lot, _ in spent],
                "spent_parts": [part for _, part in spent],
            },
        )
        return _booked(transfer_id, values)
    counters = Write(RESOLVE_PENDING, {"account": account, "was_pending": held, "posted": posted})
    lots = [{"lot": lot, "was_held": was, "back": back} for lot, was, back in released]
    uses = [{"transfer": NEW_TRANSFER, "lot": lot, "part": part} for lot, part in spent]
    return await write_transfer(conn, values, [counters, Write(RELEASE_LOT, lots), Write(USE_LOT, uses)])


# PostgreSQL: a debit and a resolution in one statement each (data-modifying CTEs). The transfer's columns are
# cast, as text() gives PostgreSQL no types to infer them from.
_PG_TRANSFER_COLUMNS = (*(name for name in TRANSFER_FIELDS if name != "id"), "fingerprint")
_PG_TRANSFER_INSERT = """
    INSERT INTO ledger_transfers (program_id, kind, debit_account_id, credit_account_id, amount, pending_id,
                                  reverses_id, timeout_at, idempotency_key, rule_id, rule_version, lead_id,
                                  redemption_id, user_id, reason, at, fingerprint)
    SELECT CAST(:program_id AS INTEGER), CAST(:kind AS VARCHAR), CAST(:debit_account_id AS INTEGER),
           CAST(:credit_account_id AS INTEGER), CAST(:amount AS BIGINT), CAST(:pending_id AS INTEGER),
           CAST(:reverses_id AS INTEGER), CAST(:timeout_at AS TIMESTAMPTZ), CAST(:idempotency_key AS VARCHAR),
           CAST(:rule_id AS INTEGER), CAST(:rule_version AS INTEGER), CAST(:lead_id AS INTEGER),
           CAST(:redemption_id AS INTEGER), CAST(:user_id AS INTEGER), CAST(:reason AS VARCHAR),
           CAST(:at AS TIMESTAMPTZ), CAST(:fingerprint AS VARCHAR)"""
_DEBIT_PG = text(
    f"""
WITH account AS (
    UPDATE ledger_accounts
    SET debits_pending = debits_pending + CAST(:pending AS BIGINT),
        debits_posted = debits_posted + CAST(:posted AS BIGINT)
    WHERE id = CAST(:debit_account_id AS INTEGER)
      AND CAST(:amount AS BIGINT) <= credits_posted - debits_posted - debits_pending
    RETURNING id
), transfer AS ({_PG_TRANSFER_INSERT}
    FROM account
    RETURNING id
), lots AS (
    UPDATE ledger_lots SET remaining = ledger_lots.remaining - u.part, held = ledger_lots.held + u.held_part
    FROM unnest(CAST(:lots AS INTEGER[]), CAST(:parts AS BIGINT[]), CAST(:helds AS BIGINT[]))
         AS u(lot, part, held_part)
    WHERE ledger_lots.id = u.lot AND EXISTS (SELECT FROM transfer)
), uses AS (
    INSERT INTO ledger_lot_uses (transfer_id, lot_id, amount)
    SELECT transfer.id, u.lot, u.part
    FROM transfer, unnest(CAST(:lots AS INTEGER[]), CAST(:parts AS BIGINT[])) AS u(lot, part)
)
SELECT id FROM transfer
"""  # noqa: S608 - constant text: the insert above, no input
)
_RESOLVE_PG = text(
    f"""
WITH transfer AS ({_PG_TRANSFER_INSERT}
    RETURNING id
), account AS (
    UPDATE ledger_accounts
    SET debits_pending = debits_pending - CAST(:was_pending AS BIGINT),
        debits_posted = debits_posted + CAST(:posted_points AS BIGINT)
    WHERE id = CAST(:debit_account_id AS INTEGER)
), lots AS (
    UPDATE ledger_lots SET held = ledger_lots.held - u.was_held, remaining = ledger_lots.remaining + u.back
    FROM unnest(CAST(:lots AS INTEGER[]), CAST(:was_held AS BIGINT[]), CAST(:back AS BIGINT[]))
         AS u(lot, was_held, back)
    WHERE ledger_lots.id = u.lot
), uses AS (
    INSERT INTO ledger_lot_uses (transfer_id, lot_id, amount)
    SELECT transfer.id, u.lot, u.part
    FROM transfer, unnest(CAST(:spent_lots AS INTEGER[]), CAST(:spent_parts AS BIGINT[])) AS u(lot, part)
)
SELECT id FROM transfer
"""  # noqa: S608 - constant text: the insert above, no input
)


# --- transfers --------------------------------------------------------------------------------------


async def insert_transfer(conn: AsyncConnection, **values: Any) -> Transfer:
    # The dialect picks how to learn the new id: RETURNING on PostgreSQL, the cursor's lastrowid on SQLite
    # (no row to fetch: one call less into aiosqlite's thread).
    primary_key = (await conn.execute(_INSERT_TRANSFER, values)).inserted_primary_key
    assert primary_key is not None
    return _booked(primary_key[0], values)


async def find_keyed(conn: AsyncConnection, program_id: int, key: str) -> tuple[Transfer, str | None] | None:
    row = (
        await conn.execute(
            select(*TRANSFER_COLUMNS, T.fingerprint).where(T.program_id == program_id, T.idempotency_key == key)
        )
    ).first()
    if row is None:
        return None
    return Transfer.of(row, replayed=True), row.fingerprint


# --- lots ---------------------------------------------------------------------------------------------


_OPEN_LOTS = (
    select(L.id, L.remaining, L.expires_at)
    .where(L.account_id == bindparam("account"), L.remaining > 0)
    .order_by(L.expires_at, L.id)
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
    await conn.execute(update(LOTS).where(L.id == lot_id).values(remaining=L.remaining - points))
    await conn.execute(insert(LOT_USES).values(transfer_id=transfer_id, lot_id=lot_id, amount=points))
