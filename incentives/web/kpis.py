"""The KPI dashboard (/kpis): tiles against the previous period, week-by-week charts, the lead funnel, partner
scorecards, campaign return, points liability and unclaimed leads. The page paints its frame at once; each
section is a fragment of its own (HTMX, loaded in parallel) and downloads as CSV with the same filters.

Managers and admins see their program (or a tier, region, distributor or partner of it); a distributor manager
its resellers; a reseller manager its reps. Any other scope, and any other role, answers 404.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from incentives.accounts.roles import TIER_LABELS, Role
from incentives.db import utcnow
from incentives.errors import N_, NotFound
from incentives.leaderboard import scopes as boards
from incentives.leaderboard.scopes import TIERS
from incentives.reports import dashboard, kpi_scopes
from incentives.reports.kpi_scopes import KpiScope
from incentives.reports.partner_home import partner_programs
from incentives.web import nav
from incentives.web.context import current_db, current_principal
from incentives.web.kpi_sections import SECTIONS, csv_response, section_context
from incentives.web.rewards_base import int_param
from incentives.web.templating import render

VIEWERS = {Role.ADMIN, Role.PARTNER_MANAGER, Role.DISTRIBUTOR_MANAGER, Role.RESELLER_MANAGER}
nav.register("/kpis", N_("KPIs"), VIEWERS, order=5, more_for={Role.RESELLER_MANAGER})
DEFAULT_DAYS = 28


@dataclass(frozen=True)
class View:
    """What every section of one dashboard request shows: whose figures, in which program, for which days."""

    program_id: int
    programs: list[tuple[int, str]]
    scope: KpiScope
    start: dt.datetime
    end: dt.datetime  # exclusive
    now: dt.datetime

    @property
    def last_day(self) -> dt.date:
        return (self.end - dt.timedelta(days=1)).date()

    def query(self, **extra: Any) -> str:
        values = {
            "program_id": self.program_id,
            "scope": self.scope.name,
            "from": self.start.date().isoformat(),
            "to": self.last_day.isoformat(),
            **extra,
        }
        return urlencode({key: value for key, value in values.items() if value not in (None, "")})


def _day(raw: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(raw) if raw and len(raw) == 10 else None
    except ValueError:
        return None


async def resolve_view(request: Request) -> View:
    """The request's program, scope and period, checked against the caller (404 outside it, 422 bad period)."""
    principal = current_principal(request)
    if principal.role not in VIEWERS:
        raise NotFound()
    now = utcnow()
    params = request.query_params
    last = _day(params.get("to")) or now.date()
    first = _day(params.get("from")) or last - dt.timedelta(days=DEFAULT_DAYS - 1)
    start = dt.datetime.combine(first, dt.time(), dt.UTC)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), dt.UTC)
    kpi_scopes.check_period(start, end)
    scope = kpi_scopes.parse_scope(params.get("scope")) or kpi_scopes.default_scope(principal)
    async with current_db(request).reader() as session:
        program_id = await _program(session, principal, int_param(params.get("program_id")))
        await kpi_scopes.check_scope(session, principal, program_id, scope)
        programs = await _programs(session, principal)
    return View(program_id, programs, scope, start, end, now)


async def _program(session: Any, principal: Any, wanted: int | None) -> int:
    if principal.acts_for_program:
        return await boards.board_program(session, principal, wanted)
    programs = [program_id for program_id, _ in await _programs(session, principal)]
    if wanted is not None:
        if wanted not in programs:
            raise NotFound()
        return wanted
    if not programs:
        raise NotFound()
    return programs[0]


async def _programs(session: Any, principal: Any) -> list[tuple[int, str]]:
    return await partner_programs(session, principal)


async def _scope_choices(session: Any, view: View, principal: Any) -> list[tuple[str, str, dict[str, Any]]]:
    """(scope name, message id, params) of the scopes the filter offers."""
    if principal.acts_for_program:
        choices: list[tuple[str, str, dict[str, Any]]] = [("program", N_("Whole program"), {})]
        choices += [(f"tier:{tier}", N_("Tier: %(name)s"), {"tier": tier}) for tier in TIERS]
        for org_id, name in await dashboard.distributors(session, view.program_id):
            choices.append((f"distributor:{org_id}", N_("Distributor: %(name)s"), {"name": name}))
        return choices
    if principal.role is Role.DISTRIBUTOR_MANAGER:
        return [(f"distributor:{principal.org_id}", N_("All my resellers"), {})]
    choices = [(f"partner:{principal.org_id}", N_("My company"), {})]
    for user_id, name in await kpi_scopes.reps_of(session, principal.org_id):
        choices.append((f"rep:{user_id}", N_("Rep: %(name)s"), {"name": name}))
    return choices


async def kpi_page(request: Request) -> Response:
    view = await resolve_view(request)
    principal = current_principal(request)
    async with current_db(request).reader() as session:
        choices = await _scope_choices(session, view, principal)
        scope_title = await dashboard.scope_title(session, view.scope)
    sections = [name for name in SECTIONS if name != "unclaimed" or view.scope.kind == "program"]
    context = {
        "view": view,
        "choices": choices,
        "scope_title": scope_title,
        "sections": sections,
        "tier_labels": TIER_LABELS,
        "css": "kpis-1.css",
    }
    return render(request, "reports/kpis.html", context)


async def kpi_section(request: Request) -> Response:
    name = request.path_params["section"]
    if name not in SECTIONS:
        raise NotFound()
    view = await resolve_view(request)
    async with current_db(request).reader() as session:
        context = await section_context(session, name, view, request)
    return render(request, f"reports/_{name}.html", {"view": view, "tier_labels": TIER_LABELS, **context})


async def kpi_csv(request: Request) -> Response:
    name = request.path_params["section"]
    if name not in SECTIONS:
        raise NotFound()
    view = await resolve_view(request)
    async with current_db(request).reader() as session:
        context = await section_context(session, name, view, request, everything=True)
    return csv_response(name, view, context, request.state.locale)


routes = [
    Route("/kpis", kpi_page),
    Route("/kpis/{section:str}.csv", kpi_csv),
    Route("/kpis/{section:str}", kpi_section),
]
