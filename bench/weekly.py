"""Weekly reports benchmark (issue 18): reports for 10,000 recipients rendered and handed to SMTP by one worker.

    .venv/bin/python bench/weekly.py [--quick] [--backend sqlite|postgresql] [--leads N] [--transfers N]

Book: bench/reports.py's program (2k resellers under 20 distributors, a manager per reseller, leads with their
events and offers, ledger transfers with lots), plus four reps per reseller: 10,000 partner recipients, and the
distributors' managers and the program's admin. One process does what one worker does on Monday morning:
`queue_all` gathers every recipient's figures and renders the report into the mail outbox, then `send_due` hands
every e-mail to aiosmtpd's discarding Sink on loopback (its own process). Both times are printed; the target is
their sum <= 60 s. `--quick`: 1 rep per reseller (4,000 recipients), fewer leads.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

import reports as book  # type: ignore[import-not-found]  # noqa: E402
from _support import databases, smtp_sink  # type: ignore[import-not-found]  # noqa: E402
from sqlalchemy import func, insert, select  # noqa: E402

from incentives.accounts.models import Org, User  # noqa: E402
from incentives.config import Settings  # noqa: E402
from incentives.db import Database, utcnow  # noqa: E402
from incentives.mail.jobs import send_due  # noqa: E402
from incentives.mail.models import MailStatus, OutboxMail  # noqa: E402
from incentives.reports import jobs  # noqa: E402


async def add_people(db: Database, reps_per_reseller: int) -> int:
    """Reps for every reseller and a manager for every distributor, half of them reading German."""
    now = utcnow()
    async with db.transaction() as session:
        orgs = (await session.execute(select(Org.id, Org.kind).where(Org.kind.in_(["reseller", "distributor"])))).all()
        rows = [
            {
                "email": f"{role}{n}.{org_id}@bench.example",
                "name": f"{role} {n} {org_id}",
                "org_id": org_id,
                "role": role,
                "locale": "de" if (org_id + n) % 2 else "en",
                "created_at": now,
                "active": True,
                "session_epoch": 0,
            }
            for org_id, kind in orgs
            for role, n in (
                [("reseller_rep", n) for n in range(reps_per_reseller)]
                if kind == "reseller"
                else [("distributor_manager", 0)]
            )
        ]
        await session.execute(insert(User), rows)
        return int(await session.scalar(select(func.count()).select_from(User)) or 0)


async def run(url: str, args: argparse.Namespace, smtp_url: str) -> None:
    db = Database(url)
    await book.build(db, args.leads, args.transfers)
    users = await add_people(db, 1 if args.quick else 4)
    await book.settle(db)
    print(f"  book built; {users:,} users", flush=True)
    week = jobs.last_complete_week(utcnow())
    settings = dataclasses.replace(Settings(database_url=url, environment="test"), smtp_url=smtp_url)
    began = time.perf_counter()
    delivery = await jobs.queue_all(db, settings.base_url, week)
    queued_in = time.perf_counter() - began
    began = time.perf_counter()
    while await send_due(db, settings=settings):
        pass
    sent_in = time.perf_counter() - began
    async with db.reader() as session:
        sent = await session.scalar(
            select(func.count()).select_from(OutboxMail).where(OutboxMail.status == MailStatus.SENT)
        )
    print(
        f"  {users:,} users: {delivery.queued:,} reports gathered and rendered in {queued_in:.1f} s "
        f"({delivery.queued / queued_in:.0f}/s, {len(delivery.failed)} failed), {sent:,} handed to SMTP in "
        f"{sent_in:.1f} s; together {queued_in + sent_in:.1f} s",
        flush=True,
    )
    await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], action="append")
    parser.add_argument("--leads", type=int, default=None)
    parser.add_argument("--transfers", type=int, default=None)
    args = parser.parse_args()
    args.leads = args.leads or (20_000 if args.quick else 100_000)
    args.transfers = args.transfers or (100_000 if args.quick else 500_000)
    with smtp_sink() as smtp_url:
        for backend, url in databases(args.backend or ["sqlite", "postgresql"], "weekly"):
            print(f"{backend}:", flush=True)
            asyncio.run(run(url, args, smtp_url))


if __name__ == "__main__":
    main()
