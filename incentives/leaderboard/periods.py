"""The periods a leaderboard counts points in, keyed as the rollup stores them.

Weeks, months and quarters begin at midnight in Europe/Berlin, where the program's partners work (the weekly
report goes out on Monday morning there too); "all" never ends; a campaign's board counts its awards.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from incentives.errors import N_, FieldError, ValidationFailed
from incentives.local_time import LOCAL

KINDS = ("week", "month", "quarter", "all")
ALL = "all"


@dataclass(frozen=True)
class Period:
    """A period as the API names it (`week`, `campaign:7`, ...) and the rollup key it has at a moment."""

    kind: str
    key: str
    campaign_id: int | None = None

    @property
    def name(self) -> str:
        return f"campaign:{self.campaign_id}" if self.campaign_id is not None else self.kind


def key_of(kind: str, at: dt.datetime) -> str:
    local = at.astimezone(LOCAL)
    if kind == "week":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    if kind == "month":
        return f"{local.year}-{local.month:02d}"
    if kind == "quarter":
        return f"{local.year}-Q{(local.month - 1) // 3 + 1}"
    return ALL


def keys_at(at: dt.datetime) -> list[str]:
    """Every calendar period's key that a transfer at `at` counts in."""
    return [key_of(kind, at) for kind in KINDS]


def previous(period: Period, now: dt.datetime) -> Period | None:
    """The period of the same kind before the current one (for "most improved"); None for all and campaigns."""
    if period.kind not in ("week", "month", "quarter"):
        return None
    local = now.astimezone(LOCAL)
    if period.kind == "week":
        before = local - dt.timedelta(days=7)
    else:
        months = 1 if period.kind == "month" else 3
        first = local.replace(day=1)
        month_index = first.month - 1 - months
        before = first.replace(year=first.year + month_index // 12, month=month_index % 12 + 1)
    return Period(period.kind, key_of(period.kind, before))


def parse(value: str | None, now: dt.datetime) -> Period:
    """`?period=` of the API and the page: week (default), month, quarter, all or campaign:{id}."""
    value = value or "week"
    if value in KINDS:
        return Period(value, key_of(value, now))
    prefix, _, raw_id = value.partition(":")
    if prefix == "campaign" and raw_id.isascii() and raw_id.isdigit() and len(raw_id) <= 9:
        return Period("campaign", f"campaign:{int(raw_id)}", int(raw_id))
    raise ValidationFailed(
        [
            FieldError(
                ("query", "period"),
                N_("Must be one of: %(expected)s."),
                expected="week, month, quarter, all, campaign:{id}",
            )
        ]
    )
