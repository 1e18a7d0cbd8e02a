"""Reward catalog endpoints (API.md "Rewards"): add, change and deactivate items (admin), list the catalog.

The catalog form of the pages validates with the same model (`RewardFieldsIn`, `reward_fields`)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, Field, StringConstraints
from starlette.requests import Request
from starlette.responses import Response

from incentives.errors import N_, Forbidden, NotFound, ValidationFailed
from incentives.rewards import catalog, mdf, services
from incentives.rewards.models import Reward
from incentives.validation import MoneyInput
from incentives.web.api.base import Api, database, json_response, parse_body, path_id, principal, query_int
from incentives.web.api.schemas import Money, Strict, money

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


Amount = Annotated[str | int, AfterValidator(_amount), MoneyInput()]  # {"amount", "currency"} or the amount
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


def reward_out(reward: Reward) -> dict[str, Any]:
    return RewardOut(
        id=reward.id,
        program_id=reward.program_id,
        kind=reward.kind,
        name={"de": reward.name_de, "en": reward.name_en},
        description={"de": reward.description_de, "en": reward.description_en},
        points=reward.points,
        value=money(reward.value),
        percent=None if reward.percent is None else f"{reward.percent:.2f}",
        stock=reward.stock,
        limit_per_period=reward.limit_per_period,
        limit_period=reward.limit_period,
        valid_from=reward.valid_from,
        valid_to=reward.valid_to,
        auto_approve_up_to=reward.auto_approve_up_to,
        active=reward.active,
    ).model_dump(mode="json")


# --- catalog -------------------------------------------------------------------------------------------------


@api.route(
    "POST",
    "/api/v1/rewards",
    summary="Add a reward to a program's catalog (admin)",
    body=RewardIn,
    response=RewardOut,
    status=201,
    errors=(Forbidden, NotFound),
)
async def post_reward(request: Request) -> Response:
    body = await parse_body(request, RewardIn)
    async with database(request).transaction() as session:
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
    "/api/v1/rewards/{id:id}",
    summary="Change a catalog item (admin), the whole item; kind, value and percent stay fixed once redeemed",
    body=RewardFieldsIn,
    response=RewardOut,
    errors=(Forbidden, NotFound),
)
async def post_reward_change(request: Request) -> Response:
    body = await parse_body(request, RewardFieldsIn)
    async with database(request).transaction() as session:
        reward = await catalog.update_reward(session, principal(request), path_id(request), **reward_fields(body))
    return json_response(reward_out(reward))


@api.route(
    "POST",
    "/api/v1/rewards/{id:id}/deactivate",
    summary="Take an item out of the catalog (admin); redemptions already made go on",
    response=RewardOut,
    errors=(Forbidden, NotFound),
)
async def post_reward_deactivate(request: Request) -> Response:
    async with database(request).transaction() as session:
        reward = await catalog.deactivate_reward(session, principal(request), path_id(request))
    return json_response(reward_out(reward))


@api.route(
    "GET",
    "/api/v1/rewards",
    summary="The reward catalog (?program_id=)",
    response=RewardsOut,
    errors=(ValidationFailed,),
)
async def get_rewards(request: Request) -> Response:
    async with database(request).reader() as session:
        rewards = await services.list_rewards(session, principal(request), query_int(request, "program_id"))
    return json_response({"items": [reward_out(r) for r in rewards], "next_cursor": None})
