"""The KPIs as a reader writes them, in the reader's language (pages, CSV labels and e-mails share this)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from babel.numbers import format_percent
from babel.units import format_unit

from incentives import i18n
from incentives.errors import N_
from incentives.reports.kpis import Kpis

NONE = "–"  # a figure with nothing to compute it from


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str  # N_() message id
    kind: str  # hours | days | share | money | index | count
    lower_is_better: bool = False


KPIS = (
    Kpi("ttp_hours", N_("TTP time to pick"), "hours", lower_is_better=True),
    Kpi("cr", N_("CR conversion rate"), "share"),
    Kpi("adt_days", N_("ADT average deal time"), "days", lower_is_better=True),
    Kpi("ads", N_("ADS average deal size"), "money"),
    Kpi("pli", N_("PLI pipeline index"), "index"),
    Kpi("feedback_rate", N_("Feedback rate"), "share"),
)
COUNTS = (
    Kpi("offered", N_("Offered"), "count"),
    Kpi("reserved", N_("Reserved"), "count"),
    Kpi("answered", N_("With feedback"), "count"),
    Kpi("won", N_("Won"), "count"),
    Kpi("lost", N_("Lost"), "count"),
    Kpi("returned", N_("Returned"), "count"),
    Kpi("unclaimed", N_("Unclaimed"), "count"),
)
BY_KEY = {kpi.key: kpi for kpi in (*KPIS, *COUNTS)}


def value_of(figures: Kpis, key: str) -> Any:
    return getattr(figures, key)


def number(value: Any) -> float | None:
    """A figure as a plain number (charts, CSV); None stays None."""
    if value is None:
        return None
    return round(float(value), 4)


def show(kind: str, value: Any, locale: str) -> str:
    if value is None:
        return NONE
    where = i18n.babel_locale(locale)
    if kind == "hours":
        return format_unit(round(value, 1), "duration-hour", length="long", locale=where)
    if kind == "days":
        return format_unit(round(value, 1), "duration-day", length="long", locale=where)
    if kind == "share":
        return format_percent(value, locale=where)
    if kind == "money":
        return i18n.format_money(Decimal(value), "EUR", locale)
    if kind == "index":
        return i18n.format_number(round(value), locale)
    return i18n.format_number(value, locale)


def show_kpi(figures: Kpis, key: str, locale: str) -> str:
    return show(BY_KEY[key].kind, value_of(figures, key), locale)


def change(kind: str, now: Any, before: Any, locale: str) -> tuple[str, float | None]:
    """The change against the previous period as signed text and as a number (None when either side has none).
    A share's change is shown in percentage points, as a signed percentage."""
    if now is None or before is None:
        return NONE, None
    delta = float(now) - float(before)
    sign = "+" if delta > 0 else ("−" if delta < 0 else "±")
    text = show(kind, abs(Decimal(str(delta))) if kind == "money" else abs(delta), locale)
    return f"{sign}{text}", delta
