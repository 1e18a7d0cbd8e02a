"""Live updates: telling open pages, within a moment of the commit, that something they show has changed.

A notice names a topic (`org:{id}`: that partner's pick list, points, notifications; `program:{id}`: a lead
taken, the leaderboards), an event and a little data. State changes call `notify_after_commit` in their unit of
work; the notices leave once it commits (a rollback sends nothing) through the process's publisher: Redis
pub/sub when `REDIS_URL` is set, PostgreSQL's NOTIFY without Redis, and on SQLite straight to this process's
hub. Each web process runs one `Hub`, which hears the notices of every process and hands each to its open
event streams through a bounded queue: a slow or dead client loses notices (the page refetches on the next
one, on reconnect, or at its slow poll) and never blocks anyone.

Each topic also has a version that every notice on it changes, kept where every web process reads it: in
Redis beside the channel, and in this process on SQLite (where the channel is this process too). A page that
polls asks `versions` first and is answered 304 without reading the database while they stand
(incentives.web.unchanged). PostgreSQL without Redis keeps none: those pages are rendered each time.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import secrets
import weakref
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from redis.exceptions import RedisError
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from incentives.db import Database

log = logging.getLogger(__name__)

CHANNEL = "incentives_live"  # the Redis channel and the PostgreSQL NOTIFY channel
QUEUE_SIZE = 100  # notices waiting for one slow stream before it misses some
_PENDING = "incentives.live"
VERSION_KEY = "incentives:live:version:"  # + topic: a Redis counter per topic
EPOCH_KEY = "incentives:live:epoch"  # a Redis that lost its counters (restart, flush) starts a new epoch


@dataclass(frozen=True)
class Notice:
    topic: str
    event: str
    data: dict[str, Any] = field(default_factory=dict)

    def encode(self) -> str:
        return json.dumps({"topic": self.topic, "event": self.event, "data": self.data}, separators=(",", ":"))

    @classmethod
    def decode(cls, payload: str | bytes) -> Notice:
        found = json.loads(payload)
        return cls(found["topic"], found["event"], found.get("data") or {})


def org_topic(org_id: int) -> str:
    return f"org:{org_id}"


def program_topic(program_id: int) -> str:
    return f"program:{program_id}"


# --- sending --------------------------------------------------------------------------------------------

_DATABASES: weakref.WeakKeyDictionary[Any, Database] = weakref.WeakKeyDictionary()
_HUBS: weakref.WeakKeyDictionary[Any, Hub] = weakref.WeakKeyDictionary()
_SENDING: set[asyncio.Task[None]] = set()


def enable(db: Database) -> None:
    """Send the notices of commits on `db`'s engine from this process (the app and the job runner call it)."""
    _DATABASES[db.engine.sync_engine] = db


def notify_after_commit(session: AsyncSession, notices: Iterable[Notice]) -> None:
    """Send `notices` once this session's transaction commits; a rollback drops them."""
    sync = session.sync_session
    sync.info.setdefault(_PENDING, []).extend(notices)
    if not event.contains(sync, "after_commit", _committed):
        event.listen(sync, "after_commit", _committed)
        event.listen(sync, "after_rollback", _rolled_back)


def pick_lists_changed(session: AsyncSession, program_id: int) -> None:
    """Every open pick list of the program may show something else after this commit (a lead back or gone, the
    points a rule or campaign pays, a setting of the gate): they refetch, and their stamps end."""
    notify_after_commit(session, [Notice(program_topic(program_id), "picklist")])


def _committed(session: Session) -> None:
    notices = session.info.pop(_PENDING, [])
    bind = session.get_bind()
    db = _DATABASES.get(getattr(bind, "engine", bind))
    if not notices or db is None:
        return
    # The commit runs inside the event loop's thread (SQLAlchemy's async layer); sending is async.
    task = asyncio.get_running_loop().create_task(publish(db, notices))
    _SENDING.add(task)
    task.add_done_callback(_SENDING.discard)


def _rolled_back(session: Session) -> None:
    session.info.pop(_PENDING, None)


async def publish(db: Database, notices: list[Notice]) -> None:
    """Send notices to every process's hub. A failure is logged: pages catch up at their next poll."""
    try:
        if db.redis is not None:
            async with db.redis.pipeline(transaction=False) as pipe:
                # The versions move before anyone hears the notice, so a page refetching on it renders anew.
                pipe.set(EPOCH_KEY, secrets.token_hex(8), nx=True)
                for topic in sorted({notice.topic for notice in notices}):
                    pipe.incr(VERSION_KEY + topic)
                for notice in notices:
                    pipe.publish(CHANNEL, notice.encode())
                await pipe.execute()
        elif db.engine.dialect.name == "postgresql":
            async with db.engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                for notice in notices:
                    await conn.execute(select(func.pg_notify(CHANNEL, notice.encode())))
        else:  # SQLite: every hub of this process on the same database file hears it
            _LOCAL_VERSIONS[str(db.engine.url)].update(notice.topic for notice in notices)
            for hub in [hub for hub in _HUBS.values() if hub.db.engine.url == db.engine.url]:
                for notice in notices:
                    hub.deliver(notice)
    except (RedisError, OSError, asyncpg.PostgresError):
        log.warning("live: %d notice(s) not sent; open pages catch up at their next poll", len(notices))


# On SQLite the notices never leave this process, so neither do the versions; a restart starts a new epoch.
_LOCAL_EPOCH = secrets.token_hex(8)
_LOCAL_VERSIONS: defaultdict[str, Counter[str]] = defaultdict(Counter)


async def versions(db: Database, topics: Iterable[str]) -> str | None:
    """The current versions of `topics` as one string, or None where none are kept (or Redis cannot answer)."""
    wanted = list(topics)
    if db.redis is not None:
        try:
            found = await db.redis.mget([EPOCH_KEY, *(VERSION_KEY + topic for topic in wanted)])
        except (RedisError, OSError):
            return None
        return ",".join(value.decode() if isinstance(value, bytes) else str(value or 0) for value in found)
    if db.engine.dialect.name == "postgresql":
        return None
    counted = _LOCAL_VERSIONS[str(db.engine.url)]
    return ",".join([_LOCAL_EPOCH, *(str(counted[topic]) for topic in wanted)])


async def flush() -> None:
    """Wait for notices still being sent (a job's process ends right after its last commit)."""
    loop = asyncio.get_running_loop()
    mine = [task for task in _SENDING if task.get_loop() is loop]  # another loop's tasks finish on their own
    if mine:
        await asyncio.gather(*mine, return_exceptions=True)


def _closed(lost: asyncio.Event, _conn: object) -> None:
    lost.set()


# --- receiving ------------------------------------------------------------------------------------------


class Hub:
    """This process's end of the live channel: one listener, any number of local subscribers."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._subscribers: dict[str, set[asyncio.Queue[Notice]]] = defaultdict(set)
        self._listener: asyncio.Task[None] | None = None

    async def start(self) -> None:
        _HUBS[self.db.engine.sync_engine] = self
        if self.db.redis is not None:
            self._listener = asyncio.create_task(self._listen_redis())
        elif self.db.engine.dialect.name == "postgresql":
            self._listener = asyncio.create_task(self._listen_postgresql())

    async def stop(self) -> None:
        _HUBS.pop(self.db.engine.sync_engine, None)
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener

    def deliver(self, notice: Notice) -> None:
        for queue in self._subscribers.get(notice.topic, ()):
            with contextlib.suppress(asyncio.QueueFull):  # a stream that does not keep up misses it
                queue.put_nowait(notice)

    @contextlib.asynccontextmanager
    async def subscribe(self, topics: Iterable[str]) -> AsyncIterator[asyncio.Queue[Notice]]:
        queue: asyncio.Queue[Notice] = asyncio.Queue(QUEUE_SIZE)
        wanted = set(topics)
        for topic in wanted:
            self._subscribers[topic].add(queue)
        try:
            yield queue
        finally:
            for topic in wanted:
                self._subscribers[topic].discard(queue)
                if not self._subscribers[topic]:
                    del self._subscribers[topic]

    def _heard(self, payload: str | bytes) -> None:
        try:
            self.deliver(Notice.decode(payload))
        except (ValueError, KeyError, TypeError):
            log.warning("live: an unreadable notice was ignored")

    async def _listen_redis(self) -> None:
        assert self.db.redis is not None
        while True:
            try:
                async with self.db.redis.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._heard(message["data"])
            except (RedisError, OSError):
                log.warning("live: Redis subscription lost; resubscribing")
                await asyncio.sleep(1)

    async def _listen_postgresql(self) -> None:
        dsn = self.db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while True:
            try:
                conn = await asyncpg.connect(dsn)
            except (OSError, asyncpg.PostgresError):
                log.warning("live: cannot LISTEN on PostgreSQL yet; retrying")
                await asyncio.sleep(1)
                continue
            lost = asyncio.Event()
            try:
                conn.add_termination_listener(functools.partial(_closed, lost))
                await conn.add_listener(CHANNEL, lambda _conn, _pid, _channel, payload: self._heard(payload))
                await lost.wait()
            finally:
                with contextlib.suppress(Exception):
                    await conn.close()
