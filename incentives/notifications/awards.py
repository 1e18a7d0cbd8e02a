"""A notice per award paid and per badge earned, for the notifications page and the toast on whatever page is open.

The rules processor calls `notify_awards` in the transaction that marks its decisions paid, so a notice is
kept exactly when its award is; with the awards' keys a replay adds no second notice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.db import dialect_insert
from incentives.errors import N_
from incentives.mail import outbox, preferences
from incentives.mail.outbox import Mail
from incentives.notifications.models import Notification
from incentives.notifications.services import notification_row, tell_open_pages

AWARD = "points.awarded"
ACHIEVEMENT = "achievement.earned"
# The kinds a partner's open page shows as a toast.
TOASTED = (AWARD, ACHIEVEMENT)
NOTIFICATIONS = cast(Table, Notification.__table__)
# Chosen when the notice is stored, translated when it is read; German and English agree on when "1" is singular.
ONE_POINT = N_("You earned 1 point: %(rule)s")
POINTS = N_("You earned %(points)s points: %(rule)s")

# (org id, points, rule name in German, in English, lead id or None)
PaidAward = tuple[int, int, str, str, int | None]


async def notify_awards(
    session: AsyncSession, program_id: int, paid: list[PaidAward], *, keys: Sequence[str] | None = None
) -> None:
    """Store one award notice per paid award for the whole org, in the caller's transaction. `keys` (the awards'
    idempotency keys, in the order of `paid`) make each notice once-only: a second call with a key adds nothing."""
    if keys is not None and len(keys) != len(paid):
        raise ValueError("one key per paid award")
    rows = [
        notification_row(
            program_id=program_id,
            org_id=org_id,
            kind=AWARD,
            message=ONE_POINT if points == 1 else POINTS,
            params={"points": {"points": points}, "rule": {"de": name_de, "en": name_en}},
            link=f"/leads/{lead_id}" if lead_id is not None else "/wallet",
            dedup_key=None if keys is None else f"award:{program_id}:{keys[index]}"[:200],
        )
        for index, (org_id, points, name_de, name_en, lead_id) in enumerate(paid)
        if points > 0
    ]
    if not rows:
        return
    conn = await session.connection()
    await conn.execute(dialect_insert(conn, NOTIFICATIONS).on_conflict_do_nothing(index_elements=["dedup_key"]), rows)
    tell_open_pages(session, rows)


BADGE = N_("You earned the badge %(badge)s!")
BADGE_WITH_POINTS = N_("You earned the badge %(badge)s and %(points)s points!")


@dataclass(frozen=True)
class EarnedBadge:
    program_id: int
    org_id: int
    key: str  # the earning's key: one notice per earning
    name_de: str
    name_en: str
    points: int | None


async def notify_achievements(session: AsyncSession, earned: Sequence[EarnedBadge]) -> None:
    """One notice per achievement earned, for the whole org, in the caller's transaction; once per earning key.
    Each of the org's users who wants it gets an e-mail too (once per earning key)."""
    rows = [
        notification_row(
            program_id=badge.program_id,
            org_id=badge.org_id,
            kind=ACHIEVEMENT,
            message=BADGE_WITH_POINTS if badge.points else BADGE,
            params={"badge": {"de": badge.name_de, "en": badge.name_en}, "points": {"points": badge.points or 0}},
            link="/achievements",
            dedup_key=f"badge:{badge.key}"[:200],
        )
        for badge in earned
    ]
    wanted = await preferences.recipients(session, {badge.org_id for badge in earned}, "achievement_earned")
    await outbox.queue_many(
        session,
        [
            Mail(
                user_id,
                "achievement_earned",
                badge.key,
                "achievement_earned",
                {"badge": {"de": badge.name_de, "en": badge.name_en}, "points": badge.points},
            )
            for badge in earned
            for user_id in wanted.get(badge.org_id, ())
        ],
    )
    if rows:
        conn = await session.connection()
        await conn.execute(
            dialect_insert(conn, NOTIFICATIONS).on_conflict_do_nothing(index_elements=["dedup_key"]), rows
        )
        tell_open_pages(session, rows)
