"""PostgreSQL: one statement as a transaction of its own, run straight on the pooled connection's asyncpg.

For the hottest single-statement writes (an award in a transaction of its own). Core's execution of one
statement (a connection, an execution context, parameter processing, a result) costs the event loop about as
much time as PostgreSQL needs to run the statement and commit it. Here SQLAlchemy still compiles the statement
(once per dialect) and its types still process the values (a UTC time stays a UTC time), but the statement is
sent with asyncpg's `fetchval`, prepared once per connection by asyncpg's own statement cache, outside any
transaction: PostgreSQL commits it by itself.

Errors come out as SQLAlchemy's (IntegrityError for a used unique key, and so on). A connection the server
dropped invalidates the pool as SQLAlchemy's own execution does, so the next operation gets fresh connections.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement
from sqlalchemy.util import greenlet_spawn


@dataclass(frozen=True)
class _Compiled:
    sql: str
    order: tuple[str, ...]  # the names of $1, $2, …
    fixed: dict[str, Any]  # values the statement carries itself (literals bound as parameters)
    processors: dict[str, Callable[[Any], Any]]


class AloneStatement:
    """A Core statement returning one value, to run in autocommit with named `values` (`fetchval`)."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[Dialect, _Compiled] = {}

    def _for(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect)
        if compiled is None:
            sql = cast(SQLCompiler, self.statement.compile(dialect=dialect))
            processors: dict[str, Callable[[Any], Any]] = {
                name: process for name, process in sql._bind_processors.items() if callable(process)
            }
            compiled = self._compiled[dialect] = _Compiled(
                str(sql),
                tuple(sql.positiontup or ()),
                {name: bind.value for name, bind in sql.binds.items() if not bind.required},
                processors,
            )
        return compiled

    def arguments(self, dialect: Dialect, values: Mapping[str, Any]) -> list[Any]:
        compiled = self._for(dialect)
        arguments = []
        for name in compiled.order:
            value = values[name] if name in values else compiled.fixed[name]
            process = compiled.processors.get(name)
            arguments.append(value if process is None or value is None else process(value))
        return arguments

    async def fetchval(self, engine: AsyncEngine, values: Mapping[str, Any]) -> Any:
        """The statement's one value, the statement committed by PostgreSQL on its own."""
        sql = self._for(engine.dialect).sql
        arguments = self.arguments(engine.dialect, values)
        raw = await engine.raw_connection()
        try:
            try:
                return await raw.driver_connection.fetchval(sql, *arguments)  # type: ignore[union-attr]
            except Exception as error:
                raise _translated(engine, raw, sql, arguments, error) from error
        finally:
            await greenlet_spawn(raw.close)


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
