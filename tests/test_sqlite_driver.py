"""The SQLite driver: one call per statement into aiosqlite's thread, and write transactions that take turns."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from incentives import sqlite_driver
from incentives.db import Database


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> Database:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/driver.db")
    async with db.transaction() as session:
        await session.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    yield db  # type: ignore[misc]
    await db.dispose()


async def test_statements_return_rows_counts_and_ids(sqlite_db: Database) -> None:
    async with sqlite_db.transaction() as session:
        inserted = await session.execute(text("INSERT INTO t (v) VALUES ('a')"))
        assert inserted.lastrowid == 1  # type: ignore[attr-defined]
        await session.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": "b"}, {"v": "c"}])
        changed = await session.execute(text("UPDATE t SET v = upper(v) WHERE id > 1"))
        assert changed.rowcount == 2  # type: ignore[attr-defined]
    async with sqlite_db.reader() as session:
        assert (await session.execute(text("SELECT id, v FROM t ORDER BY id"))).all() == [(1, "a"), (2, "B"), (3, "C")]
        streamed = await session.stream(text("SELECT v FROM t ORDER BY id"))
        assert [row.v async for row in streamed] == ["a", "B", "C"]


async def test_a_second_writer_waits_for_the_first_to_commit(sqlite_db: Database) -> None:
    order: list[str] = []
    first_wrote = asyncio.Event()

    async def first() -> None:
        async with sqlite_db.transaction() as session:
            await session.execute(text("INSERT INTO t (v) VALUES ('first')"))
            first_wrote.set()
            await asyncio.sleep(0.2)  # holds the write turn; the second writer must not begin meanwhile
            order.append("first commits")

    async def second() -> None:
        await first_wrote.wait()
        async with sqlite_db.transaction() as session:
            await session.execute(text("INSERT INTO t (v) VALUES ('second')"))  # BEGIN IMMEDIATE goes first
            order.append("second wrote")

    await asyncio.gather(first(), second())
    assert order == ["first commits", "second wrote"]


async def test_a_failed_transaction_gives_its_turn_back(sqlite_db: Database) -> None:
    with pytest.raises(OperationalError):
        async with sqlite_db.transaction() as session:
            await session.execute(text("INSERT INTO nowhere VALUES (1)"))
    async with asyncio.timeout(5), sqlite_db.transaction() as session:  # would wait for a lost turn
        await session.execute(text("INSERT INTO t (v) VALUES ('after')"))


async def test_a_writer_that_never_gets_its_turn_is_told_the_database_is_locked(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_driver, "WAIT_SECONDS", 0.2)
    async with sqlite_db.transaction() as outer:
        await outer.execute(text("INSERT INTO t (v) VALUES ('outer')"))
        with pytest.raises(OperationalError, match="database is locked"):
            async with sqlite_db.transaction() as inner:  # a second write session in the same task
                await inner.execute(text("INSERT INTO t (v) VALUES ('inner')"))
    async with sqlite_db.reader() as session:
        assert list(await session.scalars(text("SELECT v FROM t"))) == ["outer"]


def _insert_in_thread(conn: object, value: str) -> None:
    conn.execute("INSERT INTO t (v) VALUES (?)", (value,))  # type: ignore[attr-defined]


async def test_work_in_the_thread_first_in_a_transaction_belongs_to_it(sqlite_db: Database) -> None:
    """The BEGIN waits for the transaction's first statement; when that is a call into the thread, it goes first
    there too, so the call's writes roll back with the transaction."""
    with pytest.raises(RuntimeError):
        async with sqlite_db.transaction() as session:
            raw = await (await session.connection()).get_raw_connection()
            await sqlite_driver.call_in_thread(raw, _insert_in_thread, "rolled back")
            raise RuntimeError("the caller fails")
    async with sqlite_db.transaction() as session:
        raw = await (await session.connection()).get_raw_connection()
        await sqlite_driver.call_in_thread(raw, _insert_in_thread, "kept")
    async with sqlite_db.reader() as session:
        assert list(await session.scalars(text("SELECT v FROM t"))) == ["kept"]


async def test_a_transaction_without_statements_leaves_the_connection_clean(sqlite_db: Database) -> None:
    for _ in range(3):
        async with sqlite_db.transaction() as session:
            await session.connection()  # begins, runs nothing
    async with asyncio.timeout(5), sqlite_db.transaction() as session:  # the writer turn was given back
        await session.execute(text("INSERT INTO t (v) VALUES ('x')"))
    async with sqlite_db.reader() as session:
        assert await session.scalar(text("SELECT count(*) FROM t")) == 1
