"""Sending due deliveries: claim a batch, POST each (many at once), record the outcomes; retry with backoff, mark
failed after the last attempt, disable an endpoint failing for 3 days and tell the program's admins.

Runs in-process after a commit without Redis, as an RQ job with Redis, and as the `webhooks.deliver` sweep, which
picks up whatever a lost wake-up left. A claim (a token and a lease on the row) keeps two senders from sending one
delivery at once; only the claimant records the outcome.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import httpx
from sqlalchemy import Table, and_, bindparam, func, or_, select, update

from incentives.accounts.models import User
from incentives.accounts.roles import Role
from incentives.config import Settings
from incentives.db import Database, utcnow
from incentives.errors import N_
from incentives.jobs import OutboxWaker, outbox_job_started, run_job, schedule_retry_run, sweep, wake_for_retry
from incentives.notifications.services import notify
from incentives.webhooks import sending
from incentives.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from incentives.webhooks.outbox import WEBHOOKS, iso

log = logging.getLogger(__name__)

# Waits after the 1st, 2nd, ... failed attempt; after the last one the delivery is failed (7 attempts in all).
BACKOFF = (
    dt.timedelta(seconds=5),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=2),
    dt.timedelta(hours=5),
    dt.timedelta(hours=10),
)
DISABLE_AFTER = dt.timedelta(days=3)
LEASE = dt.timedelta(minutes=2)  # longer than a batch can take: BATCH / CONCURRENCY rounds of at most 10 s
BATCH = 200
CONCURRENCY = 50  # requests in flight per sender, over all endpoints
PER_ENDPOINT = 10  # connections to one endpoint: more only queue at the receiver (and in httpx's pool)
DELIVER_JOB = "incentives.webhooks.jobs.deliver_job"
PENDING_KEY = "incentives:webhooks:pending"
SCHEDULED_KEY = "incentives:webhooks:scheduled"
DELIVERIES = cast(Table, WebhookDelivery.__table__)
ENDPOINTS = cast(Table, WebhookEndpoint.__table__)
DISABLED = N_("The webhook %(url)s failed for 3 days and was disabled. Check the receiver, then enable it again.")


@dataclass(frozen=True)
class Claimed:
    id: int
    endpoint_id: int
    program_id: int
    url: str
    secrets: tuple[str, ...]
    message_id: str
    event_type: str
    event_at: dt.datetime
    data: dict[str, Any]
    attempts: int
    claim: str  # this sender's token: only the claimant records the outcome


def next_attempt(attempts: int, now: dt.datetime) -> dt.datetime | None:
    """When to try again after `attempts` failed attempts; None: no more, the delivery has failed."""
    return now + BACKOFF[attempts - 1] if 1 <= attempts <= len(BACKOFF) else None


@sweep("webhooks.deliver")
async def deliver_sweep(db: Database, now: dt.datetime) -> int:
    return await deliver_due(db, now)


async def deliver_due(db: Database, now: dt.datetime | None = None, *, allow_private: bool | None = None) -> int:
    """Send every delivery due at `now`, batch after batch; how many attempts it made. `allow_private`: whether
    loopback and private addresses may be sent to (by default everywhere but in production)."""
    if allow_private is None:
        allow_private = not Settings.from_env().production
    clients: dict[int, httpx.AsyncClient] = {}  # one pool per endpoint: a slow receiver keeps its own connections
    attempts = 0
    try:
        while True:
            at = now or utcnow()
            batch = await _claim(db, at)
            if not batch:
                return attempts
            outcomes = await _send(clients, batch, allow_private)
            await _record(db, batch, outcomes, at)
            attempts += len(batch)
    finally:
        for client in clients.values():
            await client.aclose()


async def deliver_and_wake(db: Database) -> int:
    """The in-process sender (no Redis): send what is due, then wake again when the next retry comes due."""
    sent = await deliver_due(db)
    soonest = await soonest_due(db)
    wake_for_retry(db.engine, WEBHOOKS, soonest)
    return sent


def deliver_job() -> int:
    """The RQ job: send what is due, then enqueue itself for the next retry coming due soon (RQ's scheduler)."""
    outbox_job_started(PENDING_KEY)
    outbox_job_started(SCHEDULED_KEY)  # this run looks ahead itself: the next may schedule again

    async def work(db: Database) -> tuple[int, dt.datetime | None]:
        return await deliver_due(db), await soonest_due(db)

    sent, soonest = run_job(work)
    schedule_retry_run(soonest, scheduled_key=SCHEDULED_KEY, job=DELIVER_JOB)
    return int(sent)


async def soonest_due(db: Database) -> dt.datetime | None:
    """When the next pending delivery of an enabled endpoint is due (leaving out what another sender holds)."""
    async with db.reader() as session:
        soonest: dt.datetime | None = await session.scalar(
            select(func.min(WebhookDelivery.next_attempt_at))
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(
                WebhookDelivery.status == DeliveryStatus.PENDING,
                WebhookEndpoint.disabled_at.is_(None),
                or_(WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until < utcnow()),
            )
        )
    return soonest


async def _claim(db: Database, now: dt.datetime) -> list[Claimed]:
    """Up to BATCH due deliveries, claimed for this sender (PostgreSQL skips rows another sender is claiming;
    SQLite's write transactions run one at a time)."""
    token = uuid.uuid4().hex
    async with db.transaction() as session:
        due = (
            select(DELIVERIES.c.id)
            .join(ENDPOINTS, ENDPOINTS.c.id == DELIVERIES.c.endpoint_id)
            .where(
                DELIVERIES.c.status == DeliveryStatus.PENDING,
                DELIVERIES.c.next_attempt_at <= now,
                or_(DELIVERIES.c.claimed_until.is_(None), DELIVERIES.c.claimed_until < now),
                ENDPOINTS.c.disabled_at.is_(None),
            )
            .order_by(DELIVERIES.c.next_attempt_at, DELIVERIES.c.id)
            .limit(BATCH)
            .with_for_update(of=DELIVERIES, skip_locked=True)
        )
        ids = list(await session.scalars(due))
        if not ids:
            return []
        await session.execute(
            update(DELIVERIES).where(DELIVERIES.c.id.in_(ids)).values(claim=token, claimed_until=now + LEASE)
        )
        rows = await session.execute(
            select(
                DELIVERIES.c.id,
                DELIVERIES.c.endpoint_id,
                DELIVERIES.c.program_id,
                ENDPOINTS.c.url,
                ENDPOINTS.c.secret,
                ENDPOINTS.c.previous_secret,
                ENDPOINTS.c.previous_until,
                DELIVERIES.c.message_id,
                DELIVERIES.c.event_type,
                DELIVERIES.c.event_at,
                DELIVERIES.c.data,
                DELIVERIES.c.attempts,
            )
            .join(ENDPOINTS, ENDPOINTS.c.id == DELIVERIES.c.endpoint_id)
            .where(DELIVERIES.c.claim == token)
            .order_by(DELIVERIES.c.id)
        )
        return [
            Claimed(
                id=row.id,
                endpoint_id=row.endpoint_id,
                program_id=row.program_id,
                url=row.url,
                secrets=_secrets(row.secret, row.previous_secret, row.previous_until),
                message_id=row.message_id,
                event_type=row.event_type,
                event_at=row.event_at,
                data=row.data,
                attempts=row.attempts,
                claim=token,
            )
            for row in rows
        ]


def _secrets(secret: str, previous: str | None, until: dt.datetime | None) -> tuple[str, ...]:
    return (secret, previous) if previous and until is not None and until > utcnow() else (secret,)


async def _send(
    clients: dict[int, httpx.AsyncClient], batch: Sequence[Claimed], allow_private: bool
) -> list[sending.Outcome]:
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(delivery: Claimed) -> sending.Outcome:
        client = clients.get(delivery.endpoint_id)
        if client is None:
            client = clients[delivery.endpoint_id] = sending.new_client(PER_ENDPOINT)
        async with limit:
            if not allow_private and await sending.resolves_private(delivery.url):
                return sending.Outcome(False, None, "refused: the address is not public")
            body = sending.body_of(delivery.event_type, iso(delivery.event_at), delivery.data)
            headers = sending.signed_headers(delivery.message_id, delivery.secrets, body, utcnow())
            return await sending.post(client, delivery.url, body, headers)

    return list(await asyncio.gather(*(one(delivery) for delivery in batch)))


async def _record(
    db: Database, batch: Sequence[Claimed], outcomes: Sequence[sending.Outcome], now: dt.datetime
) -> None:
    """The outcomes of one claimed batch, in one transaction; then the endpoints' failing streaks."""
    rows = []
    for delivery, outcome in zip(batch, outcomes, strict=True):
        attempts = delivery.attempts + 1
        retry = None if outcome.delivered else next_attempt(attempts, now)
        status = (
            DeliveryStatus.DELIVERED
            if outcome.delivered
            else (DeliveryStatus.PENDING if retry is not None else DeliveryStatus.FAILED)
        )
        rows.append(
            {
                "p_id": delivery.id,
                "p_claim": delivery.claim,
                "p_at": now,
                "p_status": status,
                "p_attempts": attempts,
                "p_next": retry,
                "p_code": outcome.status_code,
                "p_error": outcome.error,
                "p_delivered": now if outcome.delivered else None,
            }
        )
    succeeded = {d.endpoint_id for d, o in zip(batch, outcomes, strict=True) if o.delivered}
    failed = {d.endpoint_id for d, o in zip(batch, outcomes, strict=True) if not o.delivered} - succeeded
    async with db.transaction() as session:
        await session.execute(_RECORD, rows)
        if succeeded:
            await session.execute(update(ENDPOINTS).where(ENDPOINTS.c.id.in_(succeeded)).values(failing_since=None))
        if failed:
            await session.execute(
                update(ENDPOINTS)
                .where(ENDPOINTS.c.id.in_(failed), ENDPOINTS.c.failing_since.is_(None))
                .values(failing_since=now)
            )
            disabled = await session.execute(
                update(ENDPOINTS)
                .where(
                    ENDPOINTS.c.id.in_(failed),
                    ENDPOINTS.c.disabled_at.is_(None),
                    ENDPOINTS.c.failing_since <= now - DISABLE_AFTER,
                )
                .values(disabled_at=now)
                .returning(ENDPOINTS.c.id, ENDPOINTS.c.program_id, ENDPOINTS.c.url)
            )
            for endpoint_id, program_id, url in disabled.all():
                log.warning("webhook endpoint %s failed for %s and is disabled", endpoint_id, DISABLE_AFTER)
                await _tell_admins(session, endpoint_id, program_id, url, now)


_RECORD = (
    update(DELIVERIES)
    .where(DELIVERIES.c.id == bindparam("p_id"), DELIVERIES.c.claim == bindparam("p_claim"))
    .values(
        status=bindparam("p_status"),
        attempts=bindparam("p_attempts"),
        next_attempt_at=bindparam("p_next"),
        last_attempt_at=bindparam("p_at"),
        last_status_code=bindparam("p_code"),
        last_error=bindparam("p_error"),
        delivered_at=bindparam("p_delivered"),
        claim=None,
        claimed_until=None,
    )
)


async def _tell_admins(session: Any, endpoint_id: int, program_id: int, url: str, now: dt.datetime) -> None:
    admins = await session.execute(
        select(User.id, User.org_id).where(
            and_(User.program_id == program_id, User.role == Role.ADMIN, User.active.is_(True))
        )
    )
    for user_id, org_id in admins.all():
        await notify(
            session,
            program_id=program_id,
            org_id=org_id,
            user_id=user_id,
            kind="webhook.disabled",
            message=DISABLED,
            params={"url": url},
            link="/webhooks",
            dedup_key=f"webhook-disabled:{endpoint_id}:{user_id}:{iso(now)}"[:200],
        )


def webhook_sender(db: Database, redis_url: str | None) -> OutboxWaker:
    """The waker of the webhooks channel: sends in-process without Redis, enqueues `deliver_job` with it."""
    return OutboxWaker(
        db, deliver_and_wake, redis_url=redis_url, channel=WEBHOOKS, job=DELIVER_JOB, pending_key=PENDING_KEY
    )
