"""Lead benchmarks on SQLite and PostgreSQL (issue 4's targets); prints one figure per line.

    .venv/bin/python bench/leads.py [--quick] [--backend sqlite|postgresql]

Book: 50k leads, 2k reseller orgs with memberships, 10k open offers (2k offered leads × 5 orgs).
Measures: pick-list fragment latency (GET /picklist with HX-Request, over loopback HTTP to a real
uvicorn: `incentives serve --workers 2 --no-access-log`, as behind a proxy that logs), matching one lead
over all memberships, the escalation sweep over 10k due leads, and a race of
200 concurrent reserve requests on one lead. Creates and drops its own databases.

The race's client is a few lines of raw asyncio HTTP/1.1, not httpx: 200 concurrent httpx requests in this
one process took longer than the server's whole work (1.6-1.8 s against 0.4 s for the same race on the same
server), so the figure measured the client. A race opens 200 TCP connections first, then writes the 200
requests (20 orgs' tokens, one lead) in one go; each latency runs from writing its request to having read
the whole response (head and body), and the run fails unless exactly one request got 200 and the other 199
got 409. Six races run on six leads: the first against a server whose connection pools are cold, the
others warm; both are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import func, insert, select, update

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _support import databases  # type: ignore[import-not-found]

from incentives.accounts import services as accounts
from incentives.accounts.models import Membership, Org, Program, User
from incentives.accounts.passwords import hash_password
from incentives.accounts.scope import Principal
from incentives.db import Database
from incentives.leads import matching
from incentives.leads.jobs import escalate_offers
from incentives.leads.models import Lead, LeadOffer

PASSWORD = "bench-password-1"
WORKERS = 2  # one web process per core, as in production on this 2-core machine
SERVE_FLAGS = ["--no-access-log"]  # as behind a proxy that logs the requests
RACERS = 200
RACES = 6


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def build(db: Database, n_leads: int, n_orgs: int, n_offered: int, focus_offers: int = 50) -> dict[str, object]:
    rng = random.Random(7)
    async with db.transaction() as session:
        boot = await accounts.bootstrap_program(
            session, program="Bench", email="admin@bench.example", password=PASSWORD
        )
    async with db.transaction() as session:
        await session.execute(update(Program).values(offer_wave_size=5, max_waves=3))
        now = dt.datetime.now(dt.UTC)
        orgs = [
            {
                "name": f"Reseller {i}",
                "kind": "reseller",
                "country": "DE",
                "city": "München",
                "lat": 48.1 + rng.random(),
                "lon": 11.5 + rng.random(),
                "registered_by_program_id": boot.program_id,
                "created_at": now,
            }
            for i in range(n_orgs)
        ]
        await session.execute(insert(Org), orgs)
        org_ids = list((await session.scalars(select(Org.id).where(Org.kind == "reseller").order_by(Org.id))).all())
        await session.execute(
            insert(Membership),
            [
                {
                    "program_id": boot.program_id,
                    "org_id": o,
                    "tier": rng.choice(["platinum", "gold", "silver", "registered"]),
                    "competencies": ["heat_pumps"],
                    "certifications": [],
                    "regions": ["DE-8"],
                    "capacity": 20,
                    "created_at": now,
                }
                for o in org_ids
            ],
        )
        password_hash = await hash_password(PASSWORD)
        users = [
            {
                "email": f"rep{o}@bench.example",
                "name": f"Rep {o}",
                "org_id": o,
                "role": "reseller_rep",
                "created_at": now,
                "active": True,
                "password_hash": password_hash,
            }
            for o in org_ids[:300]
        ]
        await session.execute(insert(User), users)
        focus = org_ids[0]  # the org whose pick list is measured: `focus_offers` open offers
        rankings = []  # as the first matching would have stored them: three waves of five
        for i in range(n_offered):
            ranked = rng.sample(org_ids[1:], 15)
            if i < focus_offers:
                ranked[0] = focus
            rankings.append(ranked)
        leads = []
        for i in range(n_leads):
            offered = i < n_offered
            leads.append(
                {
                    "program_id": boot.program_id,
                    "company": f"Kunde {i}",
                    "contact_name": "X",
                    "contact_email": "x@y.de",
                    "country": "DE",
                    "postal_code": f"8{rng.randint(0, 9999):04d}",
                    "city": "München",
                    "lat": 48.1 + rng.random(),
                    "lon": 11.5 + rng.random(),
                    "product_line": "heat_pumps",
                    "temperature": rng.choice(["hot", "warm", "cold"]),
                    "estimated_value": rng.randint(1, 300) * 1000,
                    "required_certifications": [],
                    "status": "offered" if offered else rng.choice(["won", "lost", "new"]),
                    "wave": 1 if offered else 0,
                    "ranking": rankings[i] if offered else [],
                    "offered_at": now,
                    "created_at": now,
                    "expires_at": now + dt.timedelta(hours=12) if offered else None,
                }
            )
        for start in range(0, len(leads), 5000):
            await session.execute(insert(Lead), leads[start : start + 5000])
        offered_ids = list(
            (await session.scalars(select(Lead.id).where(Lead.status == "offered").order_by(Lead.id))).all()
        )
        offers = []
        for index, lead_id in enumerate(offered_ids):
            chosen = rankings[index][:5]
            offers += [
                {
                    "lead_id": lead_id,
                    "program_id": boot.program_id,
                    "org_id": o,
                    "wave": 1,
                    "score": 0.5,
                    "breakdown": {},
                    "state": "open",
                    "offered_at": now,
                }
                for o in chosen
            ]
        for start in range(0, len(offers), 5000):
            await session.execute(insert(LeadOffer), offers[start : start + 5000])
    if db.is_sqlite:
        async with db.engine.connect() as conn:
            await conn.exec_driver_sql("ANALYZE")
    else:
        # A settled database, as a running one is: statistics and hint bits set (VACUUM ANALYZE), and the build's
        # writes on disk (CHECKPOINT) instead of being written out by the checkpointer during the timings.
        async with db.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql("VACUUM ANALYZE")
            await conn.exec_driver_sql("CHECKPOINT")
    async with db.reader() as session:
        admin = Principal.of(await session.get_one(User, boot.user_id))
        focus_user = (await session.scalars(select(User).where(User.org_id == focus))).one()
    return {
        "program_id": boot.program_id,
        "admin": admin,
        "focus_email": focus_user.email,
        "focus_user": focus_user.id,
        "org_ids": org_ids,
        "offered_ids": offered_ids,
    }


def serve(url: str) -> subprocess.Popen[bytes]:
    """The app in its own process, as in production: the client's work does not slow the server down."""
    env = {**os.environ, "DATABASE_URL": url, "SWEEP_INTERVAL_SECONDS": "0", "SECRET_KEY": "b" * 40}
    process = subprocess.Popen(
        [sys.executable, "-m", "incentives.cli", "serve", "--port", "8799", "--workers", str(WORKERS), *SERVE_FLAGS],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            httpx.get("http://127.0.0.1:8799/login", timeout=1)
            return process
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("the server did not start")


async def bench_picklist(base: str, email: str, requests: int) -> None:
    async with httpx.AsyncClient(base_url=base, headers={"Origin": base}) as client:
        page = await client.get("/login")
        token = page.text.split('name="csrftoken" value="')[1].split('"')[0]
        await client.post("/login", data={"email": email, "password": PASSWORD, "csrftoken": token})
        timings = []
        for i in range(requests):
            sort = ("time_left", "temperature", "value")[i % 3]
            start = time.perf_counter()
            response = await client.get(f"/picklist?sort={sort}", headers={"HX-Request": "true"})
            timings.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200 and "lead-" in response.text
    print(
        f"  pick-list fragment (50 offers, HTTP): p50 {pct(timings, 0.5):.1f} ms, p99 {pct(timings, 0.99):.1f} ms "
        f"over {requests} requests"
    )


async def bench_matching(db: Database, program_id: int, rounds: int) -> None:
    """Wave 1's matching as `offer_lead` does it: load the partners, rank them, keep three waves' worth."""
    async with db.reader() as session:
        lead = (await session.scalars(select(Lead).where(Lead.status == "new").limit(1))).one()
        program = await session.get_one(Program, program_id)
    keep = program.offer_wave_size * program.max_waves
    timings = []
    # As in the web process, which freezes what start-up made (incentives/web/app.py), and the sweeps, which
    # freeze what was there before each batch: the collector's full collections skip the long-lived objects (here
    # the book built above), instead of traversing all of them in the middle of a matching.
    gc.freeze()
    for _ in range(rounds):
        start = time.perf_counter()
        async with db.reader() as session:
            partners = await matching.load_partners(session, program_id)
            matching.rank(lead, partners, matching.weights_of(program), set(), dt.datetime.now(dt.UTC), limit=keep)
        timings.append((time.perf_counter() - start) * 1000)
    gc.unfreeze()
    eligible = len(matching.rank(lead, partners, matching.weights_of(program), set(), dt.datetime.now(dt.UTC)))
    print(
        f"  matching one lead over {len(partners)} memberships ({eligible} eligible, best {keep} kept): "
        f"first {timings[0]:.1f} ms, then p50 {pct(timings[1:], 0.5):.1f} ms, max {max(timings[1:]):.1f} ms"
    )


async def bench_sweep(db: Database, due: int, org_ids: list[int]) -> None:
    """Make `due` offered leads (the open offers plus as many more) whose wave deadline has passed, then sweep."""
    rng = random.Random(11)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    async with db.transaction() as session:
        offered = (await session.scalar(select(func.count()).where(Lead.status == "offered"))) or 0
        more = list(
            (await session.scalars(select(Lead.id).where(Lead.status == "new").limit(max(0, due - offered)))).all()
        )
        for lead_id in more:  # wave 1 went to five partners, like the open offers above
            ranking = rng.sample(org_ids, 15)
            await session.execute(
                update(Lead).where(Lead.id == lead_id).values(status="offered", wave=1, ranking=ranking)
            )
            await session.execute(
                insert(LeadOffer),
                [
                    {
                        "lead_id": lead_id,
                        "program_id": 1,
                        "org_id": o,
                        "wave": 1,
                        "score": 0.5,
                        "breakdown": {},
                        "state": "open",
                        "offered_at": past,
                    }
                    for o in ranking[:5]
                ],
            )
        await session.execute(update(Lead).where(Lead.status == "offered").values(expires_at=past))
    start = time.perf_counter()
    moved = await escalate_offers(db, dt.datetime.now(dt.UTC))
    seconds = time.perf_counter() - start
    print(f"  escalation sweep: {moved:,} due leads in {seconds:.2f} s ({moved / seconds:,.0f}/s)")


async def bench_race(db: Database, base: str, context: dict[str, object]) -> None:
    """RACES races, each on a lead freshly offered to 20 orgs; the first one meets a server whose connection
    pools and caches are still cold, the later ones a warm server, as in production. Prints both."""
    async with db.reader() as session:
        users = (await session.scalars(select(User).where(User.role == "reseller_rep").limit(20))).all()
    tokens = []
    for user in users:
        async with db.transaction() as session:
            tokens.append(await accounts.create_token(session, context["admin"], user_id=user.id))  # type: ignore[arg-type]
    results = []
    for _ in range(RACES):
        lead_id = await offered_lead(db, int(context["program_id"]), [u.org_id for u in users])  # type: ignore[call-overload]
        results.append(await race(base, lead_id, tokens))
    timings, wall = results[0]
    print(
        f"  reservation race, {RACERS} concurrent requests from {len(tokens)} orgs, 1 won and "
        f"{RACERS - 1} already reserved each time; first race: p50 {pct(timings, 0.5):.0f} ms, "
        f"p99 {pct(timings, 0.99):.0f} ms, all done in {wall * 1000:.0f} ms"
    )
    p99s = sorted(pct(t, 0.99) for t, _ in results[1:])
    print(
        f"    {RACES - 1} more races: p50 {pct([x for t, _ in results[1:] for x in t], 0.5):.0f} ms, "
        f"p99 median {pct(p99s, 0.5):.0f} ms (best {p99s[0]:.0f}, worst {p99s[-1]:.0f} ms)"
    )


async def offered_lead(db: Database, program_id: int, org_ids: list[int]) -> int:
    """A new lead, offered (wave 1) to each of `org_ids`."""
    async with db.transaction() as session:
        lead_id = (await session.scalars(select(Lead.id).where(Lead.status == "new").limit(1))).one()
        now = dt.datetime.now(dt.UTC)
        await session.execute(
            update(Lead)
            .where(Lead.id == lead_id)
            .values(status="offered", wave=1, offered_at=now, expires_at=now + dt.timedelta(hours=12))
        )
        await session.execute(
            insert(LeadOffer),
            [
                {
                    "lead_id": lead_id,
                    "program_id": program_id,
                    "org_id": org_id,
                    "wave": 1,
                    "score": 0.5,
                    "breakdown": {},
                    "state": "open",
                    "offered_at": now,
                }
                for org_id in org_ids
            ],
        )
    return int(lead_id)


async def race(base: str, lead_id: int, tokens: list[str]) -> tuple[list[float], float]:
    """RACERS reserve requests on one lead at once: their latencies (ms) and the whole race's wall time (s).

    Fails unless exactly one request won (200) and every other one got 409.
    """
    host, port = base.removeprefix("http://").split(":")
    requests = [
        f"POST /api/v1/leads/{lead_id}/reserve HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: Bearer {tokens[i % len(tokens)]}\r\nContent-Length: 0\r\n\r\n".encode()
        for i in range(RACERS)
    ]
    # One connection per request, all open before the start (as a partner's client keeps its connection).
    connections = await asyncio.gather(*[asyncio.open_connection(host, int(port)) for _ in requests])
    timings: list[float] = []

    async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
        start = time.perf_counter()
        writer.write(request)
        status = await read_response(reader)
        timings.append((time.perf_counter() - start) * 1000)
        writer.close()
        return status

    start = time.perf_counter()
    statuses = await asyncio.gather(*[one(*c, request) for c, request in zip(connections, requests, strict=True)])
    wall = time.perf_counter() - start
    won, lost = statuses.count(200), statuses.count(409)
    assert (won, lost) == (1, RACERS - 1), f"exactly one winner expected, got statuses {sorted(set(statuses))}"
    return timings, wall


async def read_response(reader: asyncio.StreamReader) -> int:
    """Read one whole HTTP/1.1 response (head and Content-Length body); its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    if length is None:
        raise RuntimeError(f"a response without Content-Length: {lines[0]}")
    await reader.readexactly(length)
    return int(lines[0].split(" ", 2)[1])


async def run(backend: str, url: str, quick: bool) -> None:
    n_leads, n_orgs, n_offered, due = (5_000, 500, 400, 1_000) if quick else (50_000, 2_000, 2_000, 10_000)
    db = Database(url)
    print(f"{backend}: {n_leads:,} leads, {n_orgs:,} reseller orgs, {n_offered * 5:,} open offers")
    start = time.perf_counter()
    context = await build(db, n_leads, n_orgs, n_offered)
    print(f"  (book built in {time.perf_counter() - start:.1f} s)")
    server = serve(url)
    base = "http://127.0.0.1:8799"
    try:
        await bench_picklist(base, str(context["focus_email"]), 300)
        await bench_matching(db, int(context["program_id"]), 20)  # type: ignore[call-overload]
        await bench_race(db, base, context)
        await bench_sweep(db, due, context["org_ids"])  # type: ignore[arg-type]
    finally:
        server.terminate()
        server.wait(timeout=10)
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a tenth of the data, to try the script")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], action="append")
    args = parser.parse_args()
    print(f"load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for backend, url in databases(args.backend or ["sqlite", "postgresql"], "leads"):
        asyncio.run(run(backend, url, args.quick))


if __name__ == "__main__":
    main()
