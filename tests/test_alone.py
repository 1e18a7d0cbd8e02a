"""Single statements straight on the driver (incentives/alone.py): the rows SQLAlchemy would give, SQLAlchemy's
errors, and no transaction left open."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import bindparam, insert, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.util import greenlet_spawn

from incentives import alone
from incentives.accounts.models import Org, Program
from incentives.db import Database
from tests.factories import make_program

T0 = dt.datetime(2026, 3, 1, 12, 30, tzinfo=dt.UTC)


async def test_fetchrow_gives_the_row_sqlalchemy_gives(database_url: str) -> None:
    db = Database(database_url, pool_size=1)  # one connection: the one the statements ran on
    try:
        world = await make_program(db)
        statement = select(Program.id, Program.name, Program.created_at, literal(7).label("seven")).where(
            Program.id == bindparam("program")
        )
        async with db.reader() as session:
            expected = tuple((await session.execute(statement, {"program": world.program_id})).one())
        row = await alone.AloneStatement(statement).fetchrow(db.engine, {"program": world.program_id})
        assert row == expected
        assert row is not None and row[2].tzinfo == dt.UTC  # the UTC column's own result processing
        assert await alone.AloneStatement(statement).fetchrow(db.engine, {"program": -1}) is None
        raw = await db.engine.raw_connection()
        try:  # nothing left open on the connection
            driver: Any = raw.driver_connection
            assert not (driver.in_transaction if db.is_sqlite else driver.is_in_transaction())
        finally:
            await greenlet_spawn(raw.close)
    finally:
        await db.dispose()


async def test_fetchval_binds_values_and_raises_sqlalchemys_errors(database_url: str) -> None:
    """A write committed on its own: a UTC time goes through the column's processing, a naive one is refused
    before it is sent, and a duplicate key is SQLAlchemy's IntegrityError."""
    db = Database(database_url)
    try:
        add = alone.AloneStatement(
            insert(Org)
            .values(
                id=bindparam("id", type_=Org.id.type),
                name=bindparam("name", type_=Org.name.type),
                kind="reseller",
                country="DE",
                created_at=bindparam("at", type_=Org.created_at.type),
            )
            .returning(Org.created_at)
        )
        assert await add.fetchval(db.engine, {"id": 90001, "name": "Alone GmbH", "at": T0}) == T0
        async with db.reader() as session:
            assert await session.scalar(select(Org.name).where(Org.id == 90001)) == "Alone GmbH"
        with pytest.raises(ValueError, match="naive"):
            await add.fetchval(db.engine, {"id": 90002, "name": "Naive GmbH", "at": T0.replace(tzinfo=None)})
        with pytest.raises(IntegrityError):
            await add.fetchval(db.engine, {"id": 90001, "name": "Twin GmbH", "at": T0})
        with pytest.raises(ValueError, match="no value for name"):
            await add.fetchval(db.engine, {"id": 90003, "at": T0})
    finally:
        await db.dispose()
