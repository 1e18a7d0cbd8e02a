"""Rewards benchmark on SQLite and PostgreSQL: redemption requests (hold) and approvals per second,
and the wallet page's latency for a partner with 100k transfers.

Run: `.venv/bin/python bench/rewards.py [--quick] [--backend sqlite|postgresql]`. Creates its own
temporary databases (a temp SQLite file, a fresh PostgreSQL database) and removes them afterwards.
Redemptions and approvals run through the domain services (each a real unit of work: hold, post and
fulfilment, with their commits) from several concurrent tasks; the wallet page is fetched over real
HTTP from the real app on uvicorn, logged in as the partner's manager.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from sqlalchemy import event, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _support import databases, program_with_partners  # type: ignore[import-not-found]

from incentives.accounts import services as accounts
from incentives.accounts.roles import Role
from incentives.accounts.scope import Principal
from incentives.config import Settings
from incentives.db import Database
from incentives.ledger import services as ledger
from incentives.rewards import services
from incentives.rewards.models import Redemption
from incentives.web.app import create_app

PARTNERS = 20
WORKERS = 8
PASSWORD = "bench-password-123"


async def _setup(db: Database) -> tuple[int, Principal, list[Principal], int]:
    program_id, admin, orgs = await program_with_partners(db, PARTNERS)
    async with db.transaction() as session:
        pam_user = await accounts.create_user(
            session, admin, email="pam@example.com", name="PAM", org_id=admin.org_id, role=Role.PARTNER_MANAGER
        )
    pam = Principal(pam_user.id, admin.org_id, Role.PARTNER_MANAGER, program_id)
    managers = []
    for i, org_id in enumerate(orgs):
        async with db.transaction() as session:
            user = await accounts.create_user(
                session,
                admin,
                email=f"m{i}@example.com",
                name=f"M{i}",
                org_id=org_id,
                role=Role.RESELLER_MANAGER,
                password=PASSWORD,
            )
        managers.append(Principal(user.id, org_id, Role.RESELLER_MANAGER, None))
        async with db.transaction() as session:
            await ledger.award_points(
                session, program_id=program_id, org_id=org_id, points=10_000_000, key=f"seed-{org_id}"
            )
    async with db.transaction() as session:
        reward = await services.create_reward(
            session, admin, program_id=program_id, kind="bonus", name_de="Bonus", name_en="Bonus", points=10
        )
    return program_id, pam, managers, reward.id


async def _pool(count: int, work: object, workers: int = WORKERS, offset: int = 0) -> float:
    """Run `work(i)` for i in range(offset, offset + count) on `workers` concurrent tasks; returns operations/s."""
    queue = list(range(offset, offset + count))

    async def worker() -> None:
        while queue:
            await work(queue.pop())  # type: ignore[operator]

    start = time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(workers)])
    return count / (time.perf_counter() - start)


async def _redemptions(db: Database, managers: list[Principal], reward: int, count: int) -> tuple[float, float]:
    async def one(i: int) -> None:
        async with db.transaction() as session:
            await services.redeem(session, managers[i % len(managers)], reward_id=reward, request_key=f"r-{i}")

    return await _pool(count, one, workers=1), await _pool(count, one, offset=count)


async def _approvals(db: Database, pam: Principal) -> tuple[float, float, int]:
    async with db.reader() as session:
        ids = list(await session.scalars(select(Redemption.id).where(Redemption.status == "pending")))

    async def one(i: int) -> None:
        async with db.transaction() as session:
            await services.approve_redemption(session, pam, ids[i])

    half = len(ids) // 2
    return await _pool(half, one, workers=1), await _pool(len(ids) - half, one, offset=half), len(ids)


async def _statements(db: Database, pam: Principal, manager: Principal, reward: int) -> tuple[int, int]:
    """What one redemption request and one approval cost in statements sent to the database (BEGIN and COMMIT
    not counted: one round trip each on top)."""
    sent: list[str] = []

    def count(*_args: object) -> None:
        sent.append("")

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        async with db.transaction() as session:
            redemption = await services.redeem(session, manager, reward_id=reward, request_key="counted")
        requested = len(sent)
        async with db.transaction() as session:
            await services.approve_redemption(session, pam, redemption.id)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    return requested, len(sent) - requested


async def _bulk_history(db: Database, program: int, org_id: int, count: int) -> None:
    """Give one partner `count` more earn transfers (with lots and counters), in bulk."""
    async with db.reader() as session:
        last = int(await session.scalar(text("SELECT COALESCE(max(id), 0) FROM ledger_transfers")) or 0)
        issuance = await session.scalar(
            text("SELECT id FROM ledger_accounts WHERE program_id = :p AND kind = 'issuance'"), {"p": program}
        )
        account = await session.scalar(
            text("SELECT id FROM ledger_accounts WHERE program_id = :p AND org_id = :o"), {"p": program, "o": org_id}
        )
    series = (
        "SELECT generate_series(1, :n) AS i"
        if not db.is_sqlite
        else "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n) SELECT i FROM s"
    )
    # Earned evenly over the last 700 days, each lot expiring 730 days after its earn (the default 24 months):
    # about one lot in eight falls into the wallet's "expiring soon" window, as in a real long history.
    if db.is_sqlite:
        at = "datetime('now', '-' || (n.i % 700) || ' days')"
        expires = "datetime(at, '+730 days')"
    else:
        at = "now() - (n.i % 700) * interval '1 day'"
        expires = "at + interval '730 days'"
    async with db.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO ledger_transfers (program_id, kind, debit_account_id, credit_account_id, amount, at,"
                " idempotency_key, rule_id, rule_version, lead_id)"
                f" SELECT :p, 'earn', :iss, :acc, 1 + n.i % 50, {at}, 'bulk-' || (n.i + :last), 1 + n.i % 7, 1, n.i"
                f" FROM ({series}) n"
            ),
            {"n": count, "p": program, "iss": issuance, "acc": account, "last": last},
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
                " FROM (SELECT sum(amount) AS total FROM ledger_transfers WHERE id > :last) s WHERE id = :acc"
            ),
            {"last": last, "acc": account},
        )
    if not db.is_sqlite:
        async with db.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE"))


def _serve(url: str) -> tuple[uvicorn.Server, threading.Thread, str]:
    settings = Settings(database_url=url, sweep_interval_seconds=0, secret_key="bench-" + "x" * 40)
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_level="warning", ws="none")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, thread, f"http://127.0.0.1:{port}"


async def _wallet_latency(base: str, email: str, requests: int) -> tuple[float, float, int]:
    async with httpx.AsyncClient(base_url=base, headers={"Origin": base}, timeout=30) as client:
        page = await client.get("/login")
        token = re.search(r'name="csrftoken" value="([^"]+)"', page.text)
        assert token
        await client.post("/login", data={"email": email, "password": PASSWORD, "csrftoken": token.group(1)})
        for _ in range(10):  # warm up
            assert (await client.get("/wallet")).status_code == 200
        timings = []
        for _ in range(requests):
            start = time.perf_counter()
            response = await client.get("/wallet")
            timings.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200
        size = len(response.content)
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.99) - 1], size


async def _run(name: str, url: str, quick: bool) -> None:
    db = Database(url)
    program, pam, managers, reward = await _setup(db)
    count = 200 if quick else 1000
    redeem_seq, redeem_rate = await _redemptions(db, managers, reward, count)
    approve_seq, approve_rate, approved = await _approvals(db, pam)
    per_request, per_approval = await _statements(db, pam, managers[1], reward)
    history = 20_000 if quick else 100_000
    await _bulk_history(db, program, managers[0].org_id, history)
    await db.dispose()
    server, thread, base = _serve(url)
    try:
        p50, p99, size = await _wallet_latency(base, "m0@example.com", 100 if quick else 300)
    finally:
        server.should_exit = True
        thread.join()
    print(
        f"{name:10s} redemption requests (hold): {redeem_seq:5.0f}/s on 1 task, {redeem_rate:5.0f}/s on {WORKERS}"
        f" ({2 * count} in all)\n"
        f"{name:10s} approvals (post + fulfil):  {approve_seq:5.0f}/s on 1 task, {approve_rate:5.0f}/s on {WORKERS}"
        f" ({approved} in all)\n"
        f"{name:10s} {'calls into the thread' if name == 'sqlite' else 'statements'}: {per_request} per redemption"
        f" request, {per_approval} per approval\n"
        f"{name:10s} wallet page over HTTP, {history:,} transfers: p50 {p50:5.1f} ms, p99 {p99:5.1f} ms"
        f" ({size:,} bytes)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer operations and a 20k history")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], action="append")
    args = parser.parse_args()
    for backend, url in databases(args.backend or ["sqlite", "postgresql"], "rewards"):
        asyncio.run(_run(backend, url, args.quick))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
