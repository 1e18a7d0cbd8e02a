"""aiosqlite with one hop into its thread per statement.

SQLAlchemy's aiosqlite adapter makes four calls into aiosqlite's worker thread for every statement (open a
cursor, execute, fetch all rows, close), and each call is a round trip through a queue, a thread switch and
an event-loop wake-up. This adapter runs the whole statement — execute, fetch, close — as one function in
that thread and keeps what SQLAlchemy asks afterwards (rows, description, rowcount, lastrowid). Everything
else (connections, transactions, errors, server-side cursors for streaming) is SQLAlchemy's own.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar, cast

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

_Outcome = tuple[Any, list[Any], int, int | None]


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
        async with self._adapt_connection._execute_mutex:
            connection = self._connection
            self._keep(await connection._execute(_execute, connection._conn, operation, parameters))

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        async with self._adapt_connection._execute_mutex:
            connection = self._connection
            self._keep(await connection._execute(_executemany, connection._conn, operation, seq_of_parameters))

    def nextset(self) -> None:
        raise NotImplementedError("SQLite returns one result set per statement")

    def setinputsizes(self, *inputsizes: Any) -> None:
        pass


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = cast(type[AsyncAdapt_aiosqlite_cursor], OneHopCursor)


class OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The module object SQLAlchemy's aiosqlite dialect uses, handing out one-hop connections."""

    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        connection = aiosqlite.connect(*arg, **kw)
        connection._thread.daemon = True  # as SQLAlchemy does: a forgotten connection must not block exit
        return OneHopConnection(self, cast(Any, await_(connection)))


def dbapi() -> OneHopDBAPI:
    return OneHopDBAPI(aiosqlite, sqlite3)


R = TypeVar("R")


async def call_in_thread(raw: Any, fn: Callable[..., R], *args: Any) -> R:
    """Run `fn(sqlite3_connection, *args)` in the thread of `raw` (a pooled connection of an engine made with
    `dbapi()`), as one hop: several statements for the price of one. sqlite3's errors come out as SQLAlchemy's
    (IntegrityError for a used unique key, and so on); what `fn` does runs in the connection's transaction."""
    connection = raw.driver_connection
    try:
        result: R = await connection._execute(fn, connection._conn, *args)
    except sqlite3.Error as error:
        raise DBAPIError.instance(fn.__name__, None, error, sqlite3.Error) from error
    return result
