"""A reseller manager's team (/team): per user of its org, points earned, leads reserved and feedback given this
week, month or quarter, and feedback overdue now. Reseller managers only; any other role, a program the org is
not a member of and an unknown period answer 404."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from incentives.accounts.roles import Role
from incentives.db import utcnow
from incentives.errors import N_, NotFound
from incentives.reports import team
from incentives.web import nav
from incentives.web.context import current_db, current_principal
from incentives.web.rewards_base import int_param
from incentives.web.templating import render

nav.register("/team", N_("Team"), {Role.RESELLER_MANAGER}, order=7)

PERIOD_LABELS = {"week": N_("This week"), "month": N_("This month"), "quarter": N_("This quarter")}


async def team_page(request: Request) -> Response:
    principal = current_principal(request)
    now = utcnow()
    raw_program = request.query_params.get("program_id")
    wanted = int_param(raw_program)
    if raw_program is not None and wanted is None:
        raise NotFound()
    period = request.query_params.get("period", "week")
    if period not in team.PERIODS:
        raise NotFound()
    async with current_db(request).reader() as session:
        programs = await team.team_programs(session, principal)
        ids = [program_id for program_id, _ in programs]
        if wanted is not None and wanted not in ids:
            raise NotFound()
        program_id = wanted if wanted is not None else (ids[0] if ids else None)
        members = (
            []
            if program_id is None
            else await team.team_activity(current_db(request), session, principal, program_id, period, now)
        )
    context = {
        "programs": programs,
        "program_id": program_id,
        "period": period,
        "periods": PERIOD_LABELS,
        "members": members,
        "since": team.period_start(period, now),
    }
    return render(request, "reports/team.html", context)


routes = [Route("/team", team_page)]
