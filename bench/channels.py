"""Channels benchmark, e-mail part: 10,000 new-offer e-mails rendered and handed to a local SMTP server by one
sender (one process), on SQLite and PostgreSQL.

Run: `.venv/bin/python bench/channels.py [--quick] [--backend sqlite|postgresql]`. Creates its own databases,
queues N new-lead e-mails through the outbox (as the wave writes do: 100 users, half German, half English) and
times one `send_due` run: claims, rendering (Jinja + css-inline + MIME), SMTP and the recorded outcomes. The SMTP
server is aiosmtpd's discarding Sink in its own process, so it does not share the sender's CPU time.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _support import databases, program_with_partners, smtp_sink  # type: ignore[import-not-found]
from sqlalchemy import func, insert, select

from incentives.accounts.models import User
from incentives.config import Settings
from incentives.db import Database, utcnow
from incentives.mail import outbox
from incentives.mail.jobs import send_due
from incentives.mail.models import MailStatus, OutboxMail

USERS = 100


async def run(url: str, count: int, smtp_url: str) -> tuple[float, int]:
    db = Database(url)
    _, _, orgs = await program_with_partners(db, 1)
    async with db.transaction() as session:
        await session.execute(
            insert(User),
            [
                {
                    "email": f"rep{i}@bench.example",
                    "name": f"Rep {i}",
                    "org_id": orgs[0],
                    "role": "reseller_rep",
                    "locale": "de" if i % 2 else "en",
                    "active": True,
                    "session_epoch": 0,
                    "created_at": utcnow(),
                }
                for i in range(USERS)
            ],
        )
        users = list(await session.scalars(select(User.id).where(User.org_id == orgs[0])))
    expires = utcnow().isoformat()
    mails = [
        outbox.Mail(
            users[i % len(users)],
            "new_lead",
            f"lead:{i}",
            "new_lead",
            {
                "lead": {
                    "id": i + 1,
                    "temperature": ("hot", "warm", "cold")[i % 3],
                    "product_line": "heat_pumps",
                    "industry": "manufacturing",
                    "country": "DE",
                    "postal_prefix": "80",
                    "expires_at": expires,
                }
            },
        )
        for i in range(count)
    ]
    for start in range(0, count, 1000):
        async with db.transaction() as session:
            await outbox.queue_many(session, mails[start : start + 1000])
    settings = dataclasses.replace(Settings(database_url=url, environment="test"), smtp_url=smtp_url)
    started = time.perf_counter()
    await send_due(db, settings=settings)
    elapsed = time.perf_counter() - started
    async with db.reader() as session:
        sent = await session.scalar(
            select(func.count()).select_from(OutboxMail).where(OutboxMail.status == MailStatus.SENT)
        )
    await db.dispose()
    return elapsed, int(sent or 0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="1,000 e-mails instead of 10,000")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], action="append")
    args = parser.parse_args()
    count = 1000 if args.quick else 10_000
    with smtp_sink() as smtp_url:
        for backend, url in databases(args.backend or ["sqlite", "postgresql"], "channels"):
            elapsed, sent = asyncio.run(run(url, count, smtp_url))
            print(f"{backend}: {sent} of {count} new-offer e-mails sent in {elapsed:.1f} s ({sent / elapsed:.0f}/s)")


if __name__ == "__main__":
    main()
