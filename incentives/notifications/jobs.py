"""Web Push, the sender: pushes the committed notifications of the pushed kinds to their recipients' browsers.

A committed notification of a pushed kind wakes the `push` channel. The sender claims the notifications after the
cursor by moving it forward with a compare-and-set (two senders never claim the same ones), then encrypts and
sends each to its recipients' subscriptions with pywebpush, signed with the VAPID key from the environment.
At most once: a crash between claim and send loses those pushes and never doubles them; the notification itself
stays on the notifications page. A subscription its push service calls gone (404, 410) is deleted.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from py_vapid import Vapid
from pywebpush import WebPushException, webpush
from sqlalchemy import Table, delete, select, update

from incentives import i18n
from incentives.accounts.models import User
from incentives.db import Database, dialect_insert, utcnow
from incentives.errors import N_
from incentives.jobs import OutboxWaker, outbox_job_started, run_job, sweep
from incentives.notifications.models import Notification, PushCursor, PushSubscription
from incentives.notifications.push import PushKeys, keys_from
from incentives.notifications.services import PUSH, PUSHED_KINDS, show

log = logging.getLogger(__name__)

PUSH_JOB = "incentives.notifications.jobs.push_job"
PENDING_KEY = "incentives:push:pending"
CLAIM_BATCH = 500
SEND_AT_ONCE = 8  # pushes in flight; each is an HTTPS POST to the browser vendor's push service
TIMEOUT_SECONDS = 10
GONE = (404, 410)
DEFAULT_LOCALE = "en"  # a user without a language setting


@dataclass(frozen=True)
class Push:
    subscription_id: int
    info: dict[str, Any]  # pywebpush's subscription_info
    payload: str


async def _claim(db: Database) -> list[Notification] | None:
    """The next notifications after the cursor, the cursor moved past them; None when there are none."""
    while True:
        async with db.transaction() as session:
            last = await session.scalar(select(PushCursor.last_id).where(PushCursor.id == 1))
            if last is None:  # the migration makes the row (after what existed then); an emptied table starts over
                conn = await session.connection()
                start = dialect_insert(conn, cast(Table, PushCursor.__table__)).values(id=1, last_id=0)
                await conn.execute(start.on_conflict_do_nothing())
                continue
            rows = list(
                await session.scalars(
                    select(Notification).where(Notification.id > last).order_by(Notification.id).limit(CLAIM_BATCH)
                )
            )
            if not rows:
                return None
            moved = await session.execute(
                update(PushCursor).where(PushCursor.id == 1, PushCursor.last_id == last).values(last_id=rows[-1].id)
            )
            if getattr(moved, "rowcount", 0) == 1:
                return [row for row in rows if row.kind in PUSHED_KINDS]
        # another sender claimed these first: look again after its cursor


async def _pushes(db: Database, notifications: list[Notification]) -> list[Push]:
    """Each notification, translated for each recipient, once per recipient's subscription."""
    if not notifications:
        return []
    orgs = {n.org_id for n in notifications}
    async with db.reader() as session:
        rows = (
            await session.execute(
                select(User.id, User.org_id, User.locale, PushSubscription)
                .join(PushSubscription, PushSubscription.user_id == User.id)
                .where(User.org_id.in_(orgs), User.active.is_(True))
            )
        ).all()
    pushes = []
    for notification in notifications:
        for user_id, org_id, locale, subscription in rows:
            if org_id != notification.org_id or notification.user_id not in (None, user_id):
                continue
            reader = locale or DEFAULT_LOCALE
            shown = show(notification, reader)
            payload = {
                "title": i18n.gettext(reader, N_("Partner incentives")),
                "body": shown.text,
                "url": shown.link or "/notifications",
                "tag": f"{notification.kind}-{notification.id}",
            }
            info = {
                "endpoint": subscription.endpoint,
                "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
            }
            pushes.append(Push(subscription.id, info, json.dumps(payload, ensure_ascii=False)))
    return pushes


def _send(keys: PushKeys, push: Push) -> int:
    """POST one encrypted push; the push service's status (201 when accepted)."""
    try:
        response = webpush(
            push.info,
            push.payload,
            vapid_private_key=Vapid.from_string(keys.private_key),
            vapid_claims={"sub": keys.subject},
            ttl=24 * 3600,
            timeout=TIMEOUT_SECONDS,
        )
    except WebPushException as error:
        return error.response.status_code if error.response is not None else 0
    except OSError:
        return 0
    return int(getattr(response, "status_code", 0))


async def push_pending(db: Database, keys: PushKeys | None, *, now: Callable[[], dt.datetime] = utcnow) -> int:
    """Send every notification after the cursor to its recipients' browsers; the number of pushes accepted."""
    if keys is None:
        return 0
    accepted = 0
    limit = asyncio.Semaphore(SEND_AT_ONCE)

    async def send(push: Push) -> tuple[Push, int]:
        async with limit:
            return push, await asyncio.to_thread(_send, keys, push)

    while (claimed := await _claim(db)) is not None:
        results = await asyncio.gather(*(send(push) for push in await _pushes(db, claimed)))
        gone = {push.subscription_id for push, status in results if status in GONE}
        delivered = {push.subscription_id for push, status in results if 200 <= status < 300}
        accepted += sum(1 for _, status in results if 200 <= status < 300)
        for push, status in results:
            if status not in GONE and not 200 <= status < 300:
                log.warning("web push to subscription %s failed with status %s", push.subscription_id, status)
        async with db.transaction() as session:
            if gone:
                await session.execute(delete(PushSubscription).where(PushSubscription.id.in_(gone)))
            if delivered:
                await session.execute(
                    update(PushSubscription).where(PushSubscription.id.in_(delivered)).values(last_pushed_at=now())
                )
    return accepted


def _keys_from_env() -> PushKeys | None:
    from incentives.config import Settings

    settings = Settings.from_env()
    return keys_from(settings.vapid_private_key, settings.vapid_subject)


def push_job() -> int:
    """The RQ job of the push channel."""
    outbox_job_started(PENDING_KEY)
    keys = _keys_from_env()
    return int(run_job(lambda db: push_pending(db, keys)))


def push_sender(db: Database, redis_url: str | None, keys: PushKeys | None) -> OutboxWaker:
    """The waker of the push channel: sends in-process without Redis, enqueues `push_job` with it."""

    async def send(db: Database) -> int:
        return await push_pending(db, keys)

    return OutboxWaker(db, send, redis_url=redis_url, channel=PUSH, job=PUSH_JOB, pending_key=PENDING_KEY)


@sweep("notifications.push")
async def push_sweep(db: Database, now: dt.datetime) -> int:
    """The safety net: pushes what a lost wake-up left after the cursor."""
    return await push_pending(db, _keys_from_env())
