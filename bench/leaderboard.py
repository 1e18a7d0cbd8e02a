"""Leaderboard figures: API and page-fragment latency on Redis and on the SQL fallback, award → rank visible, and
what noting awards for the boards adds to paying them, and how fast the counting job moves them onto the boards.

The boards are read from the rollup, whose size is set by partners × periods, not by the number of awards: the
book is 100,000 partners whose rollup rows hold the sums of 10 million synthetic awards (100 per partner on
average, 5-50 points each, spread over four months). The award-path figure pays real batches through the ledger.

    .venv/bin/python bench/leaderboard.py [--quick] [--backend sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
from redis import Redis
from sqlalchemy import insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import databases  # type: ignore[import-not-found]

from incentives.accounts import services as accounts
from incentives.accounts.models import Membership, Org, User
from incentives.accounts.roles import Role
from incentives.accounts.scope import Principal
from incentives.db import Database, utcnow
from incentives.leaderboard import jobs as leaderboard
from incentives.leaderboard.models import WHOLE_ORG, LeaderboardPoints
from incentives.leaderboard.periods import key_of
from incentives.ledger import services as ledger
from incentives.ledger.services import Award
from incentives.rules import payouts

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
PASSWORD = "bench-password-123"
PORT = 8798


async def build(db: Database, partners: int, awards_per_partner: int) -> tuple[int, int, str]:
    """The program, `partners` members with their rollup rows, and one rep (of the first partner) with a token."""
    async with db.transaction() as session:
        boot = await accounts.bootstrap_program(session, program="Bench", email="bench@example.com")
    now = utcnow()
    rng = random.Random(1)
    async with db.transaction() as session:
        program_id = boot.program_id
        orgs = [
            {"name": f"Partner {i}", "kind": "reseller", "country": "DE", "registered_by_program_id": boot.program_id}
            for i in range(partners)
        ]
        ids = list((await session.execute(insert(Org).returning(Org.id), orgs)).scalars())
        tiers = ("platinum", "gold", "silver", "registered")
        await session.execute(
            insert(Membership),
            [
                {
                    "program_id": program_id,
                    "org_id": org_id,
                    "tier": tiers[i % 4],
                    "competencies": [],
                    "certifications": [],
                    "regions": ["DE"],
                }
                for i, org_id in enumerate(ids)
            ],
        )
        rows = []
        keys = {kind: key_of(kind, now) for kind in ("week", "month", "quarter", "all")}
        share = {"week": 7 / 120, "month": 30 / 120, "quarter": 90 / 120, "all": 1.0}
        for org_id in ids:
            count = max(1, int(rng.expovariate(1 / awards_per_partner)))
            total = count * 27 + rng.randint(0, count * 5)  # 5-50 points per award, 27 on average
            for kind, key in keys.items():
                rows.append(
                    {
                        "program_id": program_id,
                        "period": key,
                        "org_id": org_id,
                        "user_id": WHOLE_ORG,
                        "points": int(total * share[kind]) // 5 * 5,
                    }
                )
        for start in range(0, len(rows), 20_000):
            await session.execute(insert(LeaderboardPoints), rows[start : start + 20_000])
    async with db.transaction() as session:
        admin = Principal.of(await session.get_one(User, boot.user_id))
    async with db.transaction() as session:
        rep = await accounts.create_user(
            session,
            admin,
            email="rep@bench.example",
            name="Rep",
            org_id=ids[partners // 2],
            role=Role.RESELLER_REP,
            locale="en",
            password=PASSWORD,
        )
    async with db.transaction() as session:
        token = await accounts.create_token(session, admin, user_id=rep.id)
    return program_id, ids[partners // 2], token


async def fill_redis(db: Database, program_id: int) -> float:
    start = time.perf_counter()
    await leaderboard.refill_redis(db, program_id)
    return time.perf_counter() - start


def serve(url: str, redis_url: str | None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": url, "SWEEP_INTERVAL_SECONDS": "0", "SECRET_KEY": "b" * 40}
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    process = subprocess.Popen(
        [sys.executable, "-m", "incentives.cli", "serve", "--port", str(PORT), "--no-access-log"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(400):
        try:
            httpx.get(f"http://127.0.0.1:{PORT}/login", timeout=1)
            return process
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("the server did not start")


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))]


async def timed(client: httpx.AsyncClient, path: str, requests: int, **kwargs: object) -> tuple[float, float]:
    for _ in range(20):  # warm up
        warm = await client.get(path, **kwargs)  # type: ignore[arg-type]
        assert warm.status_code == 200, (warm.status_code, warm.text[:300])
    timings = []
    for _ in range(requests):
        start = time.perf_counter()
        response = await client.get(path, **kwargs)  # type: ignore[arg-type]
        timings.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.text[:200]
    return pct(timings, 0.5), pct(timings, 0.99)


async def reads(base: str, program_id: int, token: str, requests: int) -> dict[str, tuple[float, float]]:
    found = {}
    api = f"/api/v1/leaderboard?program_id={program_id}&period=month&limit=10"
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        found["API (month, top 10 + me)"] = await timed(
            client, api, requests, headers={"Authorization": f"Bearer {token}"}
        )
    async with httpx.AsyncClient(base_url=base, headers={"Origin": base}, timeout=30) as client:
        page = await client.get("/login")
        csrf = page.text.split('name="csrftoken" value="')[1].split('"')[0]
        await client.post("/login", data={"email": "rep@bench.example", "password": PASSWORD, "csrftoken": csrf})
        path = f"/leaderboard?program_id={program_id}&period=month&scope=program"
        found["page fragment (month, program)"] = await timed(client, path, requests, headers={"HX-Request": "true"})
    return found


async def award_to_rank(db: Database, base: str, program_id: int, org_id: int, token: str) -> float:
    """Pay an award that lifts the rep's partner to the top, then poll the API until the rank shows it."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        start = time.perf_counter()
        async with db.transaction() as session:
            await payouts.pay_awards(
                session, program_id, [Award(org_id, 10_000_000, f"lift-{time.time()}")], [(None, None)], utcnow()
            )
        await leaderboard.count_pending(db)  # what the outbox processing runs after paying
        while True:
            body = (
                await client.get(
                    f"/api/v1/leaderboard?program_id={program_id}&period=month&limit=1",
                    headers={"Authorization": f"Bearer {token}"},
                )
            ).json()
            if body["me"]["rank"] == 1:
                return (time.perf_counter() - start) * 1000
            if time.perf_counter() - start > 10:
                raise RuntimeError("the rank did not move within 10 s")


async def award_path(db: Database, program_id: int, orgs: list[int], batches: int) -> tuple[float, float, float]:
    """Awards per second paid in batches of 1,000: the ledger alone, and the ledger with the note for the boards
    (alternating, so that drift hits both alike); then awards per second the counting job moves from the notes
    into the rollup and Redis."""
    alone: list[float] = []
    noted: list[float] = []
    rng = random.Random(2)
    for b in range(batches):
        for with_boards in (False, True):
            awards = [Award(rng.choice(orgs), 10, f"path-{b}-{with_boards}-{i}") for i in range(1000)]
            start = time.perf_counter()
            async with db.transaction() as session:
                if with_boards:
                    await payouts.pay_awards(session, program_id, awards, [(None, None)] * 1000, utcnow())
                else:
                    await ledger.award_batch(session, program_id=program_id, awards=awards, now=utcnow())
            (noted if with_boards else alone).append(time.perf_counter() - start)
    start = time.perf_counter()
    await leaderboard.count_pending(db)
    counting = batches * 1000 / (time.perf_counter() - start)
    return 1000 / statistics.median(alone), 1000 / statistics.median(noted), counting


async def run(backend: str, url: str, quick: bool) -> None:
    partners = 10_000 if quick else 100_000
    requests = 200 if quick else 1000
    Redis.from_url(REDIS_URL).flushdb()
    db = Database(url, redis_url=REDIS_URL)
    start = time.perf_counter()
    program_id, org_id, token = await build(db, partners, 100)
    built = time.perf_counter() - start
    if backend == "postgresql":  # statistics for the planner, as autovacuum would gather them after such a load
        async with db.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE"))
    filled = await fill_redis(db, program_id)
    async with db.reader() as session:
        orgs = list(
            await session.scalars(select(Membership.org_id).where(Membership.program_id == program_id).limit(2000))
        )
    print(
        f"{backend}: {partners:,} partners, rollup of ~{partners * 100:,} awards built in {built:.1f} s,"
        f" Redis filled in {filled:.1f} s"
    )
    for label, redis_url in (("Redis", REDIS_URL), ("SQL fallback", None)):
        server = serve(url, redis_url)
        try:
            base = f"http://127.0.0.1:{PORT}"
            for name, (p50, p99) in (await reads(base, program_id, token, requests)).items():
                print(f"  {label:12s} {name:32s} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  ({requests} requests)")
            if redis_url:
                latency = await award_to_rank(db, base, program_id, org_id, token)
                print(f"  {label:12s} award committed → rank 1 visible in the API: {latency:.0f} ms")
        finally:
            server.terminate()
            server.wait()
    plain, with_boards, counting = await award_path(db, program_id, orgs, 5 if quick else 15)
    print(
        f"  award path, batches of 1,000: ledger alone {plain:,.0f}/s, with the note for the boards"
        f" {with_boards:,.0f}/s (+{(plain / with_boards - 1) * 100:.0f} % time); counted onto the boards"
        f" afterwards by the job: {counting:,.0f} awards/s"
    )
    await db.dispose()
    Redis.from_url(REDIS_URL).flushdb()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], action="append")
    args = parser.parse_args()
    for backend, url in databases(args.backend or ["postgresql", "sqlite"], "leaderboard"):
        asyncio.run(run(backend, url, args.quick))


if __name__ == "__main__":
    main()
