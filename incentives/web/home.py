"""The partner home (/dashboard for reseller users and distributor managers): balance, level, rank, expiring
points, leads owing feedback with a one-step answer, campaigns. A distributor manager sees its resellers in a
compact table and may open each one's home; any other org answers 404."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from incentives.accounts.roles import TIER_LABELS, Role
from incentives.accounts.scope import Principal
from incentives.db import utcnow
from incentives.errors import NotFound
from incentives.reports import partner_home as homes
from incentives.rules import preview
from incentives.web.achievements import STREAK_LABELS
from incentives.web.context import current_db
from incentives.web.leads import LABELS
from incentives.web.rewards_base import int_param
from incentives.web.templating import render


def _chosen(programs: list[tuple[int, str]], wanted: int | None) -> int | None:
    ids = [program_id for program_id, _ in programs]
    if wanted is not None and wanted not in ids:
        raise NotFound()
    return wanted if wanted is not None else (ids[0] if ids else None)


async def partner_dashboard(request: Request, principal: Principal) -> Response:
    """The home of the principal's org, or (distributor manager) its resellers or one of them."""
    now = utcnow()
    db = current_db(request)
    wanted_org = int_param(request.query_params.get("org_id"))
    distributor = principal.role is Role.DISTRIBUTOR_MANAGER
    if wanted_org is not None and wanted_org != principal.org_id and not distributor:
        raise NotFound()
    async with db.reader() as session:
        programs = await homes.partner_programs(session, principal)
        program_id = _chosen(programs, int_param(request.query_params.get("program_id")))
        context = {
            "programs": programs,
            "program_id": program_id,
            "tiers": TIER_LABELS,
            "Role": Role,
            "streak_names": STREAK_LABELS,
            **LABELS,
        }
        if program_id is None:
            if wanted_org is not None:
                raise NotFound()
            return render(request, "accounts/home.html", {**context, "home": None})
        if distributor:
            below = {org_id for org_id, _, _ in await homes.resellers_below(session, program_id, principal.org_id)}
            if wanted_org is None or wanted_org == principal.org_id:
                rows = await homes.reseller_rows(db, session, program_id, principal.org_id, now)
                return render(request, "accounts/distributor_home.html", {**context, "rows": rows})
            if wanted_org not in below:
                raise NotFound()
        org_id = wanted_org or principal.org_id
        home = await homes.partner_home(db, session, program_id, org_id, now)
        answering = principal.role in (Role.RESELLER_MANAGER, Role.RESELLER_REP)
        earnings = await preview.feedback_preview(session, org_id, home.owing, now) if answering else {}
    return render(
        request,
        "accounts/home.html",
        {**context, "home": home, "answering": answering, "earnings": earnings, "now": now},
    )
