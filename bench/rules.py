"""Rules benchmark: pure evaluation of 50 rules per event, end-to-end processing on SQLite and PostgreSQL,
and the simulation of one rule over 100k recorded events.

Run: `.venv/bin/python bench/rules.py [--quick] [--backend sqlite|postgresql]`. Creates its own
temporary databases (a temp SQLite file, a fresh PostgreSQL database) and removes them afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _support import databases, program_with_partners  # type: ignore[import-not-found]

from incentives.db import Database
from incentives.leads.models import OutboxEvent
from incentives.rules.defaults import install_default_rules
from incentives.rules.evaluation import ActiveRule, evaluate
from incentives.rules.processor import process_events
from incentives.rules.services import RuleInput, add_rule
from incentives.rules.simulation import simulate

PARTNERS = 20
T0 = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
TEMPERATURES = ("hot", "warm", "cold")


def _payload(kind: str, org_id: int, i: int, at: dt.datetime) -> dict[str, Any]:
    variables: dict[str, dict[str, Any]] = {
        "lead.reserved": {"reservation": {"hours_since_offered": float(i % 30)}},
        "lead.feedback": {
            "feedback": {
                "status": "contacted",
                "is_first": i % 2 == 0,
                "hours_since_reserved": float(i % 48),
                "on_time": i % 5 != 0,
            }
        },
        "lead.won": {"deal": {"value": 1000.0 + 37 * i % 90000, "days_since_reserved": float(i % 60)}},
    }
    per_event = variables[kind]
    return {
        "lead": {
            "id": None,
            "temperature": TEMPERATURES[i % 3],
            "product_line": "heat_pumps",
            "industry": "manufacturing",
            "country": "DE",
            "estimated_value": 12000.0,
            "wave": 1 + i % 3,
            "source": "web",
        },
        "partner": {"tier": "gold", "org_id": org_id, "country": "DE", "competencies": ["x"], "certifications": []},
        "event": {"at": at.isoformat()},
        **per_event,
    }


def _fifty_rules() -> list[ActiveRule]:
    """50 distinct feedback rules of the kinds managers write (texts differ, so nothing is shared)."""
    rules = []
    for n in range(50):
        condition = (
            f'feedback.on_time && lead.temperature == "{TEMPERATURES[n % 3]}" '
            f'&& feedback.hours_since_reserved <= {n + 1}.0 && partner.tier in ["gold", "platinum"]'
        )
        points = f'lead.temperature == "cold" ? {n + 10} : int(lead.estimated_value / {n + 100}.0)'
        rules.append(ActiveRule.of(RuleInput(1, "r", "r", "lead.feedback", condition, points), rule_id=n, version=1))
    return rules


def bench_pure(events: int) -> None:
    rules = _fifty_rules()
    payloads = [_payload("lead.feedback", 1, i, T0) for i in range(events)]
    start = time.perf_counter()
    paying = 0
    for payload in payloads:
        for rule in rules:
            paying += evaluate(rule, payload).points > 0
    elapsed = time.perf_counter() - start
    print(
        f"pure       50 rules x {events:,} events: {elapsed / events * 1000:.3f} ms per event"
        f" ({events / elapsed:,.0f} events/s, {paying:,} paying evaluations)"
    )


async def _setup(db: Database) -> tuple[int, list[int]]:
    program_id, _, orgs = await program_with_partners(db, PARTNERS)
    return program_id, orgs


async def _add_events(db: Database, program_id: int, orgs: list[int], count: int, kinds: tuple[str, ...]) -> None:
    for start in range(0, count, 5000):
        rows = []
        for i in range(start, min(count, start + 5000)):
            kind, org_id = kinds[i % len(kinds)], orgs[i % len(orgs)]
            at = T0 + dt.timedelta(seconds=i * 20)
            rows.append(
                {
                    "program_id": program_id,
                    "event_type": kind,
                    "org_id": org_id,
                    "payload": _payload(kind, org_id, i, at),
                    "at": at,
                    "attempts": 0,
                }
            )
        async with db.transaction() as session:
            await session.execute(insert(OutboxEvent.__table__), rows)  # type: ignore[arg-type]


async def _run(name: str, url: str, quick: bool) -> None:
    db = Database(url)
    try:
        program_id, orgs = await _setup(db)
        async with db.transaction() as session:
            await install_default_rules(session, program_id)
        count = 2000 if quick else 5000
        await _add_events(db, program_id, orgs, count, ("lead.reserved", "lead.feedback", "lead.won"))
        start = time.perf_counter()
        taken = await process_events(db, T0 + dt.timedelta(days=60))
        elapsed = time.perf_counter() - start
        awards = await _scalar(db, "SELECT count(*) FROM ledger_transfers WHERE idempotency_key LIKE 'rule:%'")
        print(
            f"{name:<10} end-to-end: {taken:,} events, {awards:,} awards in {elapsed:.2f} s:"
            f" {taken / elapsed:,.0f} events/s"
        )

        async with db.transaction() as session:
            rule = await add_rule(
                session,
                RuleInput(
                    program_id,
                    "Sim",
                    "Sim",
                    "lead.feedback",
                    "feedback.is_first && feedback.hours_since_reserved <= 24.0",
                    'lead.temperature == "cold" ? 30 : 10',
                    cap_per="day",
                    cap_max_points=200,
                ),
            )
        total = 20_000 if quick else 100_000
        await _add_events(db, program_id, orgs, total, ("lead.feedback",))
        start = time.perf_counter()
        async with db.reader() as session:
            result = await simulate(session, ActiveRule.of(rule), T0, T0 + dt.timedelta(days=400))
        elapsed = time.perf_counter() - start
        print(
            f"{name:<10} simulation over {result.events:,} feedback events: {elapsed:.2f} s"
            f" ({result.awards:,} awards, {result.points:,} points)"
        )
    finally:
        await db.dispose()


async def _scalar(db: Database, sql: str) -> int:
    async with db.reader() as session:
        return int((await session.execute(text(sql))).scalar_one())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer events")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], action="append")
    args = parser.parse_args()
    print(f"load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    bench_pure(1000 if args.quick else 5000)
    for backend, url in databases(args.backend or ["sqlite", "postgresql"], "rules"):
        asyncio.run(_run(backend, url, args.quick))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
