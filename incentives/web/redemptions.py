"""Redemption pages: a partner's redemptions (cancel), and the deciders' approvals queue with each partner's
context and KPIs (approve, reject, approve many)."""

from __future__ import annotations

import functools
from typing import Any

from babel.numbers import format_percent
from babel.units import format_unit
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from incentives import i18n
from incentives.accounts import queries as accounts
from incentives.accounts.roles import Role
from incentives.accounts.scope import Principal
from incentives.errors import N_, DomainError, NotFound
from incentives.reports import kpis
from incentives.rewards import mdf, queries, services
from incentives.rewards.models import Redemption, RedemptionStatus
from incentives.rewards.scope import DECIDERS, REDEEMERS
from incentives.web import nav
from incentives.web.context import current_db, current_principal
from incentives.web.forms import error_message
from incentives.web.rewards_base import chosen_program, int_param, page_context
from incentives.web.templating import is_htmx, render, see_other

nav.register("/approvals", N_("Approvals"), DECIDERS, order=44)

NONE = "–"  # a figure with nothing to compute it from


async def _rows(session: AsyncSession, principal: Principal, **filters: Any) -> list[dict[str, Any]]:
    rows, _ = await queries.list_redemptions(session, principal, limit=100, **filters)
    orgs = await accounts.org_names(session, {redemption.org_id for redemption, _ in rows})
    result = []
    for redemption, reward in rows:
        allocation = None
        if redemption.status == RedemptionStatus.FULFILLED and reward.kind == "mdf":
            allocation = await queries.allocation_of(session, redemption.id)
        result.append({"r": redemption, "reward": reward, "allocation": allocation, "org": orgs.get(redemption.org_id)})
    return result


async def redemptions(request: Request) -> Response:
    principal = current_principal(request)
    status = request.query_params.get("status") or None
    if status is not None and status not in set(RedemptionStatus):
        status = None
    async with current_db(request).reader() as session:
        program_id, programs = await chosen_program(session, principal, request)
        rows = await _rows(session, principal, status=status, program_id=program_id)
    return render(
        request,
        "rewards/redemptions.html",
        page_context(
            request,
            rows=rows,
            status=status,
            programs=programs,
            program_id=program_id,
            can_cancel=principal.role in REDEEMERS,
            show_partner=principal.role not in (Role.RESELLER_MANAGER, Role.RESELLER_REP),
            all_statuses=[s.value for s in RedemptionStatus],
        ),
        block="list",
    )


async def _decision(request: Request, action: str) -> Response:
    principal = current_principal(request)
    redemption_id = int(request.path_params["id"])
    form = await request.form()
    locale: str = request.state.locale
    error = None

    async def decide(session: AsyncSession) -> Redemption:
        if action == "approve":
            return await services.approve_redemption(session, principal, redemption_id)
        if action == "reject":
            return await services.reject_redemption(
                session, principal, redemption_id, reason=str(form.get("reason", ""))
            )
        return await services.cancel_redemption(session, principal, redemption_id)

    try:
        await current_db(request).run(decide)
    except DomainError as exc:
        if exc.status == 404:
            raise
        error = error_message(request, exc)
    if not is_htmx(request):
        return see_other("/approvals" if action != "cancel" else "/redemptions")
    async with current_db(request).reader() as session:
        redemption = await queries.get_redemption(session, principal, redemption_id)
        row = await _rows(session, principal, program_id=redemption.program_id, org_id=redemption.org_id)
        found = next(item for item in row if item["r"].id == redemption_id)
        context = None
        if action != "cancel":
            context = await queries.partner_context(session, principal, redemption.program_id, redemption.org_id)
            await _add_kpis(session, principal, [found], locale)
    template = "rewards/_redemption_row.html" if action == "cancel" else "rewards/_approval_row.html"
    return render(
        request,
        template,
        page_context(
            request,
            item=found,
            error=error,
            can_cancel=principal.role in REDEEMERS,
            show_partner=principal.role not in (Role.RESELLER_MANAGER, Role.RESELLER_REP),
            ctx=context,
        ),
    )


async def approve(request: Request) -> Response:
    return await _decision(request, "approve")


async def reject(request: Request) -> Response:
    return await _decision(request, "reject")


async def cancel(request: Request) -> Response:
    return await _decision(request, "cancel")


async def _queue(
    session: AsyncSession, principal: Principal, program_id: int | None, locale: str
) -> list[dict[str, Any]]:
    rows = await _rows(session, principal, status=RedemptionStatus.PENDING, program_id=program_id)
    contexts: dict[int, queries.PartnerContext] = {}
    for item in rows:
        org_id = item["r"].org_id
        if org_id not in contexts:
            contexts[org_id] = await queries.partner_context(session, principal, item["r"].program_id, org_id)
        item["ctx"] = contexts[org_id]
    await _add_kpis(session, principal, rows, locale)
    return rows


async def _add_kpis(session: AsyncSession, principal: Principal, rows: list[dict[str, Any]], locale: str) -> None:
    """Each row's partner KPIs so far (all its reservations): one query per program in the rows."""
    orgs_by_program: dict[int, set[int]] = {}
    for item in rows:
        orgs_by_program.setdefault(item["r"].program_id, set()).add(item["r"].org_id)
    for program_id, org_ids in orgs_by_program.items():
        found = await kpis.partner_kpis(session, principal, program_id, org_ids)
        for item in rows:
            if item["r"].program_id == program_id:
                item["kpis"] = kpi_figures(found[item["r"].org_id], locale)


def kpi_figures(figures: kpis.PartnerKpis, locale: str) -> dict[str, str]:
    """The KPIs as the reader writes them; what cannot be computed yet (nothing won, nothing reserved) is "–"."""
    where = i18n.babel_locale(locale)

    def duration(value: float | None, unit: str) -> str:
        return NONE if value is None else format_unit(round(value, 1), unit, length="long", locale=where)

    def share(value: float | None) -> str:
        return NONE if value is None else format_percent(value, locale=where)

    return {
        "reserved": i18n.format_number(figures.reserved, locale),
        "ttp": duration(figures.ttp_hours, "duration-hour"),
        "cr": share(figures.cr),
        "adt": duration(figures.adt_days, "duration-day"),
        "ads": NONE if figures.ads is None else i18n.format_money(figures.ads, "EUR", locale),
        "feedback_rate": share(figures.feedback_rate),
    }


async def approvals(request: Request) -> Response:
    principal = current_principal(request)
    if principal.role not in DECIDERS:
        raise NotFound()
    async with current_db(request).reader() as session:
        program_id, programs = await chosen_program(session, principal, request)
        rows = await _queue(session, principal, program_id, request.state.locale)
        claims = await mdf.list_claims(session, principal, status="submitted", program_id=program_id)
        orgs = await accounts.org_names(session, {claim.org_id for claim in claims})
    return render(
        request,
        "rewards/approvals.html",
        page_context(request, rows=rows, claims=claims, orgs=orgs, programs=programs, program_id=program_id, done=None),
        block="queue",
    )


async def bulk_approve(request: Request) -> Response:
    principal = current_principal(request)
    if principal.role not in DECIDERS:
        raise NotFound()
    form = await request.form()
    ids = [i for i in (int_param(v) for v in form.getlist("ids")) if i is not None]
    approved, failed = 0, 0
    for redemption_id in ids[:200]:
        try:
            await current_db(request).run(
                functools.partial(services.approve_redemption, principal=principal, redemption_id=redemption_id)
            )
            approved += 1
        except DomainError:
            failed += 1  # decided by someone else meanwhile, or out of scope: the queue shows the truth
    if not is_htmx(request):
        return see_other("/approvals")
    async with current_db(request).reader() as session:
        program_id, programs = await chosen_program(session, principal, request)
        rows = await _queue(session, principal, program_id, request.state.locale)
        claims = await mdf.list_claims(session, principal, status="submitted", program_id=program_id)
        orgs = await accounts.org_names(session, {claim.org_id for claim in claims})
    return render(
        request,
        "rewards/approvals.html",
        page_context(
            request,
            rows=rows,
            claims=claims,
            orgs=orgs,
            programs=programs,
            program_id=program_id,
            done={"approved": approved, "failed": failed},
        ),
        block="queue",
    )


routes = [
    Route("/redemptions", redemptions),
    Route("/redemptions/{id:id}/approve", approve, methods=["POST"]),
    Route("/redemptions/{id:id}/reject", reject, methods=["POST"]),
    Route("/redemptions/{id:id}/cancel", cancel, methods=["POST"]),
    Route("/approvals", approvals),
    Route("/approvals/bulk", bulk_approve, methods=["POST"]),
]
