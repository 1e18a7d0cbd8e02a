"""Engine, sessions and the declarative base shared by every domain."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import orjson
from redis.asyncio import Redis
from sqlalchemy import DateTime, Executable, MetaData, Row, Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

_T = TypeVar("_T")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp that is always timezone-aware UTC in Python, whatever the database keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _install_sqlite_hooks(engine: AsyncEngine) -> None:
    """WAL, foreign keys, a busy timeout, and BEGIN IMMEDIATE for write transactions.

    pysqlite's own transaction handling is switched off so that we emit BEGIN ourselves (SQLAlchemy's
    documented recipe): a deferred BEGIN that reads and then writes fails with SQLITE_BUSY instead of
    waiting on busy_timeout.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", "busy_timeout=30000", "synchronous=FULL"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get("read_only", False)
        connection.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")

    @event.listens_for(engine.sync_engine, "reset")
    def _on_reset(dbapi_connection: Any, _record: Any, _state: Any) -> None:
        # A connection back in the pool is rolled back only if it is still in a transaction: after a commit
        # the rollback would be one more call into aiosqlite's thread for nothing.
        if dbapi_connection.driver_connection.in_transaction:
            dbapi_connection.rollback()


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    # JSON columns (event payloads, read by the thousand in processing and simulation) parse with orjson.
    kwargs.setdefault("json_deserializer", orjson.loads)
    if url.startswith("sqlite"):
        # As on PostgreSQL below: twenty kept connections, no overflow that is closed after every burst.
        kwargs.setdefault("pool_size", 20)
        kwargs.setdefault("max_overflow", 0)
        engine = create_async_engine(url, connect_args={"timeout": 30}, pool_reset_on_return=None, **kwargs)
        _install_sqlite_hooks(engine)
        return engine
    # No pre-ping (a round trip on every checkout): after a server restart the first statement on a dead
    # connection fails and invalidates the whole pool, so that one operation fails and later ones reconnect.
    # Twenty connections kept per process and no overflow, which would be closed after every burst and opened
    # again at the next; a burst beyond twenty waits for a free connection.
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 0)
    # No JIT: the KPI aggregates cost more than jit_above_cost by estimate yet run in tens of milliseconds, and
    # compiling them took longer than running them (EXPLAIN ANALYZE: 117 ms of JIT on a 120 ms query).
    kwargs.setdefault("connect_args", {"server_settings": {"jit": "off"}})
    return create_async_engine(url, **kwargs)


class RunAgain(Exception):
    """A concurrent twin of this unit of work committed first: the owner runs the unit again (`Database.run`),
    and the fresh attempt finds what the twin did."""


class Database:
    """One engine and two session factories: `session()` for writes, `reader()` for read-only work; and the
    optional Redis that serves what is derived from the database (leaderboards), None without REDIS_URL.

    On SQLite a read-only session begins DEFERRED, so readers never queue behind the write lock.
    """

    def __init__(self, url: str, *, redis_url: str | None = None, **engine_kwargs: Any) -> None:
        self.url = url
        self.redis: Redis | None = None if redis_url is None else Redis.from_url(redis_url)
        self.engine = make_engine(url, **engine_kwargs)
        self.session = async_sessionmaker(self.engine, expire_on_commit=False)
        self.reader = async_sessionmaker(self.engine.execution_options(read_only=True), expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A write session inside one transaction: committed on success, rolled back on any error."""
        async with self.session() as session, session.begin():
            yield session

    async def run(
        self,
        work: Callable[[AsyncSession], Awaitable[_T]],
        *,
        retry_on: type[Exception] | tuple[type[Exception], ...] = IntegrityError,
        attempts: int = 3,
    ) -> _T:
        """`work` in one unit of work of its own, run again from the start in a fresh transaction when it fails
        with `retry_on` or `RunAgain` (a concurrent twin of the same request committed first, say, and a unique
        key refused this one's row), at most `attempts` times in all; the last failure is raised."""
        again: tuple[type[Exception], ...] = (RunAgain, *(retry_on if isinstance(retry_on, tuple) else (retry_on,)))
        for attempt in range(1, attempts + 1):
            try:
                async with self.transaction() as session:
                    return await work(session)
            except Exception as error:
                if attempt == attempts or not isinstance(error, again):
                    raise
        raise ValueError("attempts must be at least 1")

    async def warm_up(self, connections: int, reads: Sequence[tuple[Executable, Mapping[str, Any]]] = ()) -> int:
        """Open up to `connections` of the pool's kept connections at once, run each of `reads` (hot statements,
        with values that find nothing) on every one, and put them back: the first burst of requests then finds
        connections open and the driver's statement cache filled. A database that cannot be reached yet is left
        to the first request. How many opened."""
        size = getattr(self.engine.pool, "size", None)  # pools that keep no set of connections have none
        wanted = min(connections, size()) if callable(size) else 0
        if wanted <= 0:
            return 0
        engine = single_read_engine(self.engine)
        opened = await asyncio.gather(*(engine.connect().start() for _ in range(wanted)), return_exceptions=True)
        ready = [conn for conn in opened if isinstance(conn, AsyncConnection)]
        failed: list[BaseException] = [conn for conn in opened if isinstance(conn, BaseException)]

        async def prepare(conn: AsyncConnection) -> None:
            try:
                for statement, values in reads:
                    await conn.execute(statement, values)
            except Exception as error:  # a database not migrated yet, say: the requests will tell
                failed.append(error)
            finally:
                await conn.close()

        await asyncio.gather(*(prepare(conn) for conn in ready))
        if failed:
            logging.getLogger(__name__).warning("could not warm up database connections at start-up: %s", failed[0])
        return len(ready)

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.redis is not None:
            await self.redis.aclose()


def single_read_engine(engine: AsyncEngine) -> AsyncEngine:
    """`engine` for reads that are a transaction of their own: autocommit on PostgreSQL (one round trip, no
    BEGIN), a DEFERRED read transaction on SQLite (never waiting for the write lock)."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine.execution_options(read_only=True)


async def fetch_one(engine: AsyncEngine, statement: Executable, values: Mapping[str, Any]) -> Row[Any] | None:
    """The first row of one read statement, run outside any unit of work (see `single_read_engine`)."""
    async with single_read_engine(engine).connect() as conn:
        return (await conn.execute(statement, values)).first()


def dialect_insert(conn: AsyncConnection, table: Table) -> Any:
    """INSERT for `table` from the connection's dialect, for ON CONFLICT clauses (both databases spell them
    alike, through their own insert construct)."""
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)
