"""The KPI dashboard's sections: what each fragment shows, and the same rows as CSV with the filters applied."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from incentives import i18n
from incentives.errors import N_
from incentives.reports import dashboard, figures
from incentives.reports.figures import COUNTS, KPIS
from incentives.reports.kpis import Kpis, kpis, previous, weekly_kpis
from incentives.web import spreadsheet

if TYPE_CHECKING:
    from incentives.web.kpis import View

SECTIONS = ("tiles", "series", "funnel", "scorecards", "campaigns", "liability", "unclaimed")
PAGE_SIZE = 25
SORTS = ("name", "reserved", "cr", "ttp_hours", "feedback_rate", "pli", "points", "overdue")
MIN_WEEKS, MAX_WEEKS = 4, 26


async def section_context(
    session: AsyncSession, name: str, view: View, request: Request, *, everything: bool = False
) -> dict[str, Any]:
    locale = request.state.locale
    if name == "tiles":
        now = await kpis(session, view.program_id, view.scope, view.start, view.end)
        before = await kpis(session, view.program_id, view.scope, *previous(view.start, view.end))
        return {"tiles": _tiles(now, before, locale)}
    if name == "series":
        return await _series(session, view, locale)
    if name == "funnel":
        found = await kpis(session, view.program_id, view.scope, view.start, view.end)
        return {"steps": _funnel(found, locale)}
    if name == "scorecards":
        return await _scorecards(session, view, request, everything)
    if name == "campaigns":
        return {
            "campaigns": await dashboard.campaign_returns(session, view.program_id, view.scope, view.start, view.end)
        }
    if name == "liability":
        return {"liability": await dashboard.points_liability(session, view.program_id, view.scope, view.now)}
    return {"groups": await dashboard.unclaimed_leads(session, view.program_id, view.start, view.end)}


def _tiles(now: Kpis, before: Kpis, locale: str) -> list[dict[str, Any]]:
    tiles = []
    for kpi in (*KPIS, COUNTS[1], COUNTS[3]):
        value, old = figures.value_of(now, kpi.key), figures.value_of(before, kpi.key)
        text, delta = figures.change(kpi.kind, value, old, locale)
        better = None if not delta else (delta < 0) == kpi.lower_is_better
        tiles.append({"kpi": kpi, "value": figures.show(kpi.kind, value, locale), "change": text, "better": better})
    return tiles


def _weeks(view: View) -> tuple[dt.datetime, int]:
    weeks = min(MAX_WEEKS, max(MIN_WEEKS, -(-(view.end - view.start).days // 7)))
    return view.end - dt.timedelta(days=7 * weeks), weeks


async def _series(session: AsyncSession, view: View, locale: str) -> dict[str, Any]:
    start, weeks = _weeks(view)
    found = await weekly_kpis(session, view.program_id, view.scope, start, weeks)
    labels = [i18n.format_date(week, locale, "short") for week, _ in found]
    shown = [kpi for kpi in KPIS if kpi.key != "pli"] + [COUNTS[1]]  # PLI is a snapshot: no history
    charts = []
    for kpi in shown:
        values = [figures.number(figures.value_of(row, kpi.key)) for _, row in found]
        if kpi.kind == "share":
            values = [None if v is None else round(v * 100, 1) for v in values]
        label = i18n.gettext(locale, kpi.label)
        data = {"labels": labels, "values": values, "label": label}
        charts.append({"kpi": kpi, "data": json.dumps(data, ensure_ascii=False)})
    rows = [
        {"week": label, "cells": [figures.show(kpi.kind, figures.value_of(row, kpi.key), locale) for kpi in shown]}
        for label, (_, row) in zip(labels, found, strict=True)
    ]
    return {"charts": charts, "shown": shown, "rows": rows}


def _funnel(found: Kpis, locale: str) -> list[dict[str, Any]]:
    steps = [("offered", found.offered), ("reserved", found.reserved), ("answered", found.answered)]
    steps += [("won", found.won), ("lost", found.lost)]
    top = max((count for _, count in steps if count), default=0)
    out = []
    before: int | None = None
    for key, count in steps:
        share = None if count is None or not top else count / top
        # Drop-off from the step before; won and lost both follow "with feedback".
        base = found.answered if key in ("won", "lost") else before
        kept = None if count is None or not base else count / base
        out.append(
            {
                "kpi": figures.BY_KEY[key],
                "count": count,
                "width": share,
                "kept": kept,
                "shown": figures.show("share", kept, locale),
            }
        )
        if key not in ("won", "lost"):
            before = count
    return out


def _sort_value(card: dashboard.Scorecard, key: str) -> Any:
    if key == "name":
        return card.name.casefold()
    if key in ("points", "overdue"):
        return getattr(card, key)
    return figures.value_of(card.kpis, key)


async def _scorecards(session: AsyncSession, view: View, request: Request, everything: bool) -> dict[str, Any]:
    params = request.query_params
    cards = await dashboard.scorecards(session, view.program_id, view.scope, view.start, view.end, view.now)
    q = (params.get("q") or "").strip()[:100]
    if q:
        cards = [card for card in cards if q.casefold() in card.name.casefold()]
    sort = str(params.get("sort")) if params.get("sort") in SORTS else "name"
    descending = params.get("dir") == "desc"
    known = [c for c in cards if _sort_value(c, sort) is not None]
    unknown = [c for c in cards if _sort_value(c, sort) is None]  # "–" rows go last either way
    known.sort(key=lambda c: _sort_value(c, sort), reverse=descending)
    cards = known + unknown
    pages = max(1, -(-len(cards) // PAGE_SIZE))
    page = min(pages, max(1, int(params.get("page", "1")) if (params.get("page") or "").isdigit() else 1))
    shown = cards if everything else cards[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    return {
        "cards": shown,
        "total": len(cards),
        "page": page,
        "pages": pages,
        "q": q,
        "sort": sort,
        "dir": "desc" if descending else "asc",
        "reps": view.scope.kind in ("partner", "rep"),
        "show": figures.show_kpi,
    }


# --- CSV ----------------------------------------------------------------------------------------------------


def csv_response(name: str, view: View, context: dict[str, Any], locale: str) -> Response:
    """The section's rows as CSV: translated headers, plain numbers (a dot for decimals) for spreadsheets."""
    t = i18n.translations(locale).gettext
    header, rows = _csv_rows(name, context, t)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([[spreadsheet.cell(value) for value in row] for row in rows])
    filename = f"kpis-{name}-{view.start.date().isoformat()}-{view.last_day.isoformat()}.csv"
    return Response(
        "\ufeff" + out.getvalue(),  # a BOM, so spreadsheet programs read UTF-8
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Content-Language": locale},
    )


def _card_cells(card: dashboard.Scorecard) -> list[Any]:
    found = card.kpis
    counts = [found.reserved, found.won, found.lost, found.returned, card.points, card.overdue]
    return [card.name, card.tier, *_kpi_cells(found), *counts]


def _kpi_cells(found: Kpis) -> list[Any]:
    return [figures.number(figures.value_of(found, kpi.key)) for kpi in KPIS]


def _csv_rows(name: str, context: dict[str, Any], t: Any) -> tuple[list[str], list[list[Any]]]:
    kpi_names = [t(kpi.label) for kpi in KPIS]
    if name == "tiles":
        return [t(N_("KPI")), t(N_("Value")), t(N_("Change"))], [
            [t(tile["kpi"].label), tile["value"], tile["change"]] for tile in context["tiles"]
        ]
    if name == "series":
        return [t(N_("Week")), *[t(kpi.label) for kpi in context["shown"]]], [
            [row["week"], *row["cells"]] for row in context["rows"]
        ]
    if name == "funnel":
        return [t(N_("Step")), t(N_("Leads")), t(N_("Kept from the step before"))], [
            [t(step["kpi"].label), step["count"], figures.number(step["kept"])] for step in context["steps"]
        ]
    if name == "scorecards":
        header = [t(N_("Name")), t(N_("Tier")), *kpi_names]
        header += [t(N_("Reserved")), t(N_("Won")), t(N_("Lost")), t(N_("Returned"))]
        header += [t(N_("Points")), t(N_("Overdue feedback"))]
        return header, [_card_cells(card) for card in context["cards"]]
    if name == "campaigns":
        header = [t(N_("Campaign")), t(N_("Starts")), t(N_("Ends")), t(N_("Points paid"))]
        header += [t(N_("EUR paid")), t(N_("Won deals")), t(N_("Won deal value (EUR)"))]
        return header, [
            [c.name_en, c.starts_at.isoformat(), c.ends_at.isoformat(), c.points, c.eur, c.won, c.won_value]
            for c in context["campaigns"]
        ]
    if name == "liability":
        found = context["liability"]
        rows: list[list[Any]] = [[t(N_("Outstanding points")), found.outstanding.points]]
        for kind in found.eur_per_point:
            rows.append([t(N_("EUR if redeemed as %(kind)s")) % {"kind": kind}, found.eur(kind)])
        rows += [
            [t(N_("Expiring before %(date)s")) % {"date": b.date().isoformat()}, p]
            for b, p in found.outstanding.expiring_before
        ]
        return [t(N_("Figure")), t(N_("Value"))], rows
    return [t(N_("Country")), t(N_("Region")), t(N_("Product line")), t(N_("Leads"))], [
        [g.country, g.region, g.product_line, g.leads] for g in context["groups"]
    ]
