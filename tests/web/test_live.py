"""Live updates over real HTTP: an open page's event stream hears what other requests and processes commit.

A lead reserved by one partner is replaced in every other partner's open pick list by a note in their own
language; new offers, feedback and notifications make the right part of the page refetch; notices cross
processes through Redis pub/sub and through PostgreSQL's LISTEN/NOTIFY; a rollback sends nothing; a reconnect
refetches everything once; a stream that does not read loses notices without blocking anyone.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import httpx
import pytest
from redis import Redis

from incentives import live
from incentives.accounts.roles import Role
from incentives.db import Database, utcnow
from incentives.notifications.services import notify
from tests.factories import make_program, make_user
from tests.leads.helpers import make_lead, make_reseller
from tests.web.test_pages import login

REDIS_URL = os.environ.get("TEST_LIVE_REDIS_URL", "redis://127.0.0.1:6379/12")


async def _events(lines: AsyncIterator[str], wanted: int) -> list[tuple[str, str]]:
    """The next `wanted` (event, data) pairs of an open stream's lines (pings skipped)."""
    found: list[tuple[str, str]] = []
    name, data = "", []
    async for line in lines:
        if line.startswith("event:"):
            name = line.partition(":")[2].strip()
        elif line.startswith("data:"):
            data.append(line.partition(":")[2].removeprefix(" "))
        elif line == "" and name:
            found.append((name, "\n".join(data)))
            name, data = "", []
            if len(found) == wanted:
                return found
    return found


async def _stream_opened(client: httpx.AsyncClient, **headers: str) -> AsyncIterator[AsyncIterator[str]]:
    """An open event stream's lines, once the server has subscribed it."""
    async with client.stream("GET", "/events", headers=headers) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        await asyncio.sleep(0.2)  # the server subscribes before it sends the first byte it flushes
        yield response.aiter_lines()


@pytest.mark.parametrize("locale", ["de", "en"])
async def test_a_lead_taken_is_replaced_in_the_other_open_pick_lists(
    db: Database, server: str, http: httpx.AsyncClient, locale: str
) -> None:
    world = await make_program(db)
    loser, winner = await make_reseller(db, world), await make_reseller(db, world)
    watching = await make_user(db, world, loser.org_id, Role.RESELLER_REP, locale=locale)
    lead = await make_lead(db, world, now=utcnow())
    async with httpx.AsyncClient(base_url=server, headers={"Origin": server}, timeout=30) as watcher:
        await login(watcher, watching.email)
        async for stream in _stream_opened(watcher):
            reserved = await http.post(f"/api/v1/leads/{lead.id}/reserve", headers=winner.auth)
            assert reserved.status_code == 200
            [(name, html)] = await asyncio.wait_for(_events(stream, 1), 5)
    assert name == f"lead-{lead.id}"
    assert f'id="lead-{lead.id}"' in html
    said = {"de": "bereits von einem anderen Partner reserviert", "en": "already reserved by another partner"}
    assert said[locale] in html


async def test_offers_feedback_and_notices_refetch_the_right_part(db: Database, server: str) -> None:
    world = await make_program(db)
    rep = await make_reseller(db, world)
    user = await make_user(db, world, rep.org_id, Role.RESELLER_REP)
    live.enable(db)
    async with httpx.AsyncClient(base_url=server, headers={"Origin": server}, timeout=30) as page:
        await login(page, user.email)
        async for stream in _stream_opened(page):
            await make_lead(db, world, now=utcnow())  # offered to the partner: its pick list changes
            async with db.transaction() as session:
                await notify(session, program_id=world.program_id, org_id=rep.org_id, kind="test", message="Hi")
            found = await asyncio.wait_for(_events(stream, 3), 5)
    names = [name for name, _ in found]
    assert "picklist" in names and "pulse" in names


async def test_a_rollback_sends_nothing_and_a_reconnect_refetches_everything(db: Database, server: str) -> None:
    world = await make_program(db)
    rep = await make_reseller(db, world)
    user = await make_user(db, world, rep.org_id, Role.RESELLER_REP)
    live.enable(db)
    async with httpx.AsyncClient(base_url=server, headers={"Origin": server}, timeout=30) as page:
        await login(page, user.email)
        async for stream in _stream_opened(page):
            with pytest.raises(RuntimeError):
                async with db.transaction() as session:
                    await notify(session, program_id=world.program_id, org_id=rep.org_id, kind="t", message="rolled")
                    raise RuntimeError("rolled back")
            async with db.transaction() as session:
                await notify(session, program_id=world.program_id, org_id=rep.org_id, kind="t", message="kept")
            [(name, _)] = await asyncio.wait_for(_events(stream, 1), 5)
            assert name == "pulse"
            with pytest.raises(TimeoutError):  # the rolled-back notice never comes
                await asyncio.wait_for(_events(stream, 1), 1)
        async for stream in _stream_opened(page, **{"Last-Event-ID": "1-1"}):
            found = await asyncio.wait_for(_events(stream, 3), 5)
    assert [name for name, _ in found] == ["picklist", "pulse", "leaderboard"]


@pytest.mark.parametrize("through", ["redis", "database"])
async def test_notices_cross_processes(database_url: str, through: str) -> None:
    """Two Database objects stand for two processes: one commits, the other's hub hears it (through the database:
    PostgreSQL's NOTIFY; on SQLite, which has no second process, every hub of the process on the same file)."""
    if through == "redis":
        Redis.from_url(REDIS_URL).flushdb()
    redis_url = REDIS_URL if through == "redis" else None
    sender, receiver = Database(database_url, redis_url=redis_url), Database(database_url, redis_url=redis_url)
    hub = live.Hub(receiver)
    await hub.start()
    live.enable(sender)
    try:
        world = await make_program(sender)
        rep = await make_reseller(sender, world)
        async with hub.subscribe([live.org_topic(rep.org_id)]) as queue:
            await asyncio.sleep(0.3)  # the listener has subscribed
            async with sender.transaction() as session:
                await notify(session, program_id=world.program_id, org_id=rep.org_id, kind="t", message="far")
            notice = await asyncio.wait_for(queue.get(), 5)
        assert notice == live.Notice(live.org_topic(rep.org_id), "pulse")
    finally:
        await hub.stop()
        await live.flush()
        await sender.dispose()
        await receiver.dispose()


async def test_a_stream_that_does_not_read_misses_notices_and_blocks_nobody(db: Database) -> None:
    hub = live.Hub(db)
    async with hub.subscribe(["org:1"]) as slow, hub.subscribe(["org:1"]) as quick:
        for index in range(live.QUEUE_SIZE + 50):
            hub.deliver(live.Notice("org:1", "pulse", {"n": index}))
            if index % 10 == 0:
                while not quick.empty():
                    quick.get_nowait()
        assert slow.qsize() == live.QUEUE_SIZE  # the rest were dropped for it, not queued without bound
        assert quick.qsize() <= 10


async def test_an_unchanged_pick_list_answers_304(db: Database, server: str) -> None:
    live.enable(db)  # the test's writes stand for the app's own: they tell its open pages
    world = await make_program(db)
    rep = await make_reseller(db, world)
    user = await make_user(db, world, rep.org_id, Role.RESELLER_REP)
    await make_lead(db, world, now=utcnow())
    async with httpx.AsyncClient(base_url=server, headers={"Origin": server, "HX-Request": "true"}) as page:
        await login(page, user.email)
        first = await page.get("/picklist")
        assert first.status_code == 200 and first.headers["etag"]
        again = await page.get("/picklist", headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        await make_lead(db, world, now=utcnow())
        await live.flush()
        changed = await page.get("/picklist", headers={"If-None-Match": first.headers["etag"]})
        assert changed.status_code == 200 and changed.headers["etag"] != first.headers["etag"]
