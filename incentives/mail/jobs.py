"""Sending due e-mails: claim a batch, render each in its user's language, hand them to SMTP, record the outcomes;
retry with backoff, mark failed after the last attempt.

The same shape as the webhooks' sender: runs in-process after a commit without Redis, as an RQ job with Redis,
and as the `mail.send` sweep, which picks up whatever a lost wake-up or a retry left. A claim (a token and a lease
on the row) keeps two senders from sending one e-mail at once; only the claimant records the outcome.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import Message
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, or_, select, update

from incentives.accounts.models import Program, User
from incentives.config import Settings
from incentives.db import Database, utcnow
from incentives.jobs import OutboxWaker, outbox_job_started, run_job, schedule_retry_run, sweep, wake_for_retry
from incentives.mail import preferences, render, smtp
from incentives.mail.models import MailStatus, OutboxMail
from incentives.mail.outbox import MAIL

log = logging.getLogger(__name__)

# Waits after the 1st, 2nd, ... failed attempt; after the last one the e-mail is failed (7 attempts in all).
BACKOFF = (
    dt.timedelta(minutes=1),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=2),
    dt.timedelta(hours=6),
    dt.timedelta(hours=12),
)
LEASE = dt.timedelta(minutes=5)
BATCH = 500
SEND_JOB = "incentives.mail.jobs.send_job"
PENDING_KEY = "incentives:mail:pending"
SCHEDULED_KEY = "incentives:mail:scheduled"
OUTBOX = cast(Table, OutboxMail.__table__)


@dataclass(frozen=True)
class Claimed:
    id: int
    kind: str
    user_id: int | None
    address: str | None
    locale: str | None
    template: str
    context: dict[str, Any]
    attempts: int
    claim: str


def next_attempt(attempts: int, now: dt.datetime) -> dt.datetime | None:
    """When to try again after `attempts` failed attempts; None: no more, the e-mail has failed."""
    return now + BACKOFF[attempts - 1] if 1 <= attempts <= len(BACKOFF) else None


@sweep("mail.send")
async def send_sweep(db: Database, now: dt.datetime) -> int:
    return await send_due(db, now)


async def send_due(db: Database, now: dt.datetime | None = None, *, settings: Settings | None = None) -> int:
    """Send every e-mail due at `now`, batch after batch; how many attempts it made."""
    settings = settings or Settings.from_env()
    site = render.Site(settings.base_url, settings.secret_key, settings.sender)
    attempts = 0
    while True:
        at = now or utcnow()
        batch = await _claim(db, at)
        if not batch:
            return attempts
        messages = await _render(db, site, settings.default_locale, batch, at)
        outcomes = await smtp.send_all(settings.smtp_url, [message for message, _ in messages])
        errors = [
            outcome if message is not None else smtp.Outcome(False, error, final=error in (GONE, TURNED_OFF))
            for (message, error), outcome in zip(messages, outcomes, strict=True)
        ]
        await _record(db, batch, errors, at)
        attempts += len(batch)


async def send_and_wake(db: Database, settings: Settings | None = None) -> int:
    """The in-process sender (no Redis): send what is due, then wake again when the next retry comes due."""
    sent = await send_due(db, settings=settings)
    soonest = await soonest_due(db)
    wake_for_retry(db.engine, MAIL, soonest)
    return sent


def send_job() -> int:
    """The RQ job: send what is due, then enqueue itself for the next retry coming due soon (RQ's scheduler)."""
    outbox_job_started(PENDING_KEY)
    outbox_job_started(SCHEDULED_KEY)

    async def work(db: Database) -> tuple[int, dt.datetime | None]:
        return await send_due(db), await soonest_due(db)

    sent, soonest = run_job(work)
    schedule_retry_run(soonest, scheduled_key=SCHEDULED_KEY, job=SEND_JOB)
    return int(sent)


async def soonest_due(db: Database) -> dt.datetime | None:
    async with db.reader() as session:
        soonest: dt.datetime | None = await session.scalar(
            select(func.min(OutboxMail.next_attempt_at)).where(
                OutboxMail.status == MailStatus.PENDING,
                or_(OutboxMail.claimed_until.is_(None), OutboxMail.claimed_until < utcnow()),
            )
        )
    return soonest


GONE = "the user is inactive"
TURNED_OFF = "the user turned this e-mail off after it was queued"


async def _claim(db: Database, now: dt.datetime) -> list[Claimed]:
    token = uuid.uuid4().hex
    async with db.transaction() as session:
        due = (
            select(OUTBOX.c.id)
            .where(
                OUTBOX.c.status == MailStatus.PENDING,
                OUTBOX.c.next_attempt_at <= now,
                or_(OUTBOX.c.claimed_until.is_(None), OUTBOX.c.claimed_until < now),
            )
            .order_by(OUTBOX.c.next_attempt_at, OUTBOX.c.id)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        )
        ids = list(await session.scalars(due))
        if not ids:
            return []
        await session.execute(update(OUTBOX).where(OUTBOX.c.id.in_(ids)).values(claim=token, claimed_until=now + LEASE))
        rows = await session.execute(
            select(
                OUTBOX.c.id,
                OUTBOX.c.kind,
                OUTBOX.c.user_id,
                OUTBOX.c.address,
                OUTBOX.c.locale,
                OUTBOX.c.template,
                OUTBOX.c.context,
                OUTBOX.c.attempts,
            )
            .where(OUTBOX.c.claim == token)
            .order_by(OUTBOX.c.id)
        )
        return [Claimed(*row, claim=token) for row in rows]


async def _render(
    db: Database, site: render.Site, default_locale: str, batch: Sequence[Claimed], now: dt.datetime
) -> list[tuple[Message | None, str | None]]:
    """Each claimed e-mail rendered, or None with the reason (the user is gone, the template is broken)."""
    async with db.reader() as session:
        rows = await session.execute(
            select(User.id, User.email, User.name, User.locale, User.active, Program.default_locale)
            .outerjoin(Program, Program.id == User.program_id)
            .where(User.id.in_({mail.user_id for mail in batch if mail.user_id is not None}))
        )
        users = {row.id: row for row in rows}
        wanted = await preferences.still_wanted(
            session, [(mail.user_id, mail.kind) for mail in batch if mail.user_id is not None]
        )
    rendered: list[tuple[Message | None, str | None]] = []
    for mail in batch:
        user = users.get(mail.user_id) if mail.user_id is not None else None
        if mail.user_id is None and mail.address:  # no user yet: the address in the language it was queued in
            to = render.Recipient(None, mail.address, "", mail.locale or default_locale)
        elif user is None or not user.active:
            rendered.append((None, GONE))
            continue
        elif (mail.user_id, mail.kind) not in wanted:
            rendered.append((None, TURNED_OFF))
            continue
        else:
            to = render.Recipient(user.id, user.email, user.name, user.locale or user.default_locale or default_locale)
        try:
            rendered.append((render.render(site, to, mail.kind, mail.template, mail.context, now), None))
        except Exception as exc:  # a broken template or context fails this e-mail, not the batch
            log.exception("rendering e-mail %s failed", mail.id)
            rendered.append((None, f"render: {type(exc).__name__}: {exc}"[:500]))
    return rendered


async def _record(db: Database, batch: Sequence[Claimed], outcomes: Sequence[smtp.Outcome], now: dt.datetime) -> None:
    rows = []
    for mail, outcome in zip(batch, outcomes, strict=True):
        attempts = mail.attempts + 1
        retry = None if outcome.sent or outcome.final else next_attempt(attempts, now)
        status = MailStatus.SENT if outcome.sent else (MailStatus.PENDING if retry is not None else MailStatus.FAILED)
        if status == MailStatus.FAILED:
            log.warning("e-mail %s failed for good after %s attempts: %s", mail.id, attempts, outcome.error)
        rows.append(
            {
                "p_id": mail.id,
                "p_claim": mail.claim,
                "p_at": now,
                "p_status": status,
                "p_attempts": attempts,
                "p_next": retry or now,
                "p_error": outcome.error,
                "p_sent": now if outcome.sent else None,
            }
        )
    async with db.transaction() as session:
        await session.execute(_RECORD, rows)


_RECORD = (
    update(OUTBOX)
    .where(OUTBOX.c.id == bindparam("p_id"), OUTBOX.c.claim == bindparam("p_claim"))
    .values(
        status=bindparam("p_status"),
        attempts=bindparam("p_attempts"),
        next_attempt_at=bindparam("p_next"),
        last_attempt_at=bindparam("p_at"),
        last_error=bindparam("p_error"),
        sent_at=bindparam("p_sent"),
        claim=None,
        claimed_until=None,
    )
)


def mail_sender(db: Database, settings: Settings) -> OutboxWaker:
    """The waker of the mail channel: sends in-process (with the app's settings: its secret signs the links)
    without Redis, enqueues `send_job` with it."""

    async def process(db: Database) -> int:
        return await send_and_wake(db, settings)

    return OutboxWaker(db, process, redis_url=settings.redis_url, channel=MAIL, job=SEND_JOB, pending_key=PENDING_KEY)
