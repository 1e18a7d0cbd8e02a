"""aiosqlite with one hop into its thread per statement, and in-process writers that queue instead of sleeping.

SQLAlchemy's aiosqlite adapter makes four calls into aiosqlite's worker thread for every statement (open a
cursor, execute, fetch all rows, close), and each call is a round trip through a queue, a thread switch and
an event-loop wake-up. This adapter runs the whole statement — execute, fetch, close — as one function in
that thread and keeps what SQLAlchemy asks afterwards (rows, description, rowcount, lastrowid). Everything
else (connections, transactions, errors, server-side cursors for streaming) is SQLAlchemy's own.

A write transaction (`BEGIN IMMEDIATE`) first takes its turn on an asyncio lock per database file, shared by
the process's connections, and gives it back once COMMIT or ROLLBACK is done. Without it, a writer that finds
the database locked sleeps in SQLite's busy handler (1, 2, 5, 10 … ms at a time) although the holder may be
done a moment later; with it, the next writer starts at once. Other processes still meet at SQLite's own lock
and its busy timeout. (`call_in_thread` work that runs its own BEGIN IMMEDIATE, one call long, relies on
SQLite's lock alone.)
"""

from __future__ import annotations

import asyncio
import collections
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, cast
from weakref import WeakKeyDictionary

import aiosqlite
from sqlalchemy import Column
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
    AsyncAdapt_aiosqlite_ss_cursor,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

_Outcome = tuple[Any, list[Any], int, int | None]
R = TypeVar("R")


def _execute(conn: sqlite3.Connection, operation: str, parameters: Any) -> _Outcome:
    cursor = conn.cursor()
    try:
        if parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


def _executemany(conn: sqlite3.Connection, operation: str, seq_of_parameters: Any) -> _Outcome:
    cursor = conn.cursor()
    try:
        cursor.executemany(operation, seq_of_parameters)
        return None, [], cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


def _begin_then(conn: sqlite3.Connection, begin: str | None, fn: Callable[..., R], *args: Any) -> R:
    """In the connection's thread: the transaction's BEGIN, if it is still to be sent, then `fn`."""
    if begin is not None:
        conn.execute(begin)
    return fn(conn, *args)


BEGIN_WRITE = "BEGIN IMMEDIATE"
BEGINS = (BEGIN_WRITE, "BEGIN DEFERRED")
WAIT_SECONDS = 30.0  # as long as SQLite's busy timeout: then "database is locked", as from SQLite

_WRITER_LOCKS: WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = WeakKeyDictionary()


def _writer_lock(database: str) -> asyncio.Lock:
    locks = _WRITER_LOCKS.setdefault(asyncio.get_running_loop(), {})
    return locks.setdefault(database, asyncio.Lock())


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose execute() is a single call into the connection's thread."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")
    _awaitable_cursor_close = False

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        # No aiosqlite cursor: the statement's own sqlite3 cursor lives and dies in the worker thread.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        pass

    def close(self) -> None:
        self._rows.clear()

    def _keep(self, outcome: _Outcome) -> None:
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows)

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        adapt = cast(OneHopConnection, self._adapt_connection)
        if operation in BEGINS:
            # Not a call of its own: the BEGIN goes into the thread with the transaction's first statement.
            if operation == BEGIN_WRITE:
                await adapt.take_writer_turn()
            adapt._begin = operation
            self._keep((None, [], -1, None))
            return
        async with adapt._execute_mutex:
            begin, adapt._begin = adapt._begin, None
            connection = self._connection
            outcome = await connection._execute(_begin_then, connection._conn, begin, _execute, operation, parameters)
            self._keep(outcome)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        adapt = cast(OneHopConnection, self._adapt_connection)
        async with adapt._execute_mutex:
            begin, adapt._begin = adapt._begin, None
            connection = self._connection
            self._keep(
                await connection._execute(
                    _begin_then, connection._conn, begin, _executemany, operation, seq_of_parameters
                )
            )

    def nextset(self) -> None:
        # An optional DB-API method that sqlite3 has not: its own "not supported", as DB-API asks.
        raise sqlite3.NotSupportedError("SQLite returns one result set per statement")

    def setinputsizes(self, *inputsizes: Any) -> None:
        pass


class StreamingCursor(AsyncAdapt_aiosqlite_ss_cursor):
    """SQLAlchemy's server-side cursor (for streaming), which first sends a BEGIN still to be sent."""

    __slots__ = ()

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        await cast(OneHopConnection, self._adapt_connection).send_begin()
        return await super()._execute_async(operation, parameters)


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("_begin", "_database", "_turn")
    _cursor_cls = cast(type[AsyncAdapt_aiosqlite_cursor], OneHopCursor)
    _ss_cursor_cls = StreamingCursor

    def __init__(self, dbapi: Any, connection: Any, database: str) -> None:
        super().__init__(dbapi, connection)
        self._database = database
        self._turn: asyncio.Lock | None = None
        self._begin: str | None = None  # the transaction's BEGIN, until its first statement takes it along

    async def send_begin(self) -> None:
        begin, self._begin = self._begin, None
        if begin is not None:
            await self._connection._execute(self._connection._conn.execute, begin)

    async def take_writer_turn(self) -> None:
        """Wait for this process's other write transactions on the database; then BEGIN IMMEDIATE may follow."""
        if self._turn is not None:
            return
        lock = _writer_lock(self._database)
        try:
            await asyncio.wait_for(lock.acquire(), WAIT_SECONDS)
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked") from None
        self._turn = lock

    def end_writer_turn(self) -> None:
        turn, self._turn = self._turn, None
        if turn is not None:
            turn.release()

    def commit(self) -> None:
        try:
            if self._begin is None:  # else the transaction never ran a statement: nothing to commit
                super().commit()
        finally:
            self._begin = None
            self.end_writer_turn()

    def rollback(self) -> None:
        try:
            if self._begin is None:
                super().rollback()
        finally:
            self._begin = None
            self.end_writer_turn()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._begin = None
            self.end_writer_turn()


class OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The module object SQLAlchemy's aiosqlite dialect uses, handing out one-hop connections."""

    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        connection = aiosqlite.connect(*arg, **kw)
        connection._thread.daemon = True  # as SQLAlchemy does: a forgotten connection must not block exit
        database = str(arg[0] if arg else kw["database"])
        return OneHopConnection(self, cast(Any, await_(connection)), database)


def dbapi() -> OneHopDBAPI:
    return OneHopDBAPI(aiosqlite, sqlite3)


async def call_in_thread(raw: Any, fn: Callable[..., R], *args: Any) -> R:
    """Run `fn(sqlite3_connection, *args)` in the thread of `raw` (a pooled connection of an engine made with
    `dbapi()`), as one hop: several statements for the price of one. sqlite3's errors come out as SQLAlchemy's
    (IntegrityError for a used unique key, and so on); what `fn` does runs in the connection's transaction."""
    adapt = cast(OneHopConnection, raw.dbapi_connection)
    connection = raw.driver_connection
    try:
        begin, adapt._begin = adapt._begin, None  # a BEGIN still to be sent goes first, in the same call
        result: R = await connection._execute(_begin_then, connection._conn, begin, fn, *args)
    except sqlite3.Error as error:
        raise DBAPIError.instance(fn.__name__, None, error, sqlite3.Error) from error
    return result


# For work in the thread (`call_in_thread`): Core statements as SQL text and values as SQLAlchemy sends them.
DIALECT = sqlite_dialect.dialect(paramstyle="named")
_COMPILED: dict[Any, str] = {}
_BIND: dict[Any, Callable[[Any], Any] | None] = {}


def compiled(statement: Any) -> str:
    """A Core statement as SQLite text with named parameters (sqlite3 binds them from a dict), compiled once."""
    sql = _COMPILED.get(statement)
    if sql is None:
        sql = _COMPILED[statement] = str(statement.compile(dialect=DIALECT))
    return sql


def _processor(column: Column[Any]) -> Callable[[Any], Any] | None:
    if column not in _BIND:
        _BIND[column] = column.type.dialect_impl(DIALECT).bind_processor(DIALECT)
    return _BIND[column]


def bind_value(column: Column[Any], value: Any) -> Any:
    """`value` for `column` as SQLAlchemy would send it to SQLite (the type's own bind processing: a UTC time
    becomes SQLite's datetime text), so a row written in the thread is the row SQLAlchemy would have written."""
    bind = _processor(column)
    return value if bind is None else bind(value)


class RowBinder:
    """Rows for an INSERT of `columns` (parameters named by column), each value bound as by `bind_value`, with
    the lookups done once: for a batch of rows. `bound` holds values bound already, shared by many rows."""

    def __init__(self, columns: Sequence[Column[Any]]) -> None:
        self.plain = [column.key for column in columns if _processor(column) is None]
        self.processed = [(column.key, _processor(column)) for column in columns if _processor(column) is not None]

    def __call__(self, values: Mapping[str, Any], bound: Mapping[str, Any] = EMPTY_DICT) -> dict[str, Any]:
        row = {name: values.get(name) for name in self.plain}
        for name, process in self.processed:
            row[name] = bound[name] if name in bound else cast(Callable[[Any], Any], process)(values.get(name))
        return row
