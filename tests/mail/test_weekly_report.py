"""The weekly report delivered: queued once per user, program and week (two runs at once, or the Monday sweep
running all morning, send each once), sent through a real SMTP server in each reader's language with the
one-click unsubscribe, never to a user who turned it off."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys

from sqlalchemy import update

from incentives.accounts.models import User
from incentives.accounts.roles import Role
from incentives.config import Settings
from incentives.db import Database
from incentives.mail import jobs, preferences
from incentives.reports import jobs as reports
from incentives.reports.weekly import IsoWeek
from tests.factories import make_user
from tests.leads.helpers import make_lead
from tests.mail.helpers import sending_to, world_with_rep
from tests.mail.smtp_server import SmtpServer, parts

BASE = "https://incentives.example"
WEEK = IsoWeek(2026, 10)
MONDAY_7_BERLIN = dt.datetime(2026, 3, 9, 6, 0, tzinfo=dt.UTC)  # 07:00 in Berlin (CET), the Monday after WEEK
SUNDAY_NOON = dt.datetime(2026, 3, 8, 12, 0, tzinfo=dt.UTC)


async def test_each_reader_gets_one_report_in_their_language(
    db: Database, settings: Settings, smtp_server: SmtpServer
) -> None:
    world, rep = await world_with_rep(db, "en")
    german = await make_user(db, world, rep.org_id, Role.RESELLER_MANAGER, locale="de")
    quiet = await make_user(db, world, rep.org_id, Role.RESELLER_MANAGER, locale="en")
    async with db.transaction() as session:
        await preferences.change_preferences(session, quiet.user_id, {"email_weekly_report": False})
    await make_lead(db, world)  # its offer e-mails go out beside the reports

    first, second = await asyncio.gather(
        reports.queue_weekly(db, BASE, world.program_id, WEEK), reports.queue_weekly(db, BASE, world.program_id, WEEK)
    )
    readers = 3  # the program's admin, the rep and the German manager; not the one who turned it off
    assert first.failed == second.failed == []
    assert first.queued + second.queued == readers
    again = await reports.queue_weekly(db, BASE, world.program_id, WEEK)
    assert (again.queued, again.already) == (0, readers)

    await jobs.send_due(db, settings=sending_to(settings, smtp_server.url))
    weekly = [
        m for m in smtp_server.messages if any(w in str(m["Subject"]) for w in ("weekly report", "Wochenbericht"))
    ]
    by_reader = {str(message["To"]): message for message in weekly}
    assert quiet.email not in by_reader and len(weekly) == readers
    english, deutsch = by_reader[rep.email], by_reader[german.email]
    assert "weekly report" in str(english["Subject"]) and "Wochenbericht" in str(deutsch["Subject"])
    text, html = parts(deutsch)
    assert "Woche 10 von 2026" in text and "Woche 10 von 2026" in html and "&lt;" not in html
    assert html.count("/unsubscribe/") == 1 and "<script" not in html
    assert deutsch["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


async def test_the_sweep_queues_on_monday_morning_only(db: Database) -> None:
    _, rep = await world_with_rep(db, "en")
    async with db.transaction() as session:  # every other reader turned it off: only the rep counts
        await session.execute(update(User).where(User.id != rep.user_id).values(active=False))
    assert await reports.weekly_sweep(db, SUNDAY_NOON) == 0
    assert await reports.weekly_sweep(db, MONDAY_7_BERLIN) == 1
    assert await reports.weekly_sweep(db, MONDAY_7_BERLIN + dt.timedelta(hours=3)) == 0  # once per week
    assert reports.last_complete_week(MONDAY_7_BERLIN) == WEEK


async def test_the_command_queues_once_and_refuses_a_bad_week(db: Database, database_url: str) -> None:
    await world_with_rep(db, "en")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "DATABASE_URL": database_url}
        env.pop("REDIS_URL", None)
        command = [sys.executable, "-m", "incentives.cli", "reports", "weekly", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, check=False)

    first = await asyncio.to_thread(run, "--week", "2026-W10")
    assert first.returncode == 0 and "2 queued, 0 queued before" in first.stdout, first.stdout + first.stderr
    second = await asyncio.to_thread(run, "--week", "2026-W10")
    assert "0 queued, 2 queued before" in second.stdout
    bad = await asyncio.to_thread(run, "--week", "2026-W54")
    assert bad.returncode == 2 and "--week" in bad.stderr
