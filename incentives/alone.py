"""One statement as a transaction of its own, run straight on a pooled connection's driver.

For the hottest single statements: an award in a transaction of its own, and the API token check and the offer
read before a reservation, both run on every request of a reservation race. Core's execution of one statement
(a connection, an execution context, parameter processing, a result) costs the event loop about as much time as
the database needs to run it. Here SQLAlchemy still compiles the statement (once per dialect) and its types
still process the values both ways (a UTC time stays a UTC time), but the statement goes to the driver directly:

- PostgreSQL: asyncpg's `fetchval` or `fetchrow`, prepared once per connection by asyncpg's own statement
  cache, outside any transaction: PostgreSQL commits it by itself. Errors come out as SQLAlchemy's
  (IntegrityError for a used unique key, and so on), and a connection the server dropped invalidates the pool
  as SQLAlchemy's own execution does, so the next operation gets fresh connections.
- SQLite: one call into the connection's thread, outside a transaction (sqlite3 runs in autocommit mode here,
  see db.py), with sqlite3's errors as SQLAlchemy's (`sqlite_driver.call_in_thread`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement
from sqlalchemy.util import greenlet_spawn

from incentives import sqlite_driver


@dataclass(frozen=True)
class _Compiled:
    sql: str
    order: tuple[str, ...]  # the parameters' names: of $1, $2, … (asyncpg), or all of them (SQLite's :name)
    fixed: dict[str, Any]  # values the statement carries itself (literals bound as parameters)
    processors: dict[str, Callable[[Any], Any]]


class AloneStatement:
    """A Core statement to run in autocommit with named `values`: its one value (`fetchval`) or first row
    (`fetchrow`, for a SELECT). Every parameter is given in `values` or is a literal of the statement: column
    defaults, which SQLAlchemy's execution computes per row, are not filled in here."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[Dialect, _Compiled] = {}
        self._results: dict[Dialect, list[Callable[[Any], Any] | None]] = {}

    def _for(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect)
        if compiled is None:
            sql = cast(SQLCompiler, self.statement.compile(dialect=dialect))
            processors: dict[str, Callable[[Any], Any]] = {
                name: process for name, process in sql._bind_processors.items() if callable(process)
            }
            compiled = self._compiled[dialect] = _Compiled(
                str(sql),
                tuple(sql.positiontup or dict.fromkeys(sql.bind_names.values())),
                {name: bind.value for name, bind in sql.binds.items() if not bind.required},
                processors,
            )
        return compiled

    def arguments(self, dialect: Dialect, values: Mapping[str, Any]) -> list[Any]:
        """The parameters' values in `_Compiled.order`, bound as SQLAlchemy binds them."""
        compiled = self._for(dialect)
        arguments = []
        for name in compiled.order:
            if name in values:
                value = values[name]
            elif name in compiled.fixed:
                value = compiled.fixed[name]
            else:
                raise ValueError(f"no value for {name}")
            process = compiled.processors.get(name)
            arguments.append(value if process is None or value is None else process(value))
        return arguments

    async def fetchval(self, engine: AsyncEngine, values: Mapping[str, Any]) -> Any:
        """The statement's one value (None without a row), the statement a transaction of its own: PostgreSQL
        commits it by itself; SQLite runs it in autocommit mode as `fetchrow` does (a write there takes SQLite's
        lock directly, without this process's writer turn: `sqlite_driver`)."""
        if engine.dialect.name == "sqlite":
            row = await self.fetchrow(engine, values)
            return None if row is None else row[0]
        async with _connection(engine, None) as raw:
            return await self._asyncpg(engine, raw, values, "fetchval")

    async def fetchrow(
        self, engine: AsyncEngine, values: Mapping[str, Any], *, on: PoolProxiedConnection | None = None
    ) -> tuple[Any, ...] | None:
        """The statement's first row, its values through the types' result processing as SQLAlchemy's rows; on
        a pooled connection of `engine`, or on the checked-out connection `on` (which stays checked out)."""
        async with _connection(engine, on) as raw:
            if engine.dialect.name == "sqlite":
                row = await self._sqlite_row(raw, values)
            else:
                row = await self._asyncpg(engine, raw, values, "fetchrow")
        if row is None:
            return None
        processors = self._result_processors(engine.dialect)
        return tuple(v if process is None else process(v) for v, process in zip(row, processors, strict=True))

    def _result_processors(self, dialect: Dialect) -> list[Callable[[Any], Any] | None]:
        processors = self._results.get(dialect)
        if processors is None:
            columns = cast(Any, self.statement).exported_columns  # a SELECT's, or the RETURNING columns
            processors = self._results[dialect] = [
                column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
            ]
        return processors

    async def _sqlite_row(self, raw: PoolProxiedConnection, values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """SQLite: the statement in one call into the connection's thread, outside a transaction (a read that
        sees the last committed state, as a DEFERRED transaction of one statement would)."""
        compiled = self._for(sqlite_driver.DIALECT)
        parameters = dict(zip(compiled.order, self.arguments(sqlite_driver.DIALECT, values), strict=True))
        return await sqlite_driver.call_in_thread(raw, _first_row, compiled.sql, parameters)

    async def _asyncpg(
        self, engine: AsyncEngine, raw: PoolProxiedConnection, values: Mapping[str, Any], method: str
    ) -> Any:
        sql = self._for(engine.dialect).sql
        arguments = self.arguments(engine.dialect, values)
        try:
            return await getattr(raw.driver_connection, method)(sql, *arguments)
        except Exception as error:
            raise _translated(engine, raw, sql, arguments, error) from error


@asynccontextmanager
async def _connection(engine: AsyncEngine, on: PoolProxiedConnection | None) -> AsyncIterator[PoolProxiedConnection]:
    """`on`, or a connection checked out of `engine`'s pool for the block."""
    if on is not None:
        yield on
        return
    raw = await engine.raw_connection()
    try:
        yield raw
    finally:
        await greenlet_spawn(raw.close)


def _first_row(conn: sqlite3.Connection, sql: str, parameters: dict[str, Any]) -> tuple[Any, ...] | None:
    cursor = conn.execute(sql, parameters)
    try:
        row: tuple[Any, ...] | None = cursor.fetchone()
        return row
    finally:
        cursor.close()  # an unfinished SELECT would keep its read transaction open


def _translated(
    engine: AsyncEngine, raw: PoolProxiedConnection, sql: str, arguments: list[Any], error: Exception
) -> Exception:
    """asyncpg's `error` as SQLAlchemy raises it; on a dropped connection, the pool invalidated first."""
    adapted: Any = raw.dbapi_connection
    try:
        adapted._handle_exception(error)  # raises the DB-API error SQLAlchemy's adapter makes of it
    except Exception as dbapi_error:
        translated = dbapi_error
    dialect = engine.sync_engine.dialect
    disconnect = dialect.is_disconnect(cast(Any, translated), adapted, None)
    if disconnect:
        # As Connection._handle_dbapi_exception does: every connection of the pool's generation is stale.
        engine.sync_engine.pool._invalidate(raw, translated)
    return DBAPIError.instance(
        sql,
        arguments,
        translated,
        dialect.loaded_dbapi.Error,
        connection_invalidated=disconnect,
        dialect=dialect,
    )
