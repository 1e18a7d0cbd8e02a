"""An unchanged pick-list poll is answered 304 from the live versions alone, and only while nothing changed.

The server is the real app over HTTP. Its versions live in Redis (any database) or in the process (SQLite); on
PostgreSQL without Redis the fragment keeps its body-hash ETag. A poll's database work is counted with an
engine event on every engine of the process, the server's included.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
from redis import Redis
from sqlalchemy import event
from sqlalchemy.engine import Engine

from incentives import live
from incentives.accounts.roles import Role
from incentives.config import Settings
from incentives.db import Database, utcnow
from incentives.notifications.services import notify
from incentives.web import unchanged
from tests.conftest import page_client, run_server
from tests.factories import make_program, make_user
from tests.leads.helpers import make_lead, make_reseller
from tests.web.test_live import REDIS_URL
from tests.web.test_pages import login


@pytest.fixture
def keeper(backend: str) -> str:
    """Where the versions live: the process on SQLite, Redis beside PostgreSQL (which alone keeps none)."""
    return "process" if backend == "sqlite" else "redis"


@pytest.fixture
def versioned_server(settings: Settings, keeper: str) -> Iterator[str]:
    if keeper == "redis":
        Redis.from_url(REDIS_URL).flushdb()
        settings = replace(settings, redis_url=REDIS_URL)
    yield from run_server(settings)


@pytest.fixture
async def writer(db: Database, keeper: str, database_url: str) -> AsyncIterator[Database]:
    """The test's own writes stand for the app's: they send their notices (through Redis when the server has it)."""
    if keeper == "process":
        live.enable(db)
        yield db
        return
    through_redis = Database(database_url, redis_url=REDIS_URL)
    live.enable(through_redis)
    yield through_redis
    await live.flush()
    await through_redis.dispose()


def _fragments(server: str) -> httpx.AsyncClient:
    """A browser page's client that asks for fragments, as htmx does."""
    client = page_client(server, timeout=30)
    client.headers["HX-Request"] = "true"
    return client


async def _rendered_soon(page: httpx.AsyncClient, etag: str) -> bool:
    for _ in range(100):
        if (await page.get("/picklist", headers={"If-None-Match": etag})).status_code == 200:
            return True
        await asyncio.sleep(0.05)
    return False


class Statements:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, *_args: Any) -> None:
        self.count += 1


async def _poll(page: httpx.AsyncClient, etag: str, **headers: str) -> tuple[httpx.Response, int]:
    """A poll with `etag`, and how many statements every engine of the process ran meanwhile."""
    seen = Statements()
    event.listen(Engine, "before_cursor_execute", seen)
    try:
        answer = await page.get("/picklist", headers={"If-None-Match": etag, **headers})
    finally:
        event.remove(Engine, "before_cursor_execute", seen)
    return answer, seen.count


@dataclass
class Watched:
    page: httpx.AsyncClient  # a logged-in partner's open pick list
    world: Any
    rep: Any
    etag: str


@pytest.fixture
async def watched(writer: Database, versioned_server: str) -> AsyncIterator[Watched]:
    world = await make_program(writer)
    rep = await make_reseller(writer, world)
    user = await make_user(writer, world, rep.org_id, Role.RESELLER_REP)
    await make_lead(writer, world, now=utcnow())
    async with _fragments(versioned_server) as page:
        await login(page, user.email)
        first = await page.get("/picklist")
        assert first.status_code == 200 and first.headers["etag"].startswith(unchanged.PREFIX)
        yield Watched(page, world, rep, first.headers["etag"])


async def test_an_unchanged_poll_reads_nothing_from_the_database(watched: Watched) -> None:
    again, statements = await _poll(watched.page, watched.etag)
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == watched.etag
    assert statements == 0
    # The counter can tell: the same poll with a stamp that does not hold renders and reads.
    rendered, statements = await _poll(watched.page, watched.etag.replace(".", "!", 1))
    assert rendered.status_code == 200 and statements > 0


async def test_every_notice_on_a_shown_topic_renders_anew(
    writer: Database, versioned_server: str, watched: Watched
) -> None:
    await make_lead(writer, watched.world, now=utcnow())  # a new offer: the org's topic
    await live.flush()
    fresh, _ = await _poll(watched.page, watched.etag)
    assert fresh.status_code == 200 and fresh.headers["etag"] != watched.etag
    async with writer.transaction() as session:  # a notification: the org's topic again
        await notify(session, program_id=watched.world.program_id, org_id=watched.rep.org_id, kind="t", message="hi")
    await live.flush()
    assert (await _poll(watched.page, fresh.headers["etag"]))[0].status_code == 200
    other = await make_reseller(writer, watched.world)  # a lead taken by another partner: the program's topic
    lead = await make_lead(writer, watched.world, now=utcnow())
    latest = (await watched.page.get("/picklist")).headers["etag"]
    async with httpx.AsyncClient(base_url=versioned_server, timeout=30) as api:
        taken = await api.post(f"/api/v1/leads/{lead.id}/reserve", headers=other.auth)
        assert taken.status_code == 200
    assert await _rendered_soon(watched.page, latest)  # the server sends its notice right after its commit


async def test_a_stamp_holds_only_for_its_session_request_and_time(
    writer: Database, versioned_server: str, watched: Watched, monkeypatch: pytest.MonkeyPatch
) -> None:
    page, etag = watched.page, watched.etag
    other = await make_reseller(writer, watched.world)
    someone = await make_user(writer, watched.world, other.org_id, Role.RESELLER_REP)
    async with _fragments(versioned_server) as stranger:
        await login(stranger, someone.email)
        assert (await _poll(stranger, etag))[0].status_code == 200  # another user's stamp
        assert (await page.get("/picklist?sort=value", headers={"If-None-Match": etag})).status_code == 200
        assert (await _poll(page, etag, **{"Accept-Language": "de"}))[0].status_code == 200
        topics, _, rest = etag.partition(".org:")
        forged = f"{topics}.org:{other.org_id + 1000}{rest[rest.index(',') :]}"
        assert (await _poll(page, forged))[0].status_code == 200
        assert (await _poll(page, etag))[0].status_code == 304
        later = utcnow() + dt.timedelta(seconds=unchanged.FRESH_SECONDS + 1)
        monkeypatch.setattr(unchanged, "utcnow", lambda: later)
        assert (await _poll(page, etag))[0].status_code == 200  # the clock alone ends a stamp


async def test_a_cookie_without_a_login_gets_no_304(versioned_server: str, watched: Watched) -> None:
    async with _fragments(versioned_server) as anonymous:
        answer, _ = await _poll(anonymous, watched.etag)
        assert answer.status_code != 304


def test_hours_left_ticking_down_ends_the_stamp() -> None:
    from incentives.leads.picklist import Teaser
    from incentives.web.leads import fresh_until

    now = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)
    item = Teaser(
        1, 1, "P", "warm", "heat_pumps", None, "DE", "80", "unknown", now, now + dt.timedelta(hours=5, minutes=20), True
    )
    assert fresh_until([item], now) == (now + dt.timedelta(minutes=20)).timestamp()
    assert fresh_until([], now) == now.timestamp() + unchanged.FRESH_SECONDS


async def test_without_redis_postgresql_compares_bodies(db: Database, server: str, backend: str) -> None:
    world = await make_program(db)
    rep = await make_reseller(db, world)
    user = await make_user(db, world, rep.org_id, Role.RESELLER_REP)
    await make_lead(db, world, now=utcnow())
    async with _fragments(server) as page:
        await login(page, user.email)
        first = await page.get("/picklist")
        assert first.headers["etag"].startswith(unchanged.PREFIX) == (backend == "sqlite")
        assert (await page.get("/picklist", headers={"If-None-Match": first.headers["etag"]})).status_code == 304
