"""KPI dashboard and KPI API latency on SQLite and PostgreSQL (issue 18's targets); prints one figure per line.

    .venv/bin/python bench/reports.py [--leads N] [--transfers N] [--backend sqlite|postgresql] [--keep] [--reuse]

Book: one program, 2k resellers under 20 distributors, a user per reseller, 200k leads over two years (offered,
unclaimed, reserved with feedback, won, lost; some returned first), three offers per lead, their lead events,
three campaigns, and 1M ledger transfers: earns with their lots (24 months' expiry) and an expiry transfer for
every lot that has expired. Account counters equal the sums of the transfers. Rows go in with SQLAlchemy Core
executemany; lot uses are not written (nothing here reads them).
Issue 18 asks for 500k leads and 5M transfers; this machine builds about 2.3k leads (with their events and offers)
and 23k transfers (with lots) a second on SQLite, half that on PostgreSQL, so that size takes 7-11 minutes per
database: the defaults are scaled down to stay near 3, and `--leads 500000 --transfers 5000000` builds the full one.

Measures over loopback HTTP against `incentives serve --workers 1 --no-access-log`, as the program's admin, with
sequential requests (latency, not throughput): the /kpis frame (first paint), each fragment (HX-Request),
and GET /api/v1/kpis for the program, a tier, a distributor and a partner. The machine is shared: every
measurement runs twice and both rounds are printed.

`--keep` leaves the databases (PostgreSQL `incentives_bench_reports`, SQLite /tmp/incentives-bench-reports.db)
for EXPLAIN; `--reuse` measures them again after upgrading them to the newest migration, without a new build.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, insert, select, text, update

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _support import PG_ADMIN_URL, pg_admin  # type: ignore[import-not-found]

from incentives.accounts import services as accounts
from incentives.accounts.models import Membership, Org, Program, User
from incentives.accounts.passwords import hash_password
from incentives.accounts.scope import Principal
from incentives.db import Database
from incentives.leads.models import Lead, LeadEvent, LeadOffer
from incentives.ledger.accounts import open_accounts
from incentives.ledger.models import AccountKind
from incentives.ledger.tables import ACCOUNT, ACCOUNTS, LOTS, TRANSFER, TRANSFERS
from incentives.migrate import upgrade
from incentives.rules.models import Campaign

PASSWORD = "bench-password-1"
PORT = 8821
SQLITE_PATH = "/tmp/incentives-bench-reports.db"
PG_NAME = "incentives_bench_reports"
SECTIONS = ("tiles", "series", "funnel", "scorecards", "campaigns", "liability", "unclaimed")
TIERS = ("platinum", "gold", "silver", "registered")
BATCH = 20_000


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _insert(db: Database, table: Any, rows: Iterator[dict[str, Any]]) -> int:
    """Rows in batches, one transaction each, so memory stays flat however many there are."""
    count, batch = 0, []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            async with db.transaction() as session:
                await session.execute(insert(table), batch)
            count, batch = count + len(batch), []
    if batch:
        async with db.transaction() as session:
            await session.execute(insert(table), batch)
        count += len(batch)
    return count


async def _people(db: Database, program_id: int, now: dt.datetime, rng: random.Random) -> tuple[list[int], list[int]]:
    async with db.transaction() as session:
        org = {"country": "DE", "city": "München", "registered_by_program_id": program_id, "created_at": now}
        await session.execute(
            insert(Org), [{"name": f"Distributor {i}", "kind": "distributor", **org} for i in range(20)]
        )
        await session.execute(insert(Org), [{"name": f"Reseller {i}", "kind": "reseller", **org} for i in range(2000)])
        distributors = list(await session.scalars(select(Org.id).where(Org.kind == "distributor").order_by(Org.id)))
        resellers = list(await session.scalars(select(Org.id).where(Org.kind == "reseller").order_by(Org.id)))
        member = {"program_id": program_id, "competencies": ["heat_pumps"], "certifications": [], "created_at": now}
        await session.execute(
            insert(Membership),
            [{**member, "org_id": o, "tier": "registered", "regions": ["DE"]} for o in distributors]
            + [
                {
                    **member,
                    "org_id": o,
                    "tier": TIERS[i % 4],
                    "regions": ["DE", f"DE-{i % 10}"],
                    "distributor_id": distributors[i % 20],
                    "capacity": 20,
                }
                for i, o in enumerate(resellers)
            ],
        )
        password_hash = await hash_password(PASSWORD)
        await session.execute(
            insert(User),
            [
                {
                    "email": f"rep{o}@bench.example",
                    "name": f"Rep {o}",
                    "org_id": o,
                    "role": "reseller_manager",
                    "created_at": now,
                    "active": True,
                    "password_hash": password_hash,
                }
                for o in resellers
            ],
        )
        users = dict((await session.execute(select(User.org_id, User.id).where(User.org_id.in_(resellers)))).all())
        starts = [now - dt.timedelta(days=d) for d in (200, 60, 20)]
        await session.execute(
            insert(Campaign),
            [
                {
                    "program_id": program_id,
                    "name_de": f"Aktion {i}",
                    "name_en": f"Campaign {i}",
                    "starts_at": s,
                    "ends_at": s + dt.timedelta(days=30),
                    "tiers": ["gold"] if i == 1 else [],
                    "regions": [],
                    "product_lines": ["heat_pumps"] if i == 2 else [],
                    "created_at": now,
                }
                for i, s in enumerate(starts)
            ],
        )
    return resellers, [users[o] for o in resellers]


def _leads(
    program_id: int, n: int, orgs: list[int], users: list[int], now: dt.datetime, rng: random.Random
) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]], list[int]]]:
    """Each lead with its events (lead id filled in later) and the orgs it was offered to."""
    for i in range(n):
        offered_at = now - dt.timedelta(seconds=rng.randint(3600, 730 * 86400))
        pick = rng.random()
        offered_to = rng.sample(range(len(orgs)), 3)
        taker = min(int(rng.paretovariate(1.2)) - 1, len(orgs) - 1)  # a few partners take most leads
        lead: dict[str, Any] = {
            "program_id": program_id,
            "company": f"Kunde {i}",
            "contact_name": "X",
            "contact_email": "x@y.example",
            "country": "DE",
            "postal_code": f"{rng.randint(0, 99999):05d}",
            "product_line": rng.choice(("heat_pumps", "solar", "storage")),
            "temperature": rng.choice(("hot", "warm", "cold")),
            "estimated_value": rng.randint(1, 300) * 1000,
            "required_certifications": [],
            "wave": 1,
            "ranking": [],
            "offered_at": offered_at,
            "created_at": offered_at,
        }
        events: list[dict[str, Any]] = []
        if pick < 0.05:
            offered_at = now - dt.timedelta(hours=rng.randint(1, 11))
            lead.update(status="offered", offered_at=offered_at, expires_at=offered_at + dt.timedelta(hours=12))
            yield lead, events, [orgs[k] for k in offered_to]
            continue
        if pick < 0.09:
            lead["status"] = "unclaimed"
            events.append(
                {"kind": "unclaimed", "org_id": None, "actor_id": None, "at": offered_at + dt.timedelta(hours=36)}
            )
            yield lead, events, [orgs[k] for k in offered_to]
            continue
        reserved_at = offered_at + dt.timedelta(minutes=rng.randint(5, 48 * 60))
        if rng.random() < 0.05:  # returned by someone else first
            other = offered_to[0] if offered_to[0] != taker else offered_to[1]
            events.append({"kind": "reserved", "org_id": orgs[other], "actor_id": users[other], "at": reserved_at})
            reserved_at += dt.timedelta(hours=rng.randint(1, 24))
            events.append({"kind": "returned", "org_id": orgs[other], "actor_id": users[other], "at": reserved_at})
            reserved_at += dt.timedelta(hours=rng.randint(1, 24))
        org, user = orgs[taker], users[taker]
        events.append({"kind": "reserved", "org_id": org, "actor_id": user, "at": reserved_at})
        lead.update(reserved_by_org_id=org, reserved_by_user_id=user, reserved_at=reserved_at)
        first = reserved_at + dt.timedelta(hours=rng.randint(2, 200))
        on_time = first < reserved_at + dt.timedelta(hours=72)
        if pick < 0.19:  # still open
            lead["status"] = "reserved"
            if first < now and rng.random() < 0.7:
                stage = rng.choice(("contacted", "meeting", "proposal"))
                events.append(
                    {
                        "kind": "feedback",
                        "org_id": org,
                        "actor_id": user,
                        "at": first,
                        "data": {"status": stage, "on_time": on_time},
                    }
                )
                lead.update(last_feedback=stage, last_feedback_at=first, feedback_due_at=first + dt.timedelta(days=14))
            else:
                lead["feedback_due_at"] = reserved_at + dt.timedelta(hours=72)
        else:
            closed = first + dt.timedelta(days=rng.randint(1, 60))
            won = pick < 0.55
            events.append(
                {
                    "kind": "feedback",
                    "org_id": org,
                    "actor_id": user,
                    "at": first,
                    "data": {"status": "contacted", "on_time": on_time},
                }
            )
            status = "won" if won else "lost"
            events.append(
                {
                    "kind": "feedback",
                    "org_id": org,
                    "actor_id": user,
                    "at": closed,
                    "data": {"status": status, "on_time": True},
                }
            )
            lead.update(status=status, closed_at=closed, last_feedback=status, last_feedback_at=closed)
            if won:
                lead["deal_value"] = rng.randint(5, 500) * 1000
        yield lead, events, [orgs[k] for k in offered_to]


async def _lead_rows(
    db: Database, program_id: int, n: int, orgs: list[int], users: list[int], now: dt.datetime, rng: random.Random
) -> tuple[int, int, int]:
    counts = [0, 0, 0]
    generator = _leads(program_id, n, orgs, users, now, rng)
    while True:
        chunk = [item for _, item in zip(range(BATCH // 4), generator, strict=False)]
        if not chunk:
            return counts[0], counts[1], counts[2]
        async with db.transaction() as session:
            first = int(await session.scalar(select(func.coalesce(func.max(Lead.id), 0)))) + 1
            rows = [{**lead, "id": first + k} for k, (lead, _, _) in enumerate(chunk)]
            await session.execute(insert(Lead), rows)
            events = [
                {"data": {}, **event, "lead_id": first + k, "program_id": program_id}
                for k, (_, lead_events, _) in enumerate(chunk)
                for event in lead_events
            ]
            offers = [
                {
                    "lead_id": first + k,
                    "program_id": program_id,
                    "org_id": o,
                    "wave": 1,
                    "score": 0.5,
                    "breakdown": {},
                    "state": "open",
                    "offered_at": lead["offered_at"],
                }
                for k, (lead, _, offered) in enumerate(chunk)
                for o in offered
            ]
            if events:
                await session.execute(insert(LeadEvent), events)
            await session.execute(insert(LeadOffer), offers)
        counts[0] += len(rows)
        counts[1] += len(events)
        counts[2] += len(offers)


async def _ledger(db: Database, program_id: int, orgs: list[int], n: int, now: dt.datetime, rng: random.Random) -> int:
    """`n` transfers: earns over the last 30 months with their lots, and an expiry for each lot past 24 months."""
    async with db.transaction() as session:
        book = await open_accounts(session, program_id, orgs, [AccountKind.ISSUANCE, AccountKind.EXPIRED])
        first = int(await session.scalar(select(func.coalesce(func.max(TRANSFER.id), 0)))) + 1
    issuance, expired = book[AccountKind.ISSUANCE], book[AccountKind.EXPIRED]
    async with db.reader() as session:
        rows = (await session.execute(select(ACCOUNT.org_id, ACCOUNT.id).where(ACCOUNT.org_id.in_(orgs)))).all()
    partner = dict((org_id, account_id) for org_id, account_id in rows)
    span = 30 * 30 * 86400
    next_id = first
    written = 0
    while written < n:
        transfers: list[dict[str, Any]] = []
        lots: list[dict[str, Any]] = []
        while len(transfers) < BATCH and written + len(transfers) < n:
            org = orgs[min(int(rng.paretovariate(1.2)) - 1, len(orgs) - 1)]
            at = now - dt.timedelta(seconds=rng.randint(60, span))
            amount = rng.randint(5, 50)
            expires = at + dt.timedelta(days=730)
            earn = {
                "id": next_id,
                "program_id": program_id,
                "kind": "earn",
                "debit_account_id": issuance,
                "credit_account_id": partner[org],
                "amount": amount,
                "idempotency_key": f"bench-{next_id}",
                "at": at,
            }
            transfers.append(earn)
            lots.append(
                {
                    "id": next_id,
                    "account_id": partner[org],
                    "transfer_id": next_id,
                    "amount": amount,
                    "remaining": 0 if expires <= now else amount,
                    "held": 0,
                    "expires_at": expires,
                }
            )
            next_id += 1
            if expires <= now and written + len(transfers) < n:
                transfers.append(
                    {
                        "id": next_id,
                        "program_id": program_id,
                        "kind": "expire",
                        "debit_account_id": partner[org],
                        "credit_account_id": expired,
                        "amount": amount,
                        "idempotency_key": None,
                        "at": expires,
                    }
                )
                next_id += 1
        async with db.transaction() as session:
            await session.execute(insert(TRANSFERS), transfers)
            await session.execute(insert(LOTS), lots)
        written += len(transfers)
    async with db.transaction() as session:
        earned = select(func.coalesce(func.sum(TRANSFER.amount), 0)).where(TRANSFER.kind == "earn")
        expired_sum = select(func.coalesce(func.sum(TRANSFER.amount), 0)).where(TRANSFER.kind == "expire")
        credit = earned.where(TRANSFER.credit_account_id == ACCOUNT.id).scalar_subquery()
        debit = expired_sum.where(TRANSFER.debit_account_id == ACCOUNT.id).scalar_subquery()
        await session.execute(
            update(ACCOUNTS)
            .where(ACCOUNT.kind == "partner")
            .values(credits_posted=credit, debits_posted=debit, earned=credit)
        )
        await session.execute(
            update(ACCOUNTS).where(ACCOUNT.id == issuance).values(debits_posted=earned.scalar_subquery())
        )
        await session.execute(
            update(ACCOUNTS).where(ACCOUNT.id == expired).values(credits_posted=expired_sum.scalar_subquery())
        )
        if not db.is_sqlite:
            for table in ("ledger_transfers", "ledger_lots", "leads"):
                await session.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
                )
    return written


async def build(db: Database, n_leads: int, n_transfers: int) -> None:
    rng = random.Random(18)
    now = dt.datetime.now(dt.UTC)
    began = time.perf_counter()
    async with db.transaction() as session:
        boot = await accounts.bootstrap_program(
            session, program="Bench", email="admin@bench.example", password=PASSWORD
        )
        await session.execute(update(Program).values(points_expiry_months=24))
    orgs, users = await _people(db, boot.program_id, now, rng)
    leads, events, offers = await _lead_rows(db, boot.program_id, n_leads, orgs, users, now, rng)
    at_leads = time.perf_counter()
    transfers = await _ledger(db, boot.program_id, orgs, n_transfers, now, rng)
    at_ledger = time.perf_counter()
    await settle(db)
    print(
        f"  built {leads:,} leads, {events:,} lead events, {offers:,} offers ({at_leads - began:.0f} s), "
        f"{transfers:,} transfers and their lots ({at_ledger - at_leads:.0f} s), settled "
        f"({time.perf_counter() - at_ledger:.0f} s)"
    )


async def settle(db: Database) -> None:
    """Statistics fresh and the build's writes on disk, as in a database that has been running a while."""
    async with db.engine.connect() as conn:
        if db.is_sqlite:
            await conn.exec_driver_sql("ANALYZE")
        else:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql("VACUUM ANALYZE")
            await conn.exec_driver_sql("CHECKPOINT")


async def book_of(db: Database) -> dict[str, Any]:
    async with db.reader() as session:
        program_id = await session.scalar(select(Program.id).where(Program.name == "Bench"))
        admin = await session.scalar(select(User).where(User.email == "admin@bench.example"))
        assert program_id is not None and admin is not None
        distributor = await session.scalar(select(Org.id).where(Org.kind == "distributor").order_by(Org.id))
        busiest = await session.scalar(
            select(Lead.reserved_by_org_id)
            .where(Lead.reserved_by_org_id.is_not(None))
            .group_by(Lead.reserved_by_org_id)
            .order_by(func.count().desc())
            .limit(1)
        )
    async with db.transaction() as session:
        token = await accounts.create_token(session, Principal.of(admin), user_id=admin.id)
    return {"program_id": program_id, "distributor": distributor, "partner": busiest, "token": token}


def serve(url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": url, "SWEEP_INTERVAL_SECONDS": "0", "SECRET_KEY": "b" * 40}
    env.pop("REDIS_URL", None)
    command = [
        sys.executable,
        "-m",
        "incentives.cli",
        "serve",
        "--port",
        str(PORT),
        "--workers",
        "1",
        "--no-access-log",
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(400):
        try:
            httpx.get(f"http://127.0.0.1:{PORT}/login", timeout=1)
            return process
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("the server did not start")


def timed(client: httpx.Client, url: str, headers: dict[str, str], requests: int) -> list[float]:
    timings = []
    for i in range(requests + 3):  # three warm-ups: prepared statements, template caches
        begin = time.perf_counter()
        response = client.get(url, headers=headers)
        elapsed = (time.perf_counter() - begin) * 1000
        assert response.status_code == 200, (url, response.status_code, response.text[:300])
        if i >= 3:
            timings.append(elapsed)
    return timings


def measure(book: dict[str, Any], requests: int) -> None:
    base = f"http://127.0.0.1:{PORT}"
    with httpx.Client(base_url=base, headers={"Origin": base}, timeout=60) as client:
        page = client.get("/login")
        csrf = page.text.split('name="csrftoken" value="')[1].split('"')[0]
        client.post("/login", data={"email": "admin@bench.example", "password": PASSWORD, "csrftoken": csrf})
        program = book["program_id"]
        frame = timed(client, f"/kpis?program_id={program}", {}, requests)
        print(f"    /kpis frame (first paint): p50 {pct(frame, 0.5):.0f} ms, p95 {pct(frame, 0.95):.0f} ms")
        for section in SECTIONS:
            found = timed(
                client, f"/kpis/{section}?program_id={program}&scope=program", {"HX-Request": "true"}, requests
            )
            print(f"    fragment {section}: p50 {pct(found, 0.5):.0f} ms, p95 {pct(found, 0.95):.0f} ms")
        bearer = {"Authorization": f"Bearer {book['token']}"}
        today = dt.date.today()
        period = f"from={(today - dt.timedelta(days=27)).isoformat()}&to={today.isoformat()}"
        scopes = ("program", "tier:gold", f"distributor:{book['distributor']}", f"partner:{book['partner']}")
        for scope in scopes:
            found = timed(client, f"/api/v1/kpis?program_id={program}&scope={scope}&{period}", bearer, requests * 2)
            print(f"    API {scope}: p50 {pct(found, 0.5):.0f} ms, p99 {pct(found, 0.99):.0f} ms")


async def prepare(url: str, args: argparse.Namespace) -> dict[str, Any]:
    db = Database(url)
    try:
        if args.reuse:
            await settle(db)
        else:
            await build(db, args.leads, args.transfers)
        return await book_of(db)
    finally:
        await db.dispose()


def run(backend: str, url: str, args: argparse.Namespace) -> None:
    if args.reuse:
        upgrade(url)
    book = asyncio.run(prepare(url, args))
    server = serve(url)
    try:
        for round_ in (1, 2):
            print(f"  {backend}, round {round_} ({args.requests} requests per figure, API twice as many):")
            measure(book, args.requests)
    finally:
        server.terminate()
        server.wait()


def databases(backends: list[str], keep: bool, reuse: bool) -> Iterator[tuple[str, str]]:
    if "sqlite" in backends:
        url = f"sqlite+aiosqlite:///{SQLITE_PATH}"
        if not reuse:
            for suffix in ("", "-wal", "-shm"):
                Path(SQLITE_PATH + suffix).unlink(missing_ok=True)
            upgrade(url, os.environ.get("BENCH_REVISION", "head"))
        try:
            yield "sqlite", url
        finally:
            if not keep:
                for suffix in ("", "-wal", "-shm"):
                    Path(SQLITE_PATH + suffix).unlink(missing_ok=True)
    if "postgresql" in backends:
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{PG_NAME}"
        if not reuse:
            asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{PG_NAME}" WITH (FORCE)'))
            asyncio.run(pg_admin(f'CREATE DATABASE "{PG_NAME}"'))
            upgrade(url, os.environ.get("BENCH_REVISION", "head"))
        try:
            yield "postgresql", url
        finally:
            if not keep:
                asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{PG_NAME}" WITH (FORCE)'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=200_000)
    parser.add_argument("--transfers", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=30, help="requests per figure and round")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], action="append")
    parser.add_argument("--keep", action="store_true", help="leave the databases for EXPLAIN")
    parser.add_argument("--reuse", action="store_true", help="measure the kept databases again, no build")
    args = parser.parse_args()
    for backend, url in databases(args.backend or ["sqlite", "postgresql"], args.keep, args.reuse):
        run(backend, url, args)


if __name__ == "__main__":
    main()
