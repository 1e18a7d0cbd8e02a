"""The ledger's accounts of a program by name, created on first use, their ids cached once committed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, event, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from incentives.accounts.models import Program
from incentives.errors import NotFound
from incentives.ledger.book import insert_skipping_conflicts, partner_name
from incentives.ledger.models import AccountKind
from incentives.ledger.tables import ACCOUNT, ACCOUNTS


@dataclass(frozen=True)
class Book:
    """The account ids an operation needs, by name."""

    ids: dict[str, int]

    def __getitem__(self, name: str) -> int:
        return self.ids[name]


# Ledger accounts never change what they are (program, name, id) and are never deleted, so their ids are cached
# per engine (one cache per database); balances are always read from the rows. An id enters the cache once the
# transaction that saw it has committed: an account created by a transaction that rolls back is never cached.
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
        await conn.execute(insert_skipping_conflicts(conn, ACCOUNTS, "program_id", "name").values(rows))
        ids = await _load_accounts(conn, program_id, list(wanted))
    seen = session.info.setdefault(_SEEN, {}).setdefault(conn.sync_engine, {})
    seen.update({(program_id, name): account_id for name, account_id in ids.items()})
    return Book(ids)


async def _load_accounts(conn: AsyncConnection, program_id: int, names: list[str]) -> dict[str, int]:
    rows = (
        await conn.execute(
            select(Program.id, ACCOUNT.id.label("account_id"), ACCOUNT.name)
            .select_from(Program)
            .outerjoin(ACCOUNTS, (ACCOUNT.program_id == Program.id) & ACCOUNT.name.in_(names))
            .where(Program.id == program_id)
        )
    ).all()
    if not rows:
        raise NotFound()
    return {row.name: row.account_id for row in rows if row.account_id is not None}
