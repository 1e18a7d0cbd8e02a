"""The weekly report as an e-mail: subject, text part and HTML part in the recipient's language.

The HTML is written with a <style> block for the reader of the template and goes out with that CSS inlined
(css-inline): many mail clients drop <style>. No scripts, no images; the bar chart is a table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import css_inline
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from incentives import i18n
from incentives.accounts.roles import TIER_LABELS
from incentives.errors import N_
from incentives.reports import figures
from incentives.reports.figures import KPIS
from incentives.reports.kpis import Kpis
from incentives.reports.weekly import WeeklyReport

TEMPLATES = Path(__file__).resolve().parent / "templates"
_INLINER = css_inline.CSSInliner(keep_style_tags=False, load_remote_stylesheets=False)


# One environment: select_autoescape escapes the .html template and leaves the text part as written.
_ENV = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    extensions=["jinja2.ext.i18n"],
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=StrictUndefined,
)


def _kpi_rows(report: WeeklyReport, locale: str) -> list[dict[str, Any]]:
    """Each KPI this week, last week and across the program, as text, with the share of the larger for a bar."""
    rows = []
    for kpi in KPIS:
        mine, last, program = (
            figures.value_of(found, kpi.key) for found in (report.kpis, report.last_week, report.program)
        )
        change, _ = figures.change(kpi.kind, mine, last, locale)
        rows.append(
            {
                "label": i18n.gettext(locale, kpi.label),
                "mine": figures.show(kpi.kind, mine, locale),
                "last": figures.show(kpi.kind, last, locale),
                "change": change,
                "program": figures.show(kpi.kind, program, locale),
            }
        )
    return rows


def _bars(report: WeeklyReport, locale: str) -> list[dict[str, Any]]:
    top = max((count for _, count in report.history), default=0)
    return [
        {
            "week": i18n.format_date(start, locale, "short"),
            "count": i18n.format_number(count, locale),
            "width": round(100 * count / top) if top else 0,
        }
        for start, count in report.history
    ]


def _counts(found: Kpis, locale: str) -> dict[str, str]:
    return {
        key: figures.show("count", getattr(found, key), locale)
        for key in ("reserved", "won", "lost", "unclaimed", "offered")
    }


def context(report: WeeklyReport, base_url: str) -> dict[str, Any]:
    locale = report.recipient.locale
    program = f"program_id={report.program_id}"
    rep = report.recipient.role == "reseller_rep"
    return {
        "r": report,
        "locale": locale,
        "week_label": i18n.gettext(
            locale, N_("Week %(number)s of %(year)s"), number=report.week.number, year=report.week.year
        ),
        "first_day": i18n.format_date(report.week.start, locale),
        "last_day": i18n.format_date(report.week.last_moment, locale),
        "kpi_rows": _kpi_rows(report, locale),
        "bars": _bars(report, locale),
        "counts": _counts(report.kpis, locale),
        "tier_label": lambda tier: i18n.gettext(locale, TIER_LABELS[tier]) if tier in TIER_LABELS else tier,
        "show": lambda kind, value: figures.show(kind, value, locale),
        "flag_label": lambda flag: i18n.gettext(locale, flag),  # a farming flag: an N_() message id
        "number": lambda value: i18n.format_number(value, locale),
        "date": lambda value: i18n.format_date(value, locale),
        "dashboard": f"{base_url}/leads/mine" if rep else f"{base_url}/kpis?{program}",
        "farming_url": f"{base_url}/rules/farming",
        "home": f"{base_url}/",
        "lead_url": lambda lead_id: f"{base_url}/leads/{lead_id}",
        "base_url": base_url,
    }


def render(report: WeeklyReport, base_url: str) -> tuple[str, str, str]:
    """(subject, text, html) of one recipient's report; `base_url` is the settings' BASE_URL."""
    locale = report.recipient.locale
    values = context(report, base_url)
    translations = i18n.translations(locale)
    subject = i18n.gettext(
        locale, N_("%(program)s: your weekly report, %(week)s"), program=report.program_name, week=values["week_label"]
    )
    _ENV.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
    text = _ENV.get_template("weekly.txt").render(subject=subject, **values)
    html = _ENV.get_template("weekly.html").render(subject=subject, **values)
    return subject, text, _INLINER.inline(html)
