"""MDF pages: budgets (allocations) with their claims, filing a claim with its proof, deciding a claim, and
downloading the proof."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from incentives import i18n
from incentives.accounts import queries as accounts
from incentives.accounts.roles import Role
from incentives.errors import DomainError
from incentives.rewards import mdf
from incentives.rewards.models import MdfClaim
from incentives.rewards.scope import REDEEMERS
from incentives.web.context import current_db, current_principal
from incentives.web.forms import error_message
from incentives.web.rewards_base import chosen_program, page_context
from incentives.web.templating import is_htmx, render, see_other


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
        async with current_db(request).transaction() as session:
            await mdf.file_claim(
                session,
                principal,
                allocation_id=allocation_id,
                activity=activity,
                amount=i18n.plain_number(amount, request.state.locale),
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
        async with current_db(request).transaction() as session:
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


routes = [
    Route("/mdf", mdf_page),
    Route("/mdf/{id:id}/claims", file_claim, methods=["POST"]),
    Route("/mdf/claims/{id:id}/decide", decide_claim, methods=["POST"]),
    Route("/mdf/claims/{id:id}/proof", proof),
]
