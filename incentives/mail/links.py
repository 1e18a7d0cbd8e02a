"""Signed links in e-mails: one-click actions on a lead (`/a/{token}`) and one-click unsubscribe per kind.

An action token carries the user, the lead, the action, when it was issued and a nonce, signed with SECRET_KEY
(itsdangerous). It expires 7 days after issue, measured with the clock the caller passes; it acts once: using
it inserts its nonce into `mail_action_uses` in the transaction of the action, so of two clicks at once exactly
one inserts (the other finds the row, or waits for it on PostgreSQL's unique index) and only that one acts.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any, cast

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.db import dialect_insert
from incentives.mail.models import UsedActionLink
from incentives.mail.preferences import SETTING_OF_KIND

ACTIONS = ("reserve", "contacted", "meeting", "won", "lost", "not_reachable")
LIFETIME = dt.timedelta(days=7)
USES = cast(Table, UsedActionLink.__table__)


class LinkInvalid(Exception):
    """Tampered or not ours: answered as 404."""


class LinkGone(Exception):
    """Used or expired: answered as 410."""


@dataclass(frozen=True)
class ActionLink:
    user_id: int
    lead_id: int
    action: str
    issued_at: dt.datetime
    nonce: str

    def expired(self, now: dt.datetime) -> bool:
        return now >= self.issued_at + LIFETIME


def _actions(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt="incentives.mail.action")


def _unsubscribes(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt="incentives.mail.unsubscribe")


def action_token(secret: str, user_id: int, lead_id: int, action: str, now: dt.datetime) -> str:
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    payload = [user_id, lead_id, action, int(now.timestamp()), secrets.token_urlsafe(12)]
    return str(_actions(secret).dumps(payload))


def read_action(secret: str, token: str) -> ActionLink:
    """The link a token stands for; LinkInvalid when it is not one we signed. Use and expiry are the caller's."""
    try:
        payload: Any = _actions(secret).loads(token)
    except BadSignature as exc:
        raise LinkInvalid() from exc
    if not (isinstance(payload, list) and len(payload) == 5):
        raise LinkInvalid()
    user_id, lead_id, action, issued, nonce = payload
    if not (isinstance(user_id, int) and isinstance(lead_id, int) and isinstance(issued, int)) or action not in ACTIONS:
        raise LinkInvalid()
    return ActionLink(user_id, lead_id, str(action), dt.datetime.fromtimestamp(issued, dt.UTC), str(nonce))


async def use_action(session: AsyncSession, link: ActionLink, now: dt.datetime) -> None:
    """Mark the link used in the caller's transaction, before its action; LinkGone when expired or used already.
    A rollback of the action (it failed) leaves the link unused."""
    if link.expired(now):
        raise LinkGone()
    conn = await session.connection()
    inserted = await conn.execute(
        dialect_insert(conn, USES).on_conflict_do_nothing(index_elements=["nonce"]),
        {"nonce": link.nonce, "user_id": link.user_id, "lead_id": link.lead_id, "action": link.action, "used_at": now},
    )
    if getattr(inserted, "rowcount", 1) == 0:
        raise LinkGone()


async def was_used(session: AsyncSession, link: ActionLink) -> bool:
    return await session.get(UsedActionLink, link.nonce) is not None


def unsubscribe_token(secret: str, user_id: int, kind: str) -> str:
    return str(_unsubscribes(secret).dumps([user_id, kind]))


def read_unsubscribe(secret: str, token: str) -> tuple[int, str]:
    """(user id, e-mail kind) of an unsubscribe token; LinkInvalid when tampered. It never expires: an old
    e-mail's unsubscribe link must still work."""
    try:
        payload: Any = _unsubscribes(secret).loads(token)
    except BadSignature as exc:
        raise LinkInvalid() from exc
    if not (isinstance(payload, list) and len(payload) == 2 and isinstance(payload[0], int)):
        raise LinkInvalid()
    if payload[1] not in SETTING_OF_KIND:
        raise LinkInvalid()
    return payload[0], str(payload[1])
