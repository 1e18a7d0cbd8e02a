"""MDF endpoints (API.md "Rewards"): allocations, filing a claim with its proof, deciding a claim."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, StringConstraints
from starlette.requests import Request
from starlette.responses import Response

from incentives.errors import N_, FieldError, Forbidden, InvalidState, NotFound, PayloadTooLarge, ValidationFailed
from incentives.rewards import mdf
from incentives.rewards.models import MdfAllocation, MdfClaim
from incentives.validation import CURRENCY
from incentives.web.api.base import Api, database, json_response, parse_body, path_id, principal, query_int
from incentives.web.api.schemas import Money, Strict

api = Api()


class AllocationOut(BaseModel):
    id: int
    program_id: int
    org_id: int
    redemption_id: int
    amount: Money
    remaining: Money
    valid_until: dt.datetime


class ClaimOut(BaseModel):
    id: int
    allocation_id: int
    org_id: int
    activity: str
    amount: Money
    status: str
    proof: dict[str, Any]
    reason: str | None
    created_at: dt.datetime


class AllocationsOut(BaseModel):
    items: list[AllocationOut]
    next_cursor: str | None = None


class ClaimsOut(BaseModel):
    items: list[ClaimOut]
    next_cursor: str | None = None


class DecideClaimIn(Strict):
    approve: bool
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None


# --- shaping -------------------------------------------------------------------------------------------------


def allocation_out(allocation: MdfAllocation) -> dict[str, Any]:
    return AllocationOut(
        id=allocation.id,
        program_id=allocation.program_id,
        org_id=allocation.org_id,
        redemption_id=allocation.redemption_id,
        amount=Money(amount=f"{allocation.amount:.2f}"),
        remaining=Money(amount=f"{allocation.remaining:.2f}"),
        valid_until=allocation.valid_until,
    ).model_dump(mode="json")


def claim_out(claim: MdfClaim) -> dict[str, Any]:
    return ClaimOut(
        id=claim.id,
        allocation_id=claim.allocation_id,
        org_id=claim.org_id,
        activity=claim.activity,
        amount=Money(amount=f"{claim.amount:.2f}"),
        status=claim.status,
        proof={"name": claim.proof_name, "type": claim.proof_type, "size": claim.proof_size},
        reason=claim.reason,
        created_at=claim.created_at,
    ).model_dump(mode="json")


# --- endpoints -----------------------------------------------------------------------------------------------


@api.route(
    "GET",
    "/api/v1/mdf/allocations",
    summary="MDF allocations in your scope",
    response=AllocationsOut,
    errors=(ValidationFailed,),
)
async def get_allocations(request: Request) -> Response:
    async with database(request).reader() as session:
        allocations = await mdf.list_allocations(
            session, principal(request), program_id=query_int(request, "program_id")
        )
    return json_response({"items": [allocation_out(a) for a in allocations], "next_cursor": None})


@api.route(
    "POST",
    "/api/v1/mdf/allocations/{id:id}/claims",
    summary="File a claim (multipart form: activity, amount in EUR, currency? (EUR), proof file of PDF, PNG or JPEG)",
    response=ClaimOut,
    status=201,
    errors=(Forbidden, NotFound, InvalidState, PayloadTooLarge, ValidationFailed),
)
async def post_claim(request: Request) -> Response:
    async with request.form(max_files=1, max_fields=10) as form:
        upload = form.get("proof")
        content = b""
        name = "proof"
        if upload is not None and not isinstance(upload, str):
            content = await upload.read(mdf.MAX_PROOF_BYTES + 1)
            name = upload.filename or name
        activity, amount = str(form.get("activity", "")), str(form.get("amount", ""))
        currency = form.get("currency")
    # A form has no money object (API.md); its amount is in EUR, and a `currency` given must say so.
    if currency is not None and currency != CURRENCY:
        raise ValidationFailed([FieldError(("currency",), N_("Must be one of: %(expected)s."), expected=CURRENCY)])
    async with database(request).transaction() as session:
        claim = await mdf.file_claim(
            session,
            principal(request),
            allocation_id=path_id(request),
            activity=activity,
            amount=amount,
            proof_name=name,
            proof=content,
        )
    return json_response(claim_out(claim), 201)


@api.route("GET", "/api/v1/mdf/claims", summary="MDF claims in your scope (?status=)", response=ClaimsOut)
async def get_claims(request: Request) -> Response:
    async with database(request).reader() as session:
        claims = await mdf.list_claims(session, principal(request), status=request.query_params.get("status") or None)
    return json_response({"items": [claim_out(c) for c in claims], "next_cursor": None})


@api.route(
    "POST",
    "/api/v1/mdf/claims/{id:id}/decide",
    summary="Approve or reject an MDF claim (partner manager, admin)",
    body=DecideClaimIn,
    response=ClaimOut,
    errors=(Forbidden, NotFound, InvalidState),
)
async def decide_claim(request: Request) -> Response:
    body = await parse_body(request, DecideClaimIn)
    async with database(request).transaction() as session:
        claim = await mdf.decide_claim(
            session, principal(request), path_id(request), approve=body.approve, reason=body.reason
        )
    return json_response(claim_out(claim))
