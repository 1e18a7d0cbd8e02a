"""The books after a load run (bench/load/run.py): each check prints one line and returns its problems.

- the ledger: `incentives ledger verify` exits 0 (every balance and lot equals its transfers);
- events → awards exactly once: every domain event processed, every award decision paid by exactly one
  transfer of its own, and every rule transfer paid for exactly one decision (awards = decisions);
- every reserved lead has one owner: a reserving org on every reserved/won/lost lead, and one reservation
  event per lead (the scenario returns none);
- no redemption overdraws: no partner account's available points below zero, every live redemption held;
- the leaderboard equals SQL: the rollup and the Redis-served board are the same before and after
  `incentives leaderboard rebuild` recomputes them from the ledger.
Also: how long after its event each award was paid (p50/p95/p99).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from typing import Any

import httpx
from sqlalchemy import text

from incentives.db import Database

DRAINED = {
    "unprocessed events": "SELECT count(*) FROM outbox_events WHERE processed_at IS NULL",
    "unpaid awards": "SELECT count(*) FROM rule_awards WHERE paid_at IS NULL",
    "uncounted leaderboard rows": "SELECT count(*) FROM leaderboard_pending",
}


async def scalar(db: Database, sql: str) -> Any:
    async with db.reader() as session:
        return (await session.execute(text(sql))).scalar()


async def wait_drained(db: Database, seconds: float) -> dict[str, int]:
    """Wait (bounded) until the worker has processed every event, paid every award and counted every row."""
    deadline = time.monotonic() + seconds
    while True:
        left = {name: int(await scalar(db, sql)) for name, sql in DRAINED.items()}
        if not any(left.values()) or time.monotonic() > deadline:
            return left
        await asyncio.sleep(0.5)


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "incentives.cli", *args], env=env, capture_output=True, text=True)


async def award_delays(db: Database) -> list[float]:
    """Seconds from each event to the payment of its awards, ascending."""
    async with db.reader() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT e.at, a.paid_at FROM rule_awards a JOIN outbox_events e ON e.id = a.event_id "
                    "WHERE a.paid_at IS NOT NULL AND a.kind = 'earn'"
                )
            )
        ).all()
    return sorted(max(0.0, (_aware(paid) - _aware(at)).total_seconds()) for at, paid in rows)


def _aware(value: Any) -> Any:
    import datetime as dt

    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, round(q * (len(values) - 1)))] if values else float("nan")


async def board(base: str, token: str, program_id: int) -> list[tuple[int, int, int]]:
    """The month's board as the API serves it. Asked up to three times: after the database refused
    connections, each web process answers 500 once, on the first request that finds its pool's connections
    dead (db.py: no pre-ping), and the check should not depend on which process answers."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        for _ in range(3):
            answer = await client.get(
                f"/api/v1/leaderboard?program_id={program_id}&period=month&limit=100",
                headers={"Authorization": f"Bearer {token}"},
            )
            if answer.status_code < 500:
                break
            print(f"    (the leaderboard answered {answer.status_code}; asking again)")
    answer.raise_for_status()
    return [(item["rank"], item["org_id"], item["points"]) for item in answer.json()["items"]]


ROLLUP = "SELECT program_id, period, org_id, user_id, points FROM leaderboard_points ORDER BY 1, 2, 3, 4"


async def books(url: str, env: dict[str, str], base: str, book: dict[str, Any], drain_seconds: float = 60) -> list[str]:
    """Run every check on the database at `url` (the app at `base` serves it); the problems found."""
    db = Database(url)
    problems: list[str] = []

    def check(name: str, ok: bool, detail: str) -> None:
        print(f"    {'ok  ' if ok else 'FAIL'} {name}: {detail}")
        if not ok:
            problems.append(f"{name}: {detail}")

    try:
        left = await wait_drained(db, drain_seconds)
        check("worker drained", not any(left.values()), ", ".join(f"{k} {v}" for k, v in left.items()))
        verify = cli(env, "ledger", "verify")
        check("ledger verify", verify.returncode == 0, (verify.stdout + verify.stderr).strip().splitlines()[-1])

        decisions = int(await scalar(db, "SELECT count(*) FROM rule_awards"))
        unpaid = int(await scalar(db, "SELECT count(*) FROM rule_awards WHERE transfer_id IS NULL"))
        shared = int(
            await scalar(
                db,
                "SELECT count(*) FROM (SELECT transfer_id FROM rule_awards WHERE transfer_id IS NOT NULL "
                "GROUP BY transfer_id HAVING count(*) > 1) x",
            )
        )
        rule_transfers = int(await scalar(db, "SELECT count(*) FROM ledger_transfers WHERE rule_id IS NOT NULL"))
        orphans = int(
            await scalar(
                db,
                "SELECT count(*) FROM ledger_transfers t WHERE t.rule_id IS NOT NULL "
                "AND NOT EXISTS (SELECT 1 FROM rule_awards a WHERE a.transfer_id = t.id)",
            )
        )
        check(
            "every event paid exactly once",
            unpaid == 0 and shared == 0 and orphans == 0 and rule_transfers == decisions,
            f"{decisions} decisions, {rule_transfers} rule transfers, {unpaid} unpaid, {shared} transfers paying "
            f"two decisions, {orphans} transfers without a decision",
        )

        ownerless = int(
            await scalar(
                db,
                "SELECT count(*) FROM leads l WHERE l.reserved_by_org_id IS NULL AND (l.status = 'reserved' OR "
                "EXISTS (SELECT 1 FROM lead_events e WHERE e.lead_id = l.id AND e.kind = 'reserved'))",
            )
        )
        twice = int(
            await scalar(
                db,
                "SELECT count(*) FROM (SELECT lead_id FROM lead_events WHERE kind = 'reserved' "
                "GROUP BY lead_id HAVING count(*) > 1) x",
            )
        )
        reserved = int(await scalar(db, "SELECT count(*) FROM leads WHERE reserved_by_org_id IS NOT NULL"))
        check(
            "every reserved lead has one owner",
            ownerless == 0 and twice == 0,
            f"{reserved} leads reserved, {ownerless} without an owner, {twice} reserved twice",
        )

        overdrawn = int(
            await scalar(
                db,
                "SELECT count(*) FROM ledger_accounts WHERE org_id IS NOT NULL "
                "AND credits_posted - debits_posted - debits_pending < 0",
            )
        )
        unheld = int(
            await scalar(
                db, "SELECT count(*) FROM redemptions WHERE status IN ('pending', 'fulfilled') AND hold_id IS NULL"
            )
        )
        redemptions = await scalar(db, "SELECT count(*) FROM redemptions")
        fulfilled = await scalar(db, "SELECT count(*) FROM redemptions WHERE status = 'fulfilled'")
        check(
            "no redemption overdraws",
            overdrawn == 0 and unheld == 0,
            f"{redemptions} redemptions ({fulfilled} fulfilled), {overdrawn} accounts below zero, "
            f"{unheld} live redemptions without a hold",
        )

        async with db.reader() as session:
            rollup = (await session.execute(text(ROLLUP))).all()
        served = await board(base, book["manager_token"], book["program_id"])
        rebuild = cli(env, "leaderboard", "rebuild")
        async with db.reader() as session:
            rebuilt = (await session.execute(text(ROLLUP))).all()
        served_after = await board(base, book["manager_token"], book["program_id"])
        before, after = set(rollup), set(rebuilt)
        for row in sorted(before - after)[:5]:
            print(f"      rollup had {tuple(row)}")
        for row in sorted(after - before)[:5]:
            print(f"      rebuild has {tuple(row)}")
        check(
            "leaderboard equals SQL",
            rebuild.returncode == 0 and rollup == rebuilt and served == served_after,
            f"{len(rollup)} rollup rows ({sum(1 for a, b in zip(rollup, rebuilt, strict=False) if a != b)} differ"
            f"{', count differs' if len(rollup) != len(rebuilt) else ''}), board of {len(served)} rows "
            f"{'the same' if served == served_after else 'DIFFERENT'} after the rebuild",
        )

        async with db.reader() as session:
            mails = dict((await session.execute(text("SELECT status, count(*) FROM mail_outbox GROUP BY 1"))).all())
        print(f"    e-mail outbox: {', '.join(f'{n} {status}' for status, n in sorted(mails.items())) or 'empty'}")
        delays = await award_delays(db)
        print(
            f"    awards paid after their event: p50 {pct(delays, 0.5):.2f} s, p95 {pct(delays, 0.95):.2f} s, "
            f"p99 {pct(delays, 0.99):.2f} s, max {delays[-1] if delays else float('nan'):.2f} s "
            f"over {len(delays)} awards"
        )
        book.setdefault("award_p99", []).append(pct(delays, 0.99))
    finally:
        await db.dispose()
    return problems


if __name__ == "__main__":  # checks an existing database: DATABASE_URL, LOAD_BOOK and LOAD_BASE set
    import json

    found = asyncio.run(
        books(
            os.environ["DATABASE_URL"],
            dict(os.environ),
            os.environ["LOAD_BASE"],
            json.loads(open(os.environ["LOAD_BOOK"]).read()),  # noqa: SIM115
        )
    )
    sys.exit(1 if found else 0)
