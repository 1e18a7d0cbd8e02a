"""Redemption endpoints (API.md "Rewards"): redeem, approve, reject, cancel, read and list redemptions."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints
from starlette.requests import Request
from starlette.responses import Response

from incentives.errors import N_, FieldError, Forbidden, InvalidState, NotFound, ValidationFailed
from incentives.ledger.errors import InsufficientPoints
from incentives.rewards import queries, services
from incentives.rewards.errors import LimitReached, OutOfStock, RewardUnavailable
from incentives.rewards.models import MdfAllocation, Redemption, RedemptionStatus, Reward
from incentives.web.api.base import Api, database, json_response, page_limit, parse_body, path_id, principal, query_int
from incentives.web.api.schemas import Money, Strict, money

api = Api()
DECISION = (Forbidden, NotFound, InvalidState)  # deciding a pending redemption


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


# --- shaping -------------------------------------------------------------------------------------------------


def _fulfilment(redemption: Redemption, reward: Reward, allocation: MdfAllocation | None) -> FulfilmentOut | None:
    if redemption.status != RedemptionStatus.FULFILLED:
        return None
    if allocation is not None:
        return FulfilmentOut(mdf_amount=money(allocation.amount), allocation_id=allocation.id)
    if redemption.coupon_code is not None:
        percent = None if reward.percent is None else f"{reward.percent:.2f}"
        return FulfilmentOut(coupon_code=redemption.coupon_code, percent=percent)
    return FulfilmentOut(
        bonus={
            "reward_id": reward.id,
            "name": {"de": reward.name_de, "en": reward.name_en},
            "quantity": redemption.quantity,
            "value": None if reward.value is None else money(reward.value * redemption.quantity),
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


def _status_param(request: Request) -> str | None:
    status = request.query_params.get("status") or None
    if status is not None and status not in set(RedemptionStatus):
        raise ValidationFailed(
            [FieldError(("query", "status"), N_("Must be one of: %(expected)s."), expected=", ".join(RedemptionStatus))]
        )
    return status


async def _answer(request: Request, redemption_id: int, status_code: int = 200) -> Response:
    async with database(request).reader() as session:
        redemption = await queries.get_redemption(session, principal(request), redemption_id)
        reward = await queries.reward(session, redemption.reward_id)
        if reward is None:
            raise NotFound()
        allocation = await queries.allocation_of(session, redemption.id)
    return json_response(redemption_out(redemption, reward, allocation), status_code)


# --- endpoints -----------------------------------------------------------------------------------------------


@api.route(
    "POST",
    "/api/v1/redemptions",
    summary="Redeem points for a reward (reseller manager): holds the points",
    body=RedemptionIn,
    response=RedemptionOut,
    status=201,
    errors=(Forbidden, NotFound, RewardUnavailable, InsufficientPoints, OutOfStock, LimitReached),
)
async def post_redemption(request: Request) -> Response:
    who = principal(request)
    body = await parse_body(request, RedemptionIn)
    # With an Idempotency-Key the redemption's own request key derives from it, so even a retry whose
    # HTTP-level record was lost redeems once; without one, every call is a new redemption.
    header = request.headers.get("idempotency-key")
    key = f"api:{who.user_id}:{hashlib.sha256(header.encode()).hexdigest()}" if header else f"api:{uuid.uuid4()}"
    redemption = await database(request).run(
        lambda session: services.redeem(session, who, reward_id=body.reward_id, quantity=body.quantity, request_key=key)
    )
    return await _answer(request, redemption.id, 201)


@api.route(
    "POST",
    "/api/v1/redemptions/{id:id}/approve",
    summary="Approve a pending redemption (partner manager, admin): posts the points and fulfils",
    response=RedemptionOut,
    errors=DECISION,
)
async def approve(request: Request) -> Response:
    await database(request).run(
        lambda session: services.approve_redemption(session, principal(request), path_id(request))
    )
    return await _answer(request, path_id(request))


@api.route(
    "POST",
    "/api/v1/redemptions/{id:id}/reject",
    summary="Reject a pending redemption with a reason: the points are available again",
    body=RejectIn,
    response=RedemptionOut,
    errors=DECISION,
)
async def reject(request: Request) -> Response:
    body = await parse_body(request, RejectIn)
    await database(request).run(
        lambda session: services.reject_redemption(session, principal(request), path_id(request), reason=body.reason)
    )
    return await _answer(request, path_id(request))


@api.route(
    "POST",
    "/api/v1/redemptions/{id:id}/cancel",
    summary="Cancel your own pending redemption: the points are available again",
    response=RedemptionOut,
    errors=DECISION,
)
async def cancel(request: Request) -> Response:
    await database(request).run(
        lambda session: services.cancel_redemption(session, principal(request), path_id(request))
    )
    return await _answer(request, path_id(request))


@api.route(
    "GET",
    "/api/v1/redemptions/{id:id}",
    summary="One redemption in your scope",
    response=RedemptionOut,
    errors=(NotFound,),
)
async def get_redemption(request: Request) -> Response:
    return await _answer(request, path_id(request))


@api.route(
    "GET",
    "/api/v1/redemptions",
    summary="Redemptions in your scope, newest first (?status=&program_id=&org_id=&limit=&cursor=)",
    response=RedemptionsOut,
    errors=(ValidationFailed,),
)
async def get_redemptions(request: Request) -> Response:
    async with database(request).reader() as session:
        rows, next_id = await queries.list_redemptions(
            session,
            principal(request),
            status=_status_param(request),
            program_id=query_int(request, "program_id"),
            org_id=query_int(request, "org_id"),
            limit=page_limit(request),
            before=query_int(request, "cursor"),
        )
        items = [
            redemption_out(redemption, reward, await queries.allocation_of(session, redemption.id))
            if redemption.status == RedemptionStatus.FULFILLED
            else redemption_out(redemption, reward, None)
            for redemption, reward in rows
        ]
    return json_response({"items": items, "next_cursor": None if next_id is None else str(next_id)})
