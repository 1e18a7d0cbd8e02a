"""The database's connection warm-up at start-up."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import bindparam, event, literal, select, text

from incentives.accounts.token_check import TOKEN_CHECK_WARM_UP
from incentives.config import Settings
from incentives.db import Database
from tests.conftest import run_server


async def test_warm_up_opens_connections_and_puts_them_back(database_url: str) -> None:
    db = Database(database_url)
    try:
        assert await db.warm_up(0) == 0
        assert await db.warm_up(5) == 5
        pool = db.engine.pool
        assert pool.checkedin() == 5 and pool.checkedout() == 0  # type: ignore[attr-defined]
        assert await db.warm_up(100) == 20  # never more than the pool keeps
        async with db.reader() as session:
            assert await session.scalar(text("SELECT 1")) == 1
    finally:
        await db.dispose()


async def test_warm_up_runs_the_hot_reads_on_every_connection(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The reads run once on each opened connection (on PostgreSQL asyncpg keeps them prepared); a read that
    fails (here: no such table) is logged, and the connections still go back to the pool and work."""
    db = Database(database_url)
    try:
        seen: list[int] = []
        counting = select(literal(1).label("warm_marker")).where(literal(1) == bindparam("one"))

        @event.listens_for(db.engine.sync_engine, "before_cursor_execute")
        def record(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if "warm_marker" in statement:
                seen.append(id(conn.connection.dbapi_connection))

        assert await db.warm_up(4, reads=[(counting, {"one": 1}), TOKEN_CHECK_WARM_UP]) == 4
        assert len(seen) == 4 and len(set(seen)) == 4 and "could not warm up" not in caplog.text
        missing = select(text("x FROM no_such_table"))
        assert await db.warm_up(2, reads=[(missing, {})]) == 2
        assert "could not warm up database connections at start-up" in caplog.text
        assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        async with db.reader() as session:
            assert await session.scalar(text("SELECT 1")) == 1
    finally:
        await db.dispose()


async def test_warm_up_leaves_an_unreachable_database_to_the_first_request(caplog: pytest.LogCaptureFixture) -> None:
    db = Database("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")
    try:
        assert await db.warm_up(3) == 0
    finally:
        await db.dispose()
    assert "could not warm up database connections at start-up" in caplog.text


def test_the_app_opens_its_connections_at_start_up(pg_url: str) -> None:
    """PostgreSQL shows the server's sessions: the started app holds its warm connections before any request."""

    async def sessions() -> int:
        admin = Database(pg_url)
        try:
            async with admin.reader() as session:
                count = await session.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
                return int(count or 0)
        finally:
            await admin.dispose()

    before = asyncio.run(sessions())
    warm = Settings(
        database_url=pg_url,
        environment="test",
        secret_key="test-secret-" + "x" * 32,
        sweep_interval_seconds=0,
        warm_connections=4,
    )
    for _base in run_server(warm):
        # The four warm ones, and the live hub's LISTEN connection (PostgreSQL without Redis, incentives/live.py).
        assert asyncio.run(sessions()) == before + 4 + 1
