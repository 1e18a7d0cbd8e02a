"""Repeats of one notice shown once: "New leads on your pick list: 7", not seven rows of the same message."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from incentives import i18n
from incentives.notifications.models import Notification
from incentives.notifications.services import Shown, localize, show


@dataclass
class Group:
    """Notices of one kind, message and link with the same read state; `shown` is newest first."""

    ids: list[int]
    kind: str
    text: str
    link: str | None
    created_at: dt.datetime
    read: bool
    shown: list[Shown] = field(default_factory=list)
    summed: bool = False  # the counts of its notices add up in `text`

    @property
    def others(self) -> list[Shown]:
        """The older notices behind the group's text, listed under it (empty when their counts were summed)."""
        return self.shown[1:]


def group_notifications(notifications: list[Notification], locale: str) -> list[Group]:
    """Groups in the order of their newest notice. Notices that only count something (a `count` parameter and
    nothing else) add up into one text; others keep the newest text and list the older ones."""
    groups: dict[tuple[str, str, str | None, bool], Group] = {}
    totals: dict[tuple[str, str, str | None, bool], int | None] = {}  # None: not summable
    for notification in notifications:  # newest first
        read = notification.read_at is not None
        key = (notification.kind, notification.message, notification.link, read)
        shown = show(notification, locale)
        count = _count_only(notification)
        found = groups.get(key)
        if found is None:
            groups[key] = Group(
                [notification.id],
                notification.kind,
                shown.text,
                notification.link,
                notification.created_at,
                read,
                [shown],
            )
            totals[key] = count
        else:
            found.ids.append(notification.id)
            found.shown.append(shown)
            before = totals[key]
            totals[key] = None if before is None or count is None else before + count
    for key, found in groups.items():
        total = totals[key]
        if total is not None and len(found.ids) > 1:
            found.text = i18n.gettext(locale, key[1], count=localize(total, locale))
            found.shown = found.shown[:1]
            found.summed = True
    return list(groups.values())


def _count_only(notification: Notification) -> int | None:
    params = notification.params or {}
    value = params.get("count")
    if set(params) == {"count"} and isinstance(value, int) and not isinstance(value, bool):
        return value
    return None
