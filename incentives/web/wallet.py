"""The wallet page: a partner's balance, the points expiring next, and its history by kind (paged)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from incentives import i18n
from incentives.accounts import queries as accounts
from incentives.accounts.roles import Role
from incentives.accounts.scope import Principal
from incentives.engagement.definitions import names_by_reason
from incentives.errors import N_, NotFound
from incentives.rewards import queries
from incentives.rules.names import rule_names
from incentives.web import nav
from incentives.web.context import current_db, current_principal
from incentives.web.rewards_base import PARTNERS, chosen_program, int_param, page_context
from incentives.web.templating import render

nav.register("/wallet", N_("Wallet"), PARTNERS, order=41)

FILTER_LABELS = {"all": N_("All"), "earned": N_("Earned"), "redeemed": N_("Redeemed"), "expired": N_("Expired")}


async def _target_org(session: AsyncSession, principal: Principal, request: Request) -> int:
    """The partner whose wallet is shown: the caller's org, or (distributor manager) one below it."""
    wanted = int_param(request.query_params.get("org_id"))
    if wanted is None or wanted == principal.org_id:
        return principal.org_id
    if principal.role is not Role.DISTRIBUTOR_MANAGER:
        raise NotFound()
    if not await accounts.sees_org(session, principal, wanted):
        raise NotFound()
    return wanted


async def wallet(request: Request) -> Response:
    principal = current_principal(request)
    if principal.acts_for_program:
        raise NotFound()
    kind = request.query_params.get("kind") or "all"
    if kind not in queries.HISTORY_FILTERS:
        kind = "all"
    before = int_param(request.query_params.get("cursor"))
    async with current_db(request).reader() as session:
        program_id, programs = await chosen_program(session, principal, request)
        org_id = await _target_org(session, principal, request)
        data = await queries.wallet(session, program_id, org_id) if program_id else None
        lines, next_cursor = (
            await queries.history(session, program_id, org_id, kind=kind, before=before) if program_id else ([], None)
        )
        names = await rule_names(session, ((line.rule_id, line.rule_version) for line in lines), request.state.locale)
        reasons = await names_by_reason(session, (line.reason for line in lines), request.state.locale)
    block = "more" if before is not None else "history"
    expiring = expiring_by_day(data.expiring if data else [], request.state.locale)
    return render(
        request,
        "rewards/wallet.html",
        page_context(
            request,
            wallet=data,
            expiring=expiring,
            lines=lines,
            rule_names=names,
            achievements=reasons,
            next_cursor=next_cursor,
            kind=kind,
            filters=FILTER_LABELS,
            programs=programs,
            program_id=program_id,
            org_id=org_id,
        ),
        block=block,
    )


def expiring_by_day(expiring: list[Any], locale: str, limit: int = 5) -> list[Any]:
    """The next `limit` expiry days (in the reader's time zone), each day's points summed. `expiring` is in time
    order, so the first item of a day after the last one shown ends the walk (a long history has thousands)."""
    days: dict[str, Any] = {}
    for item in expiring:
        day = i18n.format_date(item.expires_at, locale, "short")
        if day in days:
            days[day] = type(item)(days[day].points + item.points, days[day].expires_at)
        elif len(days) < limit:
            days[day] = item
        else:
            break
    return list(days.values())


routes = [
    Route("/wallet", wallet),
]
