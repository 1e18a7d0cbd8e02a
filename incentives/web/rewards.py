"""Rewards pages: catalog and redeem, the partner's redemptions, wallet, MDF budgets and claims, approvals."""

from __future__ import annotations

import uuid
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
from incentives.rewards.models import MdfAllocation, MdfClaim, Redemption, RedemptionStatus
from incentives.rewards.scope import DECIDERS, REDEEMERS
from incentives.rules.names import rule_names
from incentives.web import nav, reward_catalog
from incentives.web.context import current_db, current_principal
from incentives.web.forms import error_message
from incentives.web.rewards_base import (
    PARTNERS,
    chosen_program,
    int_param,
    page_context,
)
from incentives.web.templating import is_htmx, render, see_other

# Few main entries (the header must fit a phone); redemptions and MDF budgets are one click away
# in the rewards area's own sub-navigation.
nav.register("/rewards", N_("Rewards"), PARTNERS | DECIDERS, order=40)
nav.register("/wallet", N_("Wallet"), PARTNERS, order=41)
nav.register("/approvals", N_("Approvals"), DECIDERS, order=44)

FILTER_LABELS = {"all": N_("All"), "earned": N_("Earned"), "redeemed": N_("Redeemed"), "expired": N_("Expired")}
NONE = "–"  # a figure with nothing to compute it from


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


# --- catalog and redeem --------------------------------------------------------------------------------------


async def catalog(request: Request) -> Response:
    principal = current_principal(request)
    async with current_db(request).reader() as session:
        program_id, programs = await chosen_program(session, principal, request)
        rewards = await services.list_rewards(session, principal, program_id) if program_id else []
        wallet = None
        if program_id and not principal.acts_for_program:
            wallet = await queries.wallet(session, program_id, principal.org_id)
    return render(
        request,
        "rewards/catalog.html",
        page_context(
            request,
            rewards=rewards,
            programs=programs,
            program_id=program_id,
            wallet=wallet,
            can_redeem=principal.role in REDEEMERS,
            new_key=lambda: uuid.uuid4().hex,
        ),
    )


async def redeem(request: Request) -> Response:
    """Hold the points; answers the reward's card and (out of band) the balance. One request key → one redemption."""
    principal = current_principal(request)
    reward_id = int(request.path_params["id"])
    form = await request.form()
    key = str(form.get("request_key", "")) or uuid.uuid4().hex
    quantity = int_param(form.get("quantity")) or 1
    error = None
    redemption: Redemption | None = None
    db = current_db(request)
    try:
        async with db.session() as session:
            redemption = await services.redeem(
                session, principal, reward_id=reward_id, quantity=quantity, request_key=f"web:{key}"
            )
    except DomainError as exc:
        if exc.status == 404:
            raise
        error = error_message(request, exc)
    if not is_htmx(request):
        return see_other("/redemptions" if error is None else "/rewards")
    async with db.reader() as session:
        reward = await queries.reward(session, reward_id)
        if reward is None:
            raise NotFound()
        wallet = await queries.wallet(session, reward.program_id, principal.org_id)
    return render(
        request,
        "rewards/_redeemed.html",
        page_context(
            request,
            reward=reward,
            wallet=wallet,
            redemption=redemption,
            error=error,
            can_redeem=True,
            new_key=lambda: uuid.uuid4().hex,
        ),
    )


# --- the partner's redemptions and the approvals queue ---------------------------------------------------------


async def _rows(session: AsyncSession, principal: Principal, **filters: Any) -> list[dict[str, Any]]:
    rows, _ = await services.list_redemptions(session, principal, limit=100, **filters)
    orgs = await accounts.org_names(session, {redemption.org_id for redemption, _ in rows})
    result = []
    for redemption, reward in rows:
        allocation = None
        if redemption.status == RedemptionStatus.FULFILLED and reward.kind == "mdf":
            allocation = await services.allocation_of(session, redemption.id)
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
    try:
        async with current_db(request).session() as session:
            if action == "approve":
                await services.approve_redemption(session, principal, redemption_id)
            elif action == "reject":
                await services.reject_redemption(session, principal, redemption_id, reason=str(form.get("reason", "")))
            else:
                await services.cancel_redemption(session, principal, redemption_id)
    except DomainError as exc:
        if exc.status == 404:
            raise
        error = error_message(request, exc)
    if not is_htmx(request):
        return see_other("/approvals" if action != "cancel" else "/redemptions")
    async with current_db(request).reader() as session:
        redemption = await services.get_redemption(session, principal, redemption_id)
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
            async with current_db(request).session() as session:
                await services.approve_redemption(session, principal, redemption_id)
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


# --- wallet ----------------------------------------------------------------------------------------------------


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
    block = "more" if before is not None else "history"
    expiring = _expiring_by_day(data.expiring if data else [], request.state.locale)
    return render(
        request,
        "rewards/wallet.html",
        page_context(
            request,
            wallet=data,
            expiring=expiring,
            lines=lines,
            rule_names=names,
            next_cursor=next_cursor,
            kind=kind,
            filters=FILTER_LABELS,
            programs=programs,
            program_id=program_id,
            org_id=org_id,
        ),
        block=block,
    )


def _expiring_by_day(expiring: list[Any], locale: str, limit: int = 5) -> list[Any]:
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


# --- MDF budgets and claims ------------------------------------------------------------------------------------


async def mdf_page(request: Request, error: str | None = None, status_code: int = 200) -> Response:
    principal = current_principal(request)
    async with current_db(request).reader() as session:
        program_id, programs = await chosen_program(session, principal, request)
        allocations = await mdf.list_allocations(session, principal, program_id=program_id)
        claims = await mdf.list_claims(session, principal, program_id=program_id)
        orgs = await accounts.org_names(session, {allocation.org_id for allocation in allocations})
    by_allocation: dict[int, list[MdfClaim]] = {}
    for claim in claims:
        by_allocation.setdefault(claim.allocation_id, []).append(claim)
    return render(
        request,
        "rewards/mdf.html",
        page_context(
            request,
            allocations=allocations,
            claims=by_allocation,
            orgs=orgs,
            programs=programs,
            program_id=program_id,
            can_claim=principal.role in REDEEMERS,
            show_partner=principal.role not in (Role.RESELLER_MANAGER, Role.RESELLER_REP),
            max_kb=mdf.MAX_PROOF_BYTES // 1000,
            error=error,
        ),
        status_code=status_code,
    )


async def file_claim(request: Request) -> Response:
    principal = current_principal(request)
    allocation_id = int(request.path_params["id"])
    async with request.form(max_files=1, max_fields=10) as form:
        upload = form.get("proof")
        content, name = b"", "proof"
        if upload is not None and not isinstance(upload, str):
            content = await upload.read(mdf.MAX_PROOF_BYTES + 1)
            name = upload.filename or name
        activity, amount = str(form.get("activity", "")), str(form.get("amount", ""))
    try:
        async with current_db(request).session() as session:
            await mdf.file_claim(
                session,
                principal,
                allocation_id=allocation_id,
                activity=activity,
                amount=amount,
                proof_name=name,
                proof=content,
            )
    except DomainError as exc:
        if exc.status == 404:
            raise
        return await mdf_page(request, error=error_message(request, exc), status_code=exc.status)
    return see_other("/mdf")


async def decide_claim(request: Request) -> Response:
    principal = current_principal(request)
    claim_id = int(request.path_params["id"])
    form = await request.form()
    approve_it = str(form.get("decision")) == "approve"
    error = None
    try:
        async with current_db(request).session() as session:
            await mdf.decide_claim(session, principal, claim_id, approve=approve_it, reason=str(form.get("reason", "")))
    except DomainError as exc:
        if exc.status == 404:
            raise
        error = error_message(request, exc)
    if not is_htmx(request):
        return see_other("/approvals")
    async with current_db(request).reader() as session:
        claim = await mdf.get_proof(session, principal, claim_id)
        names = await accounts.org_names(session, [claim.org_id])
    return render(
        request,
        "rewards/_claim_row.html",
        page_context(request, claim=claim, orgs={claim.org_id: names.get(claim.org_id, "")}, error=error),
    )


async def proof(request: Request) -> Response:
    principal = current_principal(request)
    async with current_db(request).reader() as session:
        claim = await mdf.get_proof(session, principal, int(request.path_params["id"]))
    safe = "".join(ch for ch in claim.proof_name if ch.isalnum() or ch in "._-")[:100] or "proof"
    return Response(
        claim.proof,
        media_type=claim.proof_type,
        headers={
            "Content-Disposition": f'attachment; filename="{safe}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )


__all__ = ["MdfAllocation", "routes"]


routes = [
    Route("/rewards", catalog),
    Route("/rewards/{id:int}/redeem", redeem, methods=["POST"]),
    Route("/redemptions", redemptions),
    Route("/redemptions/{id:int}/approve", approve, methods=["POST"]),
    Route("/redemptions/{id:int}/reject", reject, methods=["POST"]),
    Route("/redemptions/{id:int}/cancel", cancel, methods=["POST"]),
    Route("/approvals", approvals),
    Route("/approvals/bulk", bulk_approve, methods=["POST"]),
    Route("/wallet", wallet),
    Route("/mdf", mdf_page),
    Route("/mdf/{id:int}/claims", file_claim, methods=["POST"]),
    Route("/mdf/claims/{id:int}/decide", decide_claim, methods=["POST"]),
    Route("/mdf/claims/{id:int}/proof", proof),
    *reward_catalog.routes,
]
