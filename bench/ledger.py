"""Ledger benchmark on SQLite and PostgreSQL: award throughput, balance-read latency, verify time.

Run: `.venv/bin/python bench/ledger.py [--quick] [--backend sqlite|postgresql]`. Creates its own
temporary databases (a temp SQLite file, a fresh PostgreSQL database) and removes them afterwards.
History for the read and verify figures is bulk-loaded with INSERT ... SELECT (the append-only
triggers only refuse UPDATE and DELETE, so they do not get in the way).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _support import databases, program_with_partners  # type: ignore[import-not-found]

from incentives.db import Database
from incentives.ledger import queries, services
from incentives.ledger.verify import verify

PARTNERS = 100
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


async def _setup(db: Database) -> tuple[int, list[int]]:
    """A program with PARTNERS partners, each with its ledger account opened by a first award (an account is
    opened once, by a partner's first points, as in a running program; the figures are for the awards after)."""
    program_id, _, orgs = await program_with_partners(db, PARTNERS)
    for org in orgs:
        async with db.transaction() as session:
            await services.award_points(
                session, program_id=program_id, org_id=org, points=1, key=f"open-{org}", now=NOW
            )
    return program_id, orgs


async def _single(db: Database, program: int, orgs: list[int], count: int) -> float:
    start = time.perf_counter()
    for i in range(count):
        async with db.transaction() as session:
            await services.award_points(
                session, program_id=program, org_id=orgs[i % len(orgs)], points=10, key=f"single-{i}", now=NOW
            )
    return count / (time.perf_counter() - start)


async def _concurrent(db: Database, program: int, orgs: list[int], count: int, tasks: int = 8) -> float:
    """Single awards (one transaction each) from `tasks` concurrent tasks, as events really arrive: on
    PostgreSQL their commits share fsyncs (group commit); SQLite serializes writers anyway."""
    queue = list(range(count))

    async def worker() -> None:
        while queue:
            i = queue.pop()
            async with db.transaction() as session:
                await services.award_points(
                    session, program_id=program, org_id=orgs[i % len(orgs)], points=10, key=f"concurrent-{i}", now=NOW
                )

    start = time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(tasks)])
    return count / (time.perf_counter() - start)


async def _batched(db: Database, program: int, orgs: list[int], batches: int) -> float:
    start = time.perf_counter()
    for b in range(batches):
        awards = [services.Award(orgs[i % len(orgs)], 5, f"batch-{b}-{i}") for i in range(1000)]
        async with db.transaction() as session:
            await services.award_batch(session, program_id=program, awards=awards, now=NOW)
    return batches * 1000 / (time.perf_counter() - start)


def _percentiles(timings: list[float]) -> tuple[float, float]:
    timings.sort()
    return statistics.median(timings) * 1000, timings[int(len(timings) * 0.99)] * 1000


async def _reads(db: Database, program: int, orgs: list[int], count: int) -> tuple[float, float, float, float]:
    """p50/p99 of the balance query in an open read session, and of a whole read session around it."""
    query, whole = [], []
    async with db.reader() as session:
        for i in range(count):
            start = time.perf_counter()
            await queries.balance(session, program, orgs[i % len(orgs)])
            query.append(time.perf_counter() - start)
    for i in range(count):
        start = time.perf_counter()
        async with db.reader() as session:
            await queries.balance(session, program, orgs[i % len(orgs)])
        whole.append(time.perf_counter() - start)
    return (*_percentiles(query), *_percentiles(whole))


async def _transfer_count(db: Database) -> int:
    async with db.reader() as session:
        return int(await session.scalar(text("SELECT count(*) FROM ledger_transfers")) or 0)


async def _bulk_load(db: Database, program: int, target: int) -> None:
    """Grow the book to `target` transfers: earns with their lots, counters updated to match."""
    async with db.reader() as session:
        have = await _transfer_count(db)
        last = int(await session.scalar(text("SELECT COALESCE(max(id), 0) FROM ledger_transfers")) or 0)
        issuance = await session.scalar(
            text("SELECT id FROM ledger_accounts WHERE program_id = :p AND kind = 'issuance'"), {"p": program}
        )
    count = target - have
    if count <= 0:
        return
    series = (
        "SELECT generate_series(1, :n) AS i"
        if not db.is_sqlite
        else "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n) SELECT i FROM s"
    )
    params = {"n": count, "p": program, "iss": issuance, "k": PARTNERS, "last": last}
    at = "'2025-01-01 00:00:00'" if db.is_sqlite else "TIMESTAMPTZ '2025-01-01 00:00:00+00'"
    expires = "'2027-01-01 00:00:00'" if db.is_sqlite else "TIMESTAMPTZ '2027-01-01 00:00:00+00'"
    async with db.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO ledger_transfers (program_id, kind, debit_account_id, credit_account_id, amount, at,"
                " idempotency_key)"
                f" SELECT :p, 'earn', :iss, a.id, 1 + n.i % 50, {at}, 'bulk-' || (n.i + :last)"
                f" FROM ({series}) n"
                " JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS rn FROM ledger_accounts"
                "       WHERE program_id = :p AND kind = 'partner') a ON a.rn = n.i % :k"
            ),
            params,
        )
        await session.execute(
            text(
                "INSERT INTO ledger_lots (account_id, transfer_id, amount, remaining, held, expires_at)"
                f" SELECT credit_account_id, id, amount, amount, 0, {expires} FROM ledger_transfers WHERE id > :last"
            ),
            {"last": last},
        )
        await session.execute(
            text(
                "UPDATE ledger_accounts SET credits_posted = credits_posted + s.total, earned = earned + s.total"
                " FROM (SELECT credit_account_id AS account_id, sum(amount) AS total FROM ledger_transfers"
                "       WHERE id > :last GROUP BY credit_account_id) s WHERE ledger_accounts.id = s.account_id"
            ),
            {"last": last},
        )
    if not db.is_sqlite:
        async with db.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE"))


async def _run(name: str, url: str, quick: bool) -> None:
    db = Database(url)
    try:
        program, orgs = await _setup(db)
        # Full run: 100 + 2,000 + 8 x 1,000 awards make the (10,100-transfer) book of the first read figure.
        single = await _single(db, program, orgs, 500 if quick else 2000)
        batched = await _batched(db, program, orgs, 3 if quick else 8)
        print(f"{name:<10} single awards (1 transaction each): {single:8.0f}/s")
        print(f"{name:<10} batched awards (1,000 per batch):   {batched:8.0f}/s")
        reads = 1000 if quick else 5000
        for target in (10_000, 100_000 if quick else 1_000_000):
            start = time.perf_counter()
            await _bulk_load(db, program, target)
            load = time.perf_counter() - start
            p50, p99, s50, s99 = await _reads(db, program, orgs, reads)
            total = await _transfer_count(db)
            print(
                f"{name:<10} balance read at {total:>9,} transfers: query p50 {p50:.3f} ms, p99 {p99:.3f} ms;"
                f" with its own read session p50 {s50:.3f} ms, p99 {s99:.3f} ms  (bulk load {load:.1f} s)"
            )
        start = time.perf_counter()
        async with db.reader() as session:
            differences = await verify(session)
        print(
            f"{name:<10} ledger verify at {total:>9,} transfers: {time.perf_counter() - start:.2f} s,"
            f" {len(differences)} difference(s)"
        )
        for difference in differences[:5]:
            print(f"{name:<10}   {difference}")
        # An extra line, after the figures above so that it does not change their books.
        concurrent = await _concurrent(db, program, orgs, 500 if quick else 2000)
        print(
            f"{name:<10} extra: single awards from 8 concurrent tasks, {total:,} transfers in the book:"
            f" {concurrent:8.0f}/s"
        )
    finally:
        await db.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer awards and 100k instead of 1M transfers")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], action="append")
    args = parser.parse_args()
    print(f"load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for backend, url in databases(args.backend or ["sqlite", "postgresql"], "ledger"):
        asyncio.run(_run(backend, url, args.quick))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
