"""The distributor's network (/network): per reseller below it, points, open and overdue leads, this month's KPIs
and the reserved leads as teasers. Distributor managers only; any other role, a program it does not see and a
reseller that is not below it answer 404."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from incentives.accounts.roles import TIER_LABELS, Role
from incentives.db import utcnow
from incentives.errors import N_, NotFound
from incentives.reports import network
from incentives.reports.figures import show_kpi
from incentives.web import nav
from incentives.web.context import current_db, current_principal
from incentives.web.leads import LABELS
from incentives.web.rewards_base import int_param
from incentives.web.templating import render

nav.register("/network", N_("Network"), {Role.DISTRIBUTOR_MANAGER}, order=6)


async def network_page(request: Request) -> Response:
    principal = current_principal(request)
    now = utcnow()
    wanted_program = int_param(request.query_params.get("program_id"))
    raw_org = request.query_params.get("org_id")
    wanted_org = int_param(raw_org)
    if raw_org is not None and wanted_org is None:
        raise NotFound()
    async with current_db(request).reader() as session:
        programs = await network.network_programs(session, principal)
        ids = [program_id for program_id, _ in programs]
        if wanted_program is not None and wanted_program not in ids:
            raise NotFound()
        program_id = wanted_program if wanted_program is not None else (ids[0] if ids else None)
        if program_id is None and wanted_org is not None:
            raise NotFound()
        resellers = (
            [] if program_id is None else await network.network(session, principal, program_id, now, org_id=wanted_org)
        )
    context = {
        "programs": programs,
        "program_id": program_id,
        "resellers": resellers,
        "focus": wanted_org,
        "now": now,
        "tiers": TIER_LABELS,
        "show": show_kpi,
        **LABELS,
    }
    return render(request, "reports/network.html", context)


routes = [Route("/network", network_page)]
