"""The ledger's one PostgreSQL-specific write: earning transfers, one or a batch, as one statement.

`book.credit_partners` books awards in four statements (the transfers, the partners' counters, the expiry
period, the lots) on every database. PostgreSQL runs them as one statement with data-modifying CTEs and the
awards' columns bound as arrays (`unnest`): two round trips instead of five for a single award, and a batch
of a thousand planned once instead of as a thousand-row VALUES list. The rows written are the portable path's
(tests run both), and so is the lock order: the partners' accounts are locked in id order before their
counters change, so two batches cannot deadlock on them.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import ARRAY, bindparam, func, literal, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from incentives.accounts.models import Program
from incentives.ledger.tables import ACCOUNT, ACCOUNTS, LOTS, TRANSFER, TRANSFERS

_ONE_MONTH = text("interval '1 month'")


@functools.cache
def _credit_statement(columns: tuple[str, ...], single: bool) -> Any:
    """The statement for awards with these transfer columns, built once per set of columns and kind. One award
    binds its values (`new_<column>`: a name of its own, as a value named as a column of the UPDATE would be SET
    by it); a batch binds each column's values as one array, and locks its partners' accounts in id order
    before their counters change (PostgreSQL sorts first, then locks each row as it comes)."""
    if single:
        transfers = insert(TRANSFERS).values({name: bindparam(f"new_{name}") for name in columns})
    else:
        arrays = [bindparam(f"new_{name}", type_=ARRAY(TRANSFERS.c[name].type)) for name in columns]
        rows = func.unnest(*arrays).table_valued(*columns).render_derived(name="award")
        transfers = insert(TRANSFERS).from_select(list(columns), select(*[rows.c[name] for name in columns]))
    new = (
        transfers.on_conflict_do_nothing(index_elements=["program_id", "idempotency_key"])
        .returning(TRANSFER.id, TRANSFER.credit_account_id, TRANSFER.amount, TRANSFER.at, TRANSFER.idempotency_key)
        .cte("new")
    )
    per_partner = (
        select(new.c.credit_account_id.label("account_id"), func.sum(new.c.amount).label("points"))
        .group_by(new.c.credit_account_id)
        .cte("per_partner")
    )
    locked = (
        select(ACCOUNT.id)
        .where(ACCOUNT.id.in_(select(per_partner.c.account_id)))
        .order_by(ACCOUNT.id)
        .with_for_update(key_share=True)
        .cte("locked")
    )
    change = update(ACCOUNTS)
    if single:  # one account: its row is locked by the UPDATE itself
        change = change.where(ACCOUNT.id == new.c.credit_account_id).values(
            credits_posted=ACCOUNT.credits_posted + new.c.amount, earned=ACCOUNT.earned + new.c.amount
        )
    else:
        change = change.where(ACCOUNT.id == per_partner.c.account_id, ACCOUNT.id == locked.c.id).values(
            credits_posted=ACCOUNT.credits_posted + per_partner.c.points,
            earned=ACCOUNT.earned + per_partner.c.points,
        )
    counters = change.returning(
        ACCOUNT.id,
        select(Program.points_expiry_months).where(Program.id == ACCOUNT.program_id).scalar_subquery().label("months"),
    ).cte("counters")
    # Whole calendar months added in UTC, the 31st clamped to the month's last day: as `book.add_months`.
    expires_at = func.timezone("UTC", func.timezone("UTC", new.c.at) + counters.c.months * _ONE_MONTH)
    lots = (
        insert(LOTS)
        .from_select(
            ["account_id", "transfer_id", "amount", "remaining", "held", "expires_at"],
            select(new.c.credit_account_id, new.c.id, new.c.amount, new.c.amount, literal(0), expires_at).join_from(
                new, counters, counters.c.id == new.c.credit_account_id
            ),
        )
        .cte("lots")
    )
    return select(new.c.id, new.c.idempotency_key).add_cte(lots)


async def credit(conn: AsyncConnection, awards: list[dict[str, Any]]) -> dict[str, int]:
    """Book earning transfers with their partners' counters and lots; the new transfers' ids by key (a key
    booked already is left out). `awards` hold the transfers' columns, the same ones in each."""
    columns = tuple(sorted(awards[0]))
    single = len(awards) == 1
    if single:
        values = {f"new_{name}": value for name, value in awards[0].items()}
    else:
        values = {f"new_{name}": [award[name] for award in awards] for name in columns}
    rows = await conn.execute(_credit_statement(columns, single), values)
    return {key: transfer_id for transfer_id, key in rows}
