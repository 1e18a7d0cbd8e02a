"""The leaderboard page: period and board tabs, the caller's row pinned with its neighbours, movement since the
week began, leagues by tier and the most improved partners. It refreshes itself every few seconds (the board
fragment answers 304 while nothing changed)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from incentives.accounts.roles import TIER_LABELS, Role
from incentives.accounts.scope import Principal
from incentives.db import utcnow
from incentives.errors import N_
from incentives.leaderboard import periods, scopes
from incentives.leaderboard.queries import board, most_improved
from incentives.web import nav
from incentives.web.context import current_db, current_principal
from incentives.web.templating import render, unless_unchanged

EVERYONE = set(Role)
nav.register("/leaderboard", N_("Leaderboard"), EVERYONE, order=35, more_for={Role.ADMIN, Role.PARTNER_MANAGER})

PERIOD_LABELS = {
    "week": N_("This week"),
    "month": N_("This month"),
    "quarter": N_("This quarter"),
    "all": N_("All time"),
}
SCOPE_LABELS = {
    "program": N_("Everyone"),
    "tier": N_("League: %(name)s"),
    "region": N_("Region %(name)s"),
    "distributor": N_("My distributor"),
    "reps": N_("My team"),
}
VIEW_LABELS = {"ranking": N_("Ranking"), "improved": N_("Most improved")}


async def leaderboard_page(request: Request) -> Response:
    principal = current_principal(request)
    now = utcnow()
    db = current_db(request)
    view = request.query_params.get("view") or "ranking"
    if view not in VIEW_LABELS:
        view = "ranking"
    period = periods.parse(request.query_params.get("period"), now)
    async with db.reader() as session:
        program_id = await scopes.board_program(session, principal, _int(request.query_params.get("program_id")))
        choices = await scopes.scopes_for(session, principal, program_id)
        wanted = request.query_params.get("scope")
        # A partner's default board is its own league: there it competes with its peers.
        scope = (
            scopes.parse(wanted)
            if wanted
            else (choices[1] if len(choices) > 1 and choices[1].kind == "tier" else choices[0])
        )
        await scopes.allowed(session, principal, program_id, scope)
        me = scopes.me_on(principal, scope)
        found = await board(db, session, program_id, period, scope, limit=10, me=me, now=now)
        improved = await most_improved(session, program_id, period, scope, now=now) if view == "improved" else []
    context = {
        "board": found,
        "improved": improved,
        "view": view,
        "views": VIEW_LABELS,
        "period": period,
        "periods": PERIOD_LABELS,
        "scope": scope,
        "choices": choices,
        "scope_labels": SCOPE_LABELS,
        "tier_labels": TIER_LABELS,
        "program_id": program_id,
        "pinned_outside_top": found.me is not None and all(row.subject_id != found.me.subject_id for row in found.rows),
        "css": "/static/leaderboard-1.css",
    }
    return unless_unchanged(request, render(request, "leaderboard/board.html", context, block="board"))


def me_is_partner(principal: Principal) -> bool:
    return principal.role in (Role.RESELLER_MANAGER, Role.RESELLER_REP)


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isascii() and value.isdigit() and len(value) <= 9 else None


routes = [Route("/leaderboard", leaderboard_page)]
