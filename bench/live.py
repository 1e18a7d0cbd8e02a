"""Live pages (issue 17's targets): 1,000 open event streams on one web process, and the 304 poll fallback.

    .venv/bin/python bench/live.py [--quick] [--backend sqlite|postgresql] [--streams N]

One `incentives serve --workers 1` process. A partner's browser session opens N event streams (GET /events, as N
open tabs would); the script measures the server's CPU while they sit idle (10 s), then another partner reserves
a lead offered to both and times how long each stream takes to receive the `lead-{id}` event that removes the
card (fan-out). Then the pick-list fragment polled with the ETag it already has (answered 304) under
`wrk -t2 -c20`, beside a hello-world Starlette app in the same run. PostgreSQL runs with Redis (BENCH_REDIS_URL,
database 11 by default, flushed), as it does when it scales out; SQLite alone. Targets: idle CPU <= 5 %, fan-out <= 1 s,
304 poll >= 2,000 requests/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from redis import Redis
from sqlalchemy import select

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

import leads as lead_bench  # type: ignore[import-not-found]  # noqa: E402
from _support import databases  # type: ignore[import-not-found]  # noqa: E402
from reads import log_in, start, wrk  # type: ignore[import-not-found]  # noqa: E402

from incentives.accounts import services as accounts  # noqa: E402
from incentives.accounts.models import User  # noqa: E402
from incentives.db import Database  # noqa: E402
from incentives.leads.models import LeadOffer  # noqa: E402

PORT, HELLO_PORT = 8841, 8842
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
IDLE_SECONDS = 10


def more_files() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def build(db: Database) -> dict[str, Any]:
    book: dict[str, Any] = await lead_bench.build(db, 200, 20, 60, focus_offers=60)
    async with db.reader() as session:
        lead = book["offered_ids"][0]
        rival_org = (
            await session.scalars(
                select(LeadOffer.org_id).where(LeadOffer.lead_id == lead, LeadOffer.org_id != book["org_ids"][0])
            )
        ).first()
        rival = (await session.scalars(select(User.id).where(User.org_id == rival_org))).first()
    async with db.transaction() as session:
        book["rival_token"] = await accounts.create_token(session, book["admin"], user_id=rival)
    book["lead"] = lead
    return book


async def open_stream(cookie: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", PORT, limit=1 << 20)
    writer.write(
        (
            "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
            f"Cookie: incentives_session={cookie}\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    if b" 200 " not in head.split(b"\r\n", 1)[0]:
        raise RuntimeError(head.decode(errors="replace"))
    return reader, writer


async def wait_for(reader: asyncio.StreamReader, event: bytes) -> float:
    while True:
        line = await reader.readline()
        if not line:
            raise RuntimeError("stream closed")
        if line.strip() == b"event: " + event:
            return time.perf_counter()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def streams(book: dict[str, Any], count: int, pid: int) -> None:
    opened = await asyncio.gather(*(open_stream(book["cookie"]) for _ in range(count)))
    await asyncio.sleep(1)
    before, begin = cpu_seconds(pid), time.perf_counter()
    await asyncio.sleep(IDLE_SECONDS)
    idle = (cpu_seconds(pid) - before) / (time.perf_counter() - begin)
    print(f"  {count} open streams, idle: server CPU {idle:.1%} of one core over {IDLE_SECONDS} s")
    event = f"lead-{book['lead']}".encode()
    waiting = [asyncio.create_task(wait_for(reader, event)) for reader, _ in opened]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{PORT}", timeout=30) as client:
        sent = time.perf_counter()
        answer = await client.post(
            f"/api/v1/leads/{book['lead']}/reserve", headers={"Authorization": f"Bearer {book['rival_token']}"}
        )
        assert answer.status_code == 200, answer.text
    arrived = sorted(at - sent for at in await asyncio.wait_for(asyncio.gather(*waiting), 30))
    print(
        f"  fan-out of one reservation to {count} streams: first {arrived[0] * 1000:.0f} ms, "
        f"median {arrived[len(arrived) // 2] * 1000:.0f} ms, last {arrived[-1] * 1000:.0f} ms"
    )
    for _, writer in opened:
        writer.close()


def poll_304(book: dict[str, Any], seconds: int) -> None:
    base = f"http://127.0.0.1:{PORT}"
    headers = {"HX-Request": "true", "Cookie": f"incentives_session={book['cookie']}"}
    first = httpx.get(f"{base}/picklist", headers=headers)
    etag = first.headers["etag"]
    again = httpx.get(f"{base}/picklist", headers={**headers, "If-None-Match": etag})
    assert again.status_code == 304, again.status_code
    rate, p50, p99 = wrk(f"{base}/picklist", {**headers, "If-None-Match": etag}, seconds)
    hello, _, _ = wrk(f"http://127.0.0.1:{HELLO_PORT}/", {}, seconds)
    print(
        f"  unchanged pick-list poll (304): {rate:,.0f} req/s (p50 {p50:.1f} ms, p99 {p99:.1f} ms); "
        f"hello-world {hello:,.0f} req/s; ratio {rate / hello:.0%}"
    )


def run(backend: str, url: str, quick: bool, count: int) -> None:
    db = Database(url)
    book = asyncio.run(build(db))
    asyncio.run(db.dispose())
    env = {**os.environ, "DATABASE_URL": url, "SWEEP_INTERVAL_SECONDS": "0", "SECRET_KEY": "b" * 40}
    env.pop("REDIS_URL", None)
    if backend == "postgresql":  # as PostgreSQL is run to scale out: with Redis for the channel and its versions
        Redis.from_url(REDIS_URL).flushdb()
        env["REDIS_URL"] = REDIS_URL
    serve = [sys.executable, "-m", "incentives.cli", "serve", "--port", str(PORT), "--workers", "1", "--no-access-log"]
    app = start(serve, env, PORT, more_files)
    uvicorn = [sys.executable, "-m", "uvicorn", "--log-level", "warning", "--no-access-log"]
    hello = start(
        [*uvicorn, "--port", str(HELLO_PORT), "--factory", "reads_reference:hello"],
        {**env, "PYTHONPATH": str(BENCH)},
        HELLO_PORT,
    )
    try:
        book["cookie"] = log_in(f"http://127.0.0.1:{PORT}", book["focus_email"])
        print(f"{backend}:")
        asyncio.run(streams(book, count, app.pid))
        poll_304(book, 2 if quick else 5)
    finally:
        for process in (app, hello):
            process.terminate()
            process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 s load runs")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], action="append")
    parser.add_argument("--streams", type=int, default=1000)
    args = parser.parse_args()
    more_files()
    for backend, url in databases(args.backend or ["sqlite", "postgresql"], "live"):
        run(backend, url, args.quick, args.streams)


if __name__ == "__main__":
    main()
