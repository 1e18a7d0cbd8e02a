"""Rewards endpoints (API.md "Rewards"): the catalog, redemptions and their decisions, MDF allocations and claims."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, Field, StringConstraints
from starlette.requests import Request
from starlette.responses import Response

from incentives.errors import N_, FieldError, NotFound, ValidationFailed
from incentives.notifications import services as notifications
from incentives.rewards import catalog, mdf, queries, services
from incentives.rewards.models import MdfAllocation, MdfClaim, Redemption, RedemptionStatus, Reward
from incentives.web.api.base import Api, database, json_response, page_limit, parse_body, path_id, principal, query_int
from incentives.web.api.schemas import Strict

api = Api()


def _amount(value: str | int) -> str:
    try:
        return str(mdf.parse_amount(str(value)))
    except ValidationFailed as exc:  # a ValueError, so that the problem names this field, not "amount"
        raise ValueError(exc.errors[0].msg) from exc


def _percent(value: str | int) -> str:
    parsed = Decimal(_amount(value))
    if parsed > 100:
        raise ValueError(N_("A percentage is at most 100."))
    return str(parsed)


Amount = Annotated[str | int, AfterValidator(_amount)]
Percent = Annotated[str | int, AfterValidator(_percent)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
When = Annotated[AwareDatetime, Field(strict=False)]  # naive times are ambiguous


class I18nName(Strict):
    de: Text
    en: Text


class I18nText(Strict):
    de: LongText = ""
    en: LongText = ""


class RewardFieldsIn(Strict):
    kind: Literal["mdf", "discount", "bonus"]
    name: I18nName
    description: I18nText | None = None
    points: Annotated[int, Field(ge=1, le=100_000_000)]
    value: Amount | None = None
    percent: Percent | None = None
    stock: Annotated[int, Field(ge=0, le=10_000_000)] | None = None
    limit_per_period: Annotated[int, Field(ge=1, le=10_000)] | None = None
    limit_period: Literal["month", "quarter", "year"] | None = None
    valid_from: When | None = None
    valid_to: When | None = None
    auto_approve_up_to: Annotated[int, Field(ge=0, le=100_000_000)] | None = None
    active: bool = True


class RewardIn(RewardFieldsIn):
    program_id: int


class Money(BaseModel):
    amount: str
    currency: str = "EUR"


class RewardOut(BaseModel):
    id: int
    program_id: int
    kind: str
    name: dict[str, str]
    description: dict[str, str]
    points: int
    value: Money | None
    percent: str | None
    stock: int | None
    limit_per_period: int | None
    limit_period: str | None
    valid_from: dt.datetime | None
    valid_to: dt.datetime | None
    auto_approve_up_to: int | None
    active: bool


class RewardsOut(BaseModel):
    items: list[RewardOut]
    next_cursor: str | None = None


class RedemptionIn(Strict):
    reward_id: int
    quantity: Annotated[int, Field(ge=1, le=services.MAX_QUANTITY)] = 1


class RejectIn(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class FulfilmentOut(BaseModel):
    mdf_amount: Money | None = None
    allocation_id: int | None = None
    coupon_code: str | None = None
    percent: str | None = None
    bonus: dict[str, Any] | None = None


class RedemptionOut(BaseModel):
    id: int
    program_id: int
    org_id: int
    reward_id: int
    status: str
    quantity: int
    points: int
    created_at: dt.datetime
    decided_at: dt.datetime | None
    auto_approved: bool
    reason: str | None
    fulfilment: FulfilmentOut | None


class RedemptionsOut(BaseModel):
    items: list[RedemptionOut]
    next_cursor: str | None


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


class NotificationOut(BaseModel):
    id: int
    kind: str
    text: str
    link: str | None
    created_at: dt.datetime
    read: bool


class NotificationsOut(BaseModel):
    items: list[NotificationOut]
    unread: int


# --- shaping -------------------------------------------------------------------------------------------------


def _money(amount: Decimal | None) -> Money | None:
    return None if amount is None else Money(amount=f"{amount:.2f}")


def reward_out(reward: Reward) -> dict[str, Any]:
    return RewardOut(
        id=reward.id,
        program_id=reward.program_id,
        kind=reward.kind,
        name={"de": reward.name_de, "en": reward.name_en},
        description={"de": reward.description_de, "en": reward.description_en},
        points=reward.points,
        value=_money(reward.value),
        percent=None if reward.percent is None else f"{reward.percent:.2f}",
        stock=reward.stock,
        limit_per_period=reward.limit_per_period,
        limit_period=reward.limit_period,
        valid_from=reward.valid_from,
        valid_to=reward.valid_to,
        auto_approve_up_to=reward.auto_approve_up_to,
        active=reward.active,
    ).model_dump(mode="json")


def _fulfilment(redemption: Redemption, reward: Reward, allocation: MdfAllocation | None) -> FulfilmentOut | None:
    if redemption.status != RedemptionStatus.FULFILLED:
        return None
    if allocation is not None:
        return FulfilmentOut(mdf_amount=_money(allocation.amount), allocation_id=allocation.id)
    if redemption.coupon_code is not None:
        percent = None if reward.percent is None else f"{reward.percent:.2f}"
        return FulfilmentOut(coupon_code=redemption.coupon_code, percent=percent)
    return FulfilmentOut(
        bonus={
            "reward_id": reward.id,
            "name": {"de": reward.name_de, "en": reward.name_en},
            "quantity": redemption.quantity,
            "value": None if reward.value is None else _money(reward.value * redemption.quantity),
        }
    )


def redemption_out(redemption: Redemption, reward: Reward, allocation: MdfAllocation | None) -> dict[str, Any]:
    return RedemptionOut(
        id=redemption.id,
        program_id=redemption.program_id,
        org_id=redemption.org_id,
        reward_id=redemption.reward_id,
        status=redemption.status,
        quantity=redemption.quantity,
        points=redemption.points,
        created_at=redemption.created_at,
        decided_at=redemption.decided_at,
        auto_approved=redemption.auto_approved,
        reason=redemption.reason,
        fulfilment=_fulfilment(redemption, reward, allocation),
    ).model_dump(mode="json", exclude_none=False)


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


def _status_param(request: Request) -> str | None:
    status = request.query_params.get("status") or None
    if status is not None and status not in set(RedemptionStatus):
        raise ValidationFailed(
            [FieldError(("query", "status"), N_("Must be one of: %(expected)s."), expected=", ".join(RedemptionStatus))]
        )
    return status


async def _answer(request: Request, redemption_id: int, status_code: int = 200) -> Response:
    async with database(request).reader() as session:
        redemption = await services.get_redemption(session, principal(request), redemption_id)
        reward = await queries.reward(session, redemption.reward_id)
        if reward is None:
            raise NotFound()
        allocation = await services.allocation_of(session, redemption.id)
    return json_response(redemption_out(redemption, reward, allocation), status_code)


# --- catalog -------------------------------------------------------------------------------------------------


@api.route(
    "POST",
    "/api/v1/rewards",
    summary="Add a reward to a program's catalog (admin)",
    body=RewardIn,
    response=RewardOut,
    status=201,
    errors=("forbidden", "validation_error"),
)
async def post_reward(request: Request) -> Response:
    body = await parse_body(request, RewardIn)
    async with database(request).session() as session:
        reward = await services.create_reward(
            session, principal(request), program_id=body.program_id, **reward_fields(body)
        )
    return json_response(reward_out(reward), 201)


def reward_fields(body: RewardFieldsIn) -> dict[str, Any]:
    """The Reward columns a valid body sets (the API and the catalog form share the model)."""
    description = body.description or I18nText()
    return {
        "kind": body.kind,
        "name_de": body.name.de,
        "name_en": body.name.en,
        "description_de": description.de,
        "description_en": description.en,
        "points": body.points,
        "value": None if body.value is None else Decimal(str(body.value)),
        "percent": None if body.percent is None else Decimal(str(body.percent)),
        "stock": body.stock,
        "limit_per_period": body.limit_per_period,
        "limit_period": body.limit_period,
        "valid_from": body.valid_from,
        "valid_to": body.valid_to,
        "auto_approve_up_to": body.auto_approve_up_to,
        "active": body.active,
    }


@api.route(
    "POST",
    "/api/v1/rewards/{id:int}",
    summary="Change a catalog item (admin), the whole item; kind, value and percent stay fixed once redeemed",
    body=RewardFieldsIn,
    response=RewardOut,
    errors=("forbidden", "validation_error"),
)
async def post_reward_change(request: Request) -> Response:
    body = await parse_body(request, RewardFieldsIn)
    async with database(request).session() as session:
        reward = await catalog.update_reward(session, principal(request), path_id(request), **reward_fields(body))
    return json_response(reward_out(reward))


@api.route(
    "POST",
    "/api/v1/rewards/{id:int}/deactivate",
    summary="Take an item out of the catalog (admin); redemptions already made go on",
    response=RewardOut,
    errors=("forbidden",),
)
async def post_reward_deactivate(request: Request) -> Response:
    async with database(request).session() as session:
        reward = await catalog.deactivate_reward(session, principal(request), path_id(request))
    return json_response(reward_out(reward))


@api.route("GET", "/api/v1/rewards", summary="The reward catalog (?program_id=)", response=RewardsOut)
async def get_rewards(request: Request) -> Response:
    async with database(request).reader() as session:
        rewards = await services.list_rewards(session, principal(request), query_int(request, "program_id"))
    return json_response({"items": [reward_out(r) for r in rewards], "next_cursor": None})


# --- redemptions ---------------------------------------------------------------------------------------------


@api.route(
    "POST",
    "/api/v1/redemptions",
    summary="Redeem points for a reward (reseller manager): holds the points",
    body=RedemptionIn,
    response=RedemptionOut,
    status=201,
    errors=("forbidden", "insufficient_points", "out_of_stock", "limit_reached", "validation_error"),
)
async def post_redemption(request: Request) -> Response:
    who = principal(request)
    body = await parse_body(request, RedemptionIn)
    # With an Idempotency-Key the redemption's own request key derives from it, so even a retry whose
    # HTTP-level record was lost redeems once; without one, every call is a new redemption.
    header = request.headers.get("idempotency-key")
    key = f"api:{who.user_id}:{hashlib.sha256(header.encode()).hexdigest()}" if header else f"api:{uuid.uuid4()}"
    async with database(request).session() as session:
        redemption = await services.redeem(
            session, who, reward_id=body.reward_id, quantity=body.quantity, request_key=key
        )
    return await _answer(request, redemption.id, 201)


@api.route(
    "POST",
    "/api/v1/redemptions/{id:int}/approve",
    summary="Approve a pending redemption (partner manager, admin): posts the points and fulfils",
    response=RedemptionOut,
    errors=("forbidden", "invalid_state"),
)
async def approve(request: Request) -> Response:
    async with database(request).session() as session:
        await services.approve_redemption(session, principal(request), path_id(request))
    return await _answer(request, path_id(request))


@api.route(
    "POST",
    "/api/v1/redemptions/{id:int}/reject",
    summary="Reject a pending redemption with a reason: the points are available again",
    body=RejectIn,
    response=RedemptionOut,
    errors=("forbidden", "invalid_state", "validation_error"),
)
async def reject(request: Request) -> Response:
    body = await parse_body(request, RejectIn)
    async with database(request).session() as session:
        await services.reject_redemption(session, principal(request), path_id(request), reason=body.reason)
    return await _answer(request, path_id(request))


@api.route(
    "POST",
    "/api/v1/redemptions/{id:int}/cancel",
    summary="Cancel your own pending redemption: the points are available again",
    response=RedemptionOut,
    errors=("forbidden", "invalid_state"),
)
async def cancel(request: Request) -> Response:
    async with database(request).session() as session:
        await services.cancel_redemption(session, principal(request), path_id(request))
    return await _answer(request, path_id(request))


@api.route("GET", "/api/v1/redemptions/{id:int}", summary="One redemption in your scope", response=RedemptionOut)
async def get_redemption(request: Request) -> Response:
    return await _answer(request, path_id(request))


@api.route(
    "GET",
    "/api/v1/redemptions",
    summary="Redemptions in your scope, newest first (?status=&program_id=&org_id=&limit=&cursor=)",
    response=RedemptionsOut,
    errors=("validation_error",),
)
async def get_redemptions(request: Request) -> Response:
    async with database(request).reader() as session:
        rows, next_id = await services.list_redemptions(
            session,
            principal(request),
            status=_status_param(request),
            program_id=query_int(request, "program_id"),
            org_id=query_int(request, "org_id"),
            limit=page_limit(request),
            before=query_int(request, "cursor"),
        )
        items = [
            redemption_out(redemption, reward, await services.allocation_of(session, redemption.id))
            if redemption.status == RedemptionStatus.FULFILLED
            else redemption_out(redemption, reward, None)
            for redemption, reward in rows
        ]
    return json_response({"items": items, "next_cursor": None if next_id is None else str(next_id)})


# --- MDF -----------------------------------------------------------------------------------------------------


@api.route("GET", "/api/v1/mdf/allocations", summary="MDF allocations in your scope", response=AllocationsOut)
async def get_allocations(request: Request) -> Response:
    async with database(request).reader() as session:
        allocations = await mdf.list_allocations(
            session, principal(request), program_id=query_int(request, "program_id")
        )
    return json_response({"items": [allocation_out(a) for a in allocations], "next_cursor": None})


@api.route(
    "POST",
    "/api/v1/mdf/allocations/{id:int}/claims",
    summary="File a claim (multipart form: activity, amount, proof file of PDF, PNG or JPEG)",
    response=ClaimOut,
    status=201,
    errors=("forbidden", "validation_error", "invalid_state"),
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
    async with database(request).session() as session:
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
    "/api/v1/mdf/claims/{id:int}/decide",
    summary="Approve or reject an MDF claim (partner manager, admin)",
    body=DecideClaimIn,
    response=ClaimOut,
    errors=("forbidden", "invalid_state", "validation_error"),
)
async def decide_claim(request: Request) -> Response:
    body = await parse_body(request, DecideClaimIn)
    async with database(request).session() as session:
        claim = await mdf.decide_claim(
            session, principal(request), path_id(request), approve=body.approve, reason=body.reason
        )
    return json_response(claim_out(claim))


@api.route("GET", "/api/v1/notifications", summary="Your in-app notifications", response=NotificationsOut)
async def get_notifications(request: Request) -> Response:
    who = principal(request)
    locale: str = request.state.locale
    async with database(request).reader() as session:
        found = await notifications.list_notifications(session, who, limit=page_limit(request))
        unread = await notifications.unread_count(session, who)
    items = [NotificationOut(**vars(notifications.show(n, locale))).model_dump(mode="json") for n in found]
    return json_response({"items": items, "unread": unread})
