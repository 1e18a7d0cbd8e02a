"""Each user's e-mail settings: read with defaults, changed in the caller's transaction, and asked in bulk by
the domains that queue e-mail ("which of these users want this kind?")."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts.models import User
from incentives.db import dialect_insert, utcnow
from incentives.mail.models import MailSettings

NEW_LEADS_CHOICES = ("instant", "daily", "off")
SETTINGS = cast(Table, MailSettings.__table__)
# The setting that turns each e-mail kind off (the one-click unsubscribe of that kind flips it).
SETTING_OF_KIND = {
    "new_lead": "email_new_leads",
    "new_leads_digest": "email_new_leads",
    "feedback_due": "email_feedback_reminders",
    "feedback_overdue": "email_feedback_reminders",
    "weekly_report": "email_weekly_report",
    "redemption_decided": "email_redemptions",
    "achievement_earned": "email_achievements",
}
OFF: dict[str, Any] = {
    "email_new_leads": "off",
    "email_feedback_reminders": False,
    "email_weekly_report": False,
    "email_redemptions": False,
    "email_achievements": False,
}


@dataclass(frozen=True)
class Preferences:
    # New offers at once (one e-mail per lead) by default: the first partner to reserve gets the lead.
    email_new_leads: str = "instant"
    email_feedback_reminders: bool = True
    email_weekly_report: bool = True
    email_redemptions: bool = True
    email_achievements: bool = True

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULTS = Preferences()


async def preferences_of(session: AsyncSession, user_id: int) -> Preferences:
    row = await session.get(MailSettings, user_id)
    return DEFAULTS if row is None else _preferences(row)


def _preferences(row: MailSettings) -> Preferences:
    return Preferences(
        email_new_leads=row.email_new_leads,
        email_feedback_reminders=row.email_feedback_reminders,
        email_weekly_report=row.email_weekly_report,
        email_redemptions=row.email_redemptions,
        email_achievements=row.email_achievements,
    )


async def change_preferences(session: AsyncSession, user_id: int, changes: dict[str, Any]) -> Preferences:
    """Apply `changes` (already validated field names and values) in the caller's transaction."""
    unknown = set(changes) - set(asdict(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown settings: {sorted(unknown)}")
    current = (await preferences_of(session, user_id)).as_dict()
    values = {**current, **changes, "user_id": user_id, "updated_at": utcnow()}
    conn = await session.connection()
    insert = dialect_insert(conn, SETTINGS)
    updated = {key: insert.excluded[key] for key in (*changes, "updated_at")}
    await conn.execute(insert.on_conflict_do_update(index_elements=["user_id"], set_=updated), values)
    session.expire_all()  # a MailSettings row read before is stale now
    return Preferences(**{key: values[key] for key in asdict(DEFAULTS)})


async def unsubscribe(session: AsyncSession, user_id: int, kind: str) -> str:
    """Turn off the setting behind e-mail `kind` for the user; the setting's name."""
    setting = SETTING_OF_KIND[kind]
    await change_preferences(session, user_id, {setting: OFF[setting]})
    return setting


async def recipients(
    session: AsyncSession, org_ids: Iterable[int], kind: str, *, new_leads: str = "instant"
) -> dict[int, list[int]]:
    """The ids of the active users of each org who want e-mail `kind`. For the new-lead
    kinds, `new_leads` says which choice counts (instant e-mails or the daily digest)."""
    orgs = set(org_ids)
    if not orgs:
        return {}
    setting = SETTING_OF_KIND[kind]
    column = getattr(MailSettings, setting)
    rows = await session.execute(
        select(User.org_id, User.id, column)
        .outerjoin(MailSettings, MailSettings.user_id == User.id)
        .where(User.org_id.in_(orgs), User.active.is_(True))
        .order_by(User.org_id, User.id)
    )
    default = getattr(DEFAULTS, setting)
    found: dict[int, list[int]] = {}
    for org_id, user_id, value in rows:
        value = default if value is None else value
        wanted = value == new_leads if setting == "email_new_leads" else bool(value)
        if wanted:
            found.setdefault(org_id, []).append(user_id)
    return found


def wants(prefs: Preferences, kind: str) -> bool:
    value = getattr(prefs, SETTING_OF_KIND[kind])
    return value == "instant" if kind == "new_lead" else value == "daily" if kind == "new_leads_digest" else bool(value)


async def still_wanted(session: AsyncSession, mails: Iterable[tuple[int, str]]) -> set[tuple[int, str]]:
    """Which (user, kind) pairs the users still want now, read in one query: a setting turned off after an
    e-mail was queued stops it before it is sent."""
    pairs = set(mails)
    rows = await session.scalars(select(MailSettings).where(MailSettings.user_id.in_({user for user, _ in pairs})))
    prefs = {row.user_id: _preferences(row) for row in rows}
    return {(user, kind) for user, kind in pairs if _not_off(prefs.get(user, DEFAULTS), kind)}


def _not_off(prefs: Preferences, kind: str) -> bool:
    """At sending time only "off" stops an e-mail: a digest queued before its reader switched to instant
    e-mails still goes (once), but a new-lead e-mail of a reader who chose none does not."""
    if kind not in SETTING_OF_KIND:
        return True
    value = getattr(prefs, SETTING_OF_KIND[kind])
    return value != "off" if SETTING_OF_KIND[kind] == "email_new_leads" else bool(value)


async def turned_off(session: AsyncSession, user_ids: Iterable[int], kind: str) -> set[int]:
    """Which of the users turned e-mail `kind` off (one query; a user without settings keeps the defaults)."""
    ids = set(user_ids)
    if not ids:
        return set()
    rows = await session.scalars(select(MailSettings).where(MailSettings.user_id.in_(ids)))
    return {row.user_id for row in rows if not _not_off(_preferences(row), kind)}


async def user_wants(session: AsyncSession, user_id: int, kind: str) -> bool:
    return wants(await preferences_of(session, user_id), kind)
