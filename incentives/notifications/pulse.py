"""The live header of a partner's pages: its balance per program and the award toasts it has not seen yet.

Polled every 2 s by a small fragment (web/pulse.py) until server-sent events replace polling. A user sees each
award notice of its org once as a toast, on the first page that asks after the award is paid; notices older
than `TOAST_WINDOW` are only kept on the notifications page, so a return after a week brings no flood.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts.models import Membership, Program
from incentives.accounts.scope import Principal
from incentives.db import dialect_insert
from incentives.ledger import queries as ledger_queries
from incentives.notifications.awards import TOASTED
from incentives.notifications.models import Notification, ToastCursor
from incentives.notifications.services import unread_count

CURSORS = cast(Table, ToastCursor.__table__)
TOAST_WINDOW = dt.timedelta(minutes=10)
MAX_TOASTS = 5


@dataclass(frozen=True)
class HeaderBalance:
    program_id: int
    program: str
    available: int


@dataclass(frozen=True)
class Pulse:
    balances: list[HeaderBalance]
    toasts: list[Notification]  # oldest first
    unread: int = 0  # notifications the user has not read: the count beside the header balance

    def etag(self, locale: str) -> str:
        """Changes whenever what the fragment shows would change."""
        state = [
            locale,
            f"unread:{self.unread}",
            *(f"{b.program_id}:{b.available}" for b in self.balances),
            *(str(t.id) for t in self.toasts),
        ]
        return '"' + hashlib.sha256("|".join(state).encode()).hexdigest()[:32] + '"'


async def pulse(session: AsyncSession, principal: Principal, now: dt.datetime) -> Pulse:
    """The principal's org's available points in each of its programs, and its unseen award toasts."""
    programs = await session.execute(
        select(Program.id, Program.name)
        .join(Membership, Membership.program_id == Program.id)
        .where(Membership.org_id == principal.org_id)
        .order_by(Program.id)
    )
    balances = [
        HeaderBalance(program_id, name, (await ledger_queries.balance(session, program_id, principal.org_id)).available)
        for program_id, name in programs.all()
    ]
    seen = await session.scalar(select(ToastCursor.last_id).where(ToastCursor.user_id == principal.user_id)) or 0
    toasts = await session.scalars(
        select(Notification)
        .where(
            Notification.org_id == principal.org_id,
            or_(Notification.user_id.is_(None), Notification.user_id == principal.user_id),
            Notification.kind.in_(TOASTED),
            Notification.id > seen,
            Notification.created_at >= now - TOAST_WINDOW,
        )
        .order_by(Notification.id)
        .limit(MAX_TOASTS)
    )
    return Pulse(balances, list(toasts), await unread_count(session, principal))


async def mark_toasted(session: AsyncSession, user_id: int, last_id: int) -> None:
    """The user has seen the toasts up to notice `last_id`; the mark never moves back (two tabs may race)."""
    conn = await session.connection()
    await conn.execute(
        dialect_insert(conn, CURSORS).on_conflict_do_nothing(index_elements=["user_id"]),
        {"user_id": user_id, "last_id": 0},
    )
    await session.execute(
        update(ToastCursor).where(ToastCursor.user_id == user_id, ToastCursor.last_id < last_id).values(last_id=last_id)
    )
