"""Notify an org or a user inside the caller's transaction; list, count and mark read; translate for display.

A notification keeps its message id and parameters, not text: it is translated when shown, in the
reader's language. Parameters may be plain values or localizable ones:
`{"de": ..., "en": ...}` (a name in both languages), `{"points": n}`, `{"amount": "12.50", "currency": "EUR"}`
or `{"date": "2026-01-31T00:00:00+00:00"}`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, func, or_, select, update
from sqlalchemy import insert as sa_insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from incentives import i18n, live
from incentives.accounts.scope import Principal
from incentives.db import utcnow
from incentives.jobs import wake_after_commit
from incentives.notifications.models import Notification

__all__ = [
    "Shown",
    "add_notification",
    "add_notifications",
    "list_notifications",
    "localize",
    "mark_read",
    "notification_row",
    "notify",
    "show",
    "tell_open_pages",
    "unread_count",
]

NOTIFICATIONS = cast(Table, Notification.__table__)
# Kinds a browser may also get as a Web Push (notifications/push.py sends them on the `push` channel).
PUSHED_KINDS = frozenset({"lead_offered", "feedback_due", "feedback_overdue"})
PUSH = "push"
# Built once (a notification goes with every decision): Core statements on the session's connection.
_INSERT = sa_insert(NOTIFICATIONS)
_INSERT_ONCE = {
    "postgresql": pg_insert(NOTIFICATIONS).on_conflict_do_nothing(index_elements=["dedup_key"]),
    "sqlite": sqlite_insert(NOTIFICATIONS).on_conflict_do_nothing(index_elements=["dedup_key"]),
}


async def notify(
    session: AsyncSession,
    *,
    program_id: int,
    org_id: int,
    kind: str,
    message: str,
    params: dict[str, Any] | None = None,
    user_id: int | None = None,
    link: str | None = None,
    dedup_key: str | None = None,
) -> None:
    """Store a notification in the caller's transaction. With `dedup_key`, a second call is a no-op."""
    values = notification_row(
        program_id=program_id,
        org_id=org_id,
        kind=kind,
        message=message,
        params=params,
        user_id=user_id,
        link=link,
        dedup_key=dedup_key,
    )
    conn = await session.connection()
    await conn.execute(_INSERT if dedup_key is None else _INSERT_ONCE[conn.dialect.name], values)
    tell_open_pages(session, [values])


async def add_notification(session: AsyncSession, row: dict[str, Any]) -> None:
    """One notification of `notification_row` (no dedup key) in the caller's transaction."""
    conn = await session.connection()
    await conn.execute(_INSERT, row)
    tell_open_pages(session, [row])


def notification_row(
    *,
    program_id: int,
    org_id: int,
    kind: str,
    message: str,
    params: dict[str, Any] | None = None,
    user_id: int | None = None,
    link: str | None = None,
    dedup_key: str | None = None,
) -> dict[str, Any]:
    """The values of one notification, for `notify` or for many at once with `add_notifications`."""
    return {
        "program_id": program_id,
        "org_id": org_id,
        "user_id": user_id,
        "kind": kind,
        "message": message,
        "params": params or {},
        "link": link,
        "dedup_key": dedup_key,
        "created_at": utcnow(),
    }


async def add_notifications(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Many notifications without dedup keys in one statement (a sweep's batch)."""
    if rows:
        await session.execute(sa_insert(Notification), rows)
        tell_open_pages(session, rows)


def tell_open_pages(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """After the commit, the open pages of the notified orgs refresh their header (balance, toasts, count)."""
    live.notify_after_commit(
        session, [live.Notice(live.org_topic(org), "pulse") for org in {r["org_id"] for r in rows}]
    )
    if any(r["kind"] in PUSHED_KINDS for r in rows):
        wake_after_commit(session, PUSH)  # and the browsers that allowed it get a push (notifications/push.py)


def _mine(principal: Principal) -> ColumnElement[bool]:
    return and_(
        Notification.org_id == principal.org_id,
        or_(Notification.user_id.is_(None), Notification.user_id == principal.user_id),
    )


async def list_notifications(session: AsyncSession, principal: Principal, *, limit: int = 50) -> list[Notification]:
    rows = await session.scalars(
        select(Notification).where(_mine(principal)).order_by(Notification.id.desc()).limit(limit)
    )
    return list(rows)


async def unread_count(session: AsyncSession, principal: Principal) -> int:
    count = await session.scalar(
        select(func.count()).select_from(Notification).where(_mine(principal), Notification.read_at.is_(None))
    )
    return int(count or 0)


async def mark_read(session: AsyncSession, principal: Principal, ids: list[int] | None = None) -> int:
    """Mark the principal's notifications read (all, or those of `ids`); others' ids change nothing."""
    statement = update(Notification).where(_mine(principal), Notification.read_at.is_(None))
    if ids is not None:
        statement = statement.where(Notification.id.in_(ids))
    result = await session.execute(statement.values(read_at=utcnow()))
    changed = int(getattr(result, "rowcount", 0) or 0)
    if changed:  # org-wide notices are read for the whole org: every open page's count changes
        live.notify_after_commit(session, [live.Notice(live.org_topic(principal.org_id), "pulse")])
    return changed


@dataclass(frozen=True)
class Shown:
    id: int
    kind: str
    text: str
    link: str | None
    created_at: dt.datetime
    read: bool


def localize(value: Any, locale: str) -> Any:
    """One parameter in the reader's language and number format."""
    if isinstance(value, dict):
        if locale in value or "en" in value:
            return value.get(locale) or value.get("en") or ""
        if "points" in value:
            return i18n.format_number(int(value["points"]), locale)
        if "amount" in value:
            return i18n.format_money(Decimal(str(value["amount"])), str(value.get("currency", "EUR")), locale)
        if "date" in value:
            return i18n.format_date(dt.datetime.fromisoformat(str(value["date"])), locale)
    if isinstance(value, int) and not isinstance(value, bool):
        return i18n.format_number(value, locale)
    return value


def show(notification: Notification, locale: str) -> Shown:
    params = {key: localize(value, locale) for key, value in (notification.params or {}).items()}
    return Shown(
        id=notification.id,
        kind=notification.kind,
        text=i18n.gettext(locale, notification.message, **params),
        link=notification.link,
        created_at=notification.created_at,
        read=notification.read_at is not None,
    )
