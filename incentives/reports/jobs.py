"""Delivering the weekly report: `incentives reports weekly` and the Monday-morning sweep queue one e-mail per
recipient, program and ISO week in the mail outbox, which sends it (with retries) once whatever runs it.

Each report is gathered and rendered when it is queued (reports/weekly.py, weekly_mail.py) and kept rendered in
the outbox row, so the figures are those of the moment the week was closed. A recipient whose figures cannot be
gathered is logged and reported, and the run goes on with the others.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from sqlalchemy import select

from incentives.accounts.models import Program
from incentives.db import Database
from incentives.jobs import sweep
from incentives.local_time import LOCAL
from incentives.mail import outbox
from incentives.reports import weekly, weekly_mail

log = logging.getLogger(__name__)

KIND = "weekly_report"
TEMPLATE = "incentives.reports:weekly_report"
QUEUE_BATCH = 200  # rendered reports queued per transaction
SEND_FROM = dt.time(6, 0)  # Monday, Europe/Berlin: the week just ended is reported from then on


@dataclass
class Delivery:
    queued: int = 0
    already: int = 0
    failed: list[str] = field(default_factory=list)


def last_complete_week(now: dt.datetime) -> weekly.IsoWeek:
    return weekly.IsoWeek.of(now).previous


async def queue_weekly(db: Database, base_url: str, program_id: int, week: weekly.IsoWeek) -> Delivery:
    """Queue the program's report for `week` to every recipient; a second run queues nothing again. The
    partners' figures are read once for the program; the rendered e-mails go to the outbox a batch at a time."""
    done = Delivery()
    key = f"{program_id}:{week.name}"
    async with db.reader() as session:
        recipients = await weekly.recipients(session, program_id, week)
        before = await outbox.queued_before(session, KIND, key, [r.user_id for r in recipients])
        wanted = [r for r in recipients if r.user_id not in before]  # a re-run gathers nothing again
        partners = None
        if any(r.role in weekly.REPORTED_PARTNERS for r in wanted):
            partners = await weekly.partners_week(session, program_id, week)
    done.already = len(before)
    rendered: list[outbox.Mail] = []
    for recipient in wanted:
        try:
            async with db.reader() as session:  # a partner's report reads nothing more
                report = await weekly.gather(db, session, program_id, recipient, week, partners)
            subject, text, html = weekly_mail.render(report, base_url)
        except Exception:  # one recipient's broken figures must not stop the others' reports
            log.exception("the weekly report for user %s could not be made", recipient.user_id)
            done.failed.append(recipient.email)
            continue
        rendered.append(
            outbox.Mail(recipient.user_id, KIND, key, TEMPLATE, {"subject": subject, "text": text, "html": html})
        )
        if len(rendered) == QUEUE_BATCH:
            await _queue(db, rendered, done)
    await _queue(db, rendered, done)
    return done


async def _queue(db: Database, rendered: list[outbox.Mail], done: Delivery) -> None:
    """Queue and forget a batch of rendered reports (a concurrent run's copies are refused by their keys)."""
    if not rendered:
        return
    async with db.transaction() as session:
        queued = await outbox.queue_many(session, rendered)
    done.queued += queued
    done.already += len(rendered) - queued
    rendered.clear()


async def queue_all(db: Database, base_url: str, week: weekly.IsoWeek, program_id: int | None = None) -> Delivery:
    async with db.reader() as session:
        query = select(Program.id).order_by(Program.id)
        programs = list(await session.scalars(query if program_id is None else query.where(Program.id == program_id)))
    total = Delivery()
    for program in programs:
        found = await queue_weekly(db, base_url, program, week)
        total.queued += found.queued
        total.already += found.already
        total.failed += found.failed
    return total


@sweep("reports.weekly")
async def weekly_sweep(db: Database, now: dt.datetime) -> int:
    """On Monday from 06:00 Europe/Berlin, the week just ended; queued once per user by the outbox's key."""
    local = now.astimezone(LOCAL)
    if local.weekday() != 0 or local.time() < SEND_FROM:
        return 0
    from incentives.config import Settings

    return (await queue_all(db, Settings.from_env().base_url, last_complete_week(now))).queued
