"""The public way to send an e-mail: queue it in the caller's transaction; the sender renders and sends it after
the commit (a rollback queues nothing).

    await outbox.queue(session, user_id=7, kind="new_lead", key="lead:42", template="new_lead",
                       context={"lead": {...}})

`key` names the subject of the e-mail within its kind and user: the same (kind, user, key) is queued once,
whoever queues it how often. `template` is a file of incentives/mail/templates (without ".html"), or
"package:name" for a template another package keeps in its own `mail_templates` folder (the weekly report's);
it is rendered when sent, in the user's language, with `context` (JSON values only) and the link helpers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.db import dialect_insert, utcnow
from incentives.jobs import wake_after_commit
from incentives.mail.models import MailStatus, OutboxMail
from incentives.mail.preferences import SETTING_OF_KIND

__all__ = ["KINDS", "MAIL", "TRANSACTIONAL_KINDS", "Mail", "queue", "queue_many", "queue_to_address"]

# E-mails a person asked for by what they did (a password reset) or that a program sends once (an invitation):
# no setting turns them off, so they carry no unsubscribe link.
TRANSACTIONAL_KINDS = ("invitation", "password_reset")
# Every kind of e-mail; each other kind has a setting that turns it off (preferences.SETTING_OF_KIND).
KINDS = (*SETTING_OF_KIND, *TRANSACTIONAL_KINDS)
# The wake-up channel of the sender (see incentives.jobs.wake_after_commit).
MAIL = "mail"
OUTBOX = cast(Table, OutboxMail.__table__)


@dataclass(frozen=True)
class Mail:
    user_id: int | None
    kind: str
    key: str
    template: str
    context: dict[str, Any] = field(default_factory=dict)
    not_before: dt.datetime | None = None  # send no earlier (a digest's hour); default: at once
    # Without a user: the address to send to, and in which language.
    address: str | None = None
    locale: str | None = None


def dedupe_key(kind: str, user_id: int | str, key: str) -> str:
    return f"{kind}:{user_id}:{key}"[:300]


async def queued_before(session: AsyncSession, kind: str, key: str, user_ids: Iterable[int]) -> set[int]:
    """Which of the users have e-mail (`kind`, `key`) queued already (one query): a costly e-mail need not be
    built again to be refused by its key."""
    wanted = {dedupe_key(kind, user_id, key): user_id for user_id in user_ids}
    if not wanted:
        return set()
    found = await session.scalars(select(OutboxMail.dedupe_key).where(OutboxMail.dedupe_key.in_(wanted)))
    return {wanted[found_key] for found_key in found}


async def queue(
    session: AsyncSession,
    *,
    user_id: int,
    kind: str,
    key: str,
    template: str,
    context: dict[str, Any] | None = None,
) -> int:
    """Queue one e-mail in the caller's transaction; 1 when queued, 0 when it was queued before."""
    return await queue_many(session, [Mail(user_id, kind, key, template, context or {})])


async def queue_to_address(
    session: AsyncSession,
    *,
    address: str,
    locale: str,
    kind: str,
    key: str,
    template: str,
    context: dict[str, Any] | None = None,
) -> int:
    """Queue one transactional e-mail to an address that has no user yet (an invitation to sign up)."""
    if kind not in TRANSACTIONAL_KINDS:
        raise ValueError(f"only transactional e-mails go to an address without a user, not {kind!r}")
    return await queue_many(session, [Mail(None, kind, key, template, context or {}, address=address, locale=locale)])


async def queue_many(session: AsyncSession, mails: Sequence[Mail]) -> int:
    """Queue many e-mails in one statement (a sweep's batch); how many were new."""
    if not mails:
        return 0
    for mail in mails:
        if mail.kind not in KINDS:
            raise ValueError(f"unknown e-mail kind {mail.kind!r}")
    now = utcnow()
    rows = [
        {
            "kind": mail.kind,
            "user_id": mail.user_id,
            "address": mail.address,
            "locale": mail.locale,
            "dedupe_key": dedupe_key(
                mail.kind, mail.user_id if mail.user_id is not None else str(mail.address), mail.key
            ),
            "template": mail.template,
            "context": mail.context,
            "status": MailStatus.PENDING,
            "attempts": 0,
            "next_attempt_at": mail.not_before or now,
            "created_at": now,
        }
        for mail in mails
    ]
    conn = await session.connection()
    # RETURNING names the rows really inserted: an executemany's rowcount is not reliable across drivers.
    insert = dialect_insert(conn, OUTBOX).on_conflict_do_nothing(index_elements=["dedupe_key"])
    result = await conn.execute(insert.returning(OUTBOX.c.id), rows)
    wake_after_commit(session, MAIL)
    return len(result.all())
