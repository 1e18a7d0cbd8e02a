"""Campaign endpoints of API.md: create, list, read, replace, change some fields, delete (or end)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field
from starlette.requests import Request
from starlette.responses import Response

from incentives.db import utcnow
from incentives.errors import ValidationFailed
from incentives.rules import campaigns
from incentives.rules.models import Campaign
from incentives.validation import Label, Strict, regions
from incentives.web.api.base import Api, database, json_response, parse_body, path_id, principal
from incentives.web.api.rules import MANAGED, NameIn, When, program_id_param

api = Api()


Tier = Literal["platinum", "gold", "silver", "registered"]


class SegmentIn(Strict):
    tiers: Annotated[list[Tier], Field(max_length=4, default_factory=list)]
    regions: Annotated[list[str], Field(max_length=200, default_factory=list), AfterValidator(regions)]
    product_lines: Annotated[list[Label], Field(max_length=100, default_factory=list)]


class CampaignIn(Strict):
    program_id: int
    name: NameIn
    starts_at: When
    ends_at: When
    segment: Annotated[SegmentIn, Field(default_factory=SegmentIn)]
    multiplier: Annotated[float, Field(strict=False, ge=1, le=10)] = 1.0
    budget_points: Annotated[int, Field(gt=0, le=campaigns.MAX_BUDGET)] | None = None

    def to_input(self) -> campaigns.CampaignInput:
        return campaigns.CampaignInput(
            program_id=self.program_id,
            name_de=self.name.de,
            name_en=self.name.en,
            starts_at=self.starts_at,
            ends_at=self.ends_at,
            segment=campaigns.Segment(
                tuple(self.segment.tiers), tuple(self.segment.regions), tuple(self.segment.product_lines)
            ),
            multiplier=self.multiplier,
            budget_points=self.budget_points,
        )


def campaign_out(item: campaigns.Progress) -> dict[str, Any]:
    campaign = item.campaign
    return {
        "id": campaign.id,
        "program_id": campaign.program_id,
        "name": {"de": campaign.name_de, "en": campaign.name_en},
        "starts_at": campaign.starts_at,
        "ends_at": campaign.ends_at,
        "segment": {"tiers": campaign.tiers, "regions": campaign.regions, "product_lines": campaign.product_lines},
        "multiplier": campaign.multiplier,
        "budget_points": campaign.budget_points,
        "spent_points": item.spent,
        "remaining_points": item.remaining,
        "participants": item.participants,
    }


@api.route("POST", "/api/v1/campaigns", summary="Create a campaign", body=CampaignIn, status=201, errors=MANAGED)
async def post_campaign(request: Request) -> Response:
    body = await parse_body(request, CampaignIn)
    async with database(request).transaction() as session:
        campaign = await campaigns.create_campaign(session, principal(request), body.to_input())
        out = campaign_out(campaigns.Progress(campaign, 0, campaign.budget_points, 0))
    return json_response(out, 201)


@api.route(
    "GET", "/api/v1/campaigns", summary="A program's campaigns with their progress", errors=(*MANAGED, ValidationFailed)
)
async def get_campaigns(request: Request) -> Response:
    who = principal(request)
    async with database(request).reader() as session:
        items = await campaigns.list_campaigns(session, who, program_id_param(request, who))
    return json_response({"items": [campaign_out(item) for item in items]})


@api.route("GET", "/api/v1/campaigns/{id:id}", summary="One campaign with its progress", errors=MANAGED)
async def get_campaign(request: Request) -> Response:
    async with database(request).reader() as session:
        item = await campaigns.get_campaign(session, principal(request), path_id(request))
    return json_response(campaign_out(item))


@api.route(
    "PUT",
    "/api/v1/campaigns/{id:id}",
    summary="Edit a campaign (same body and checks as creating it; budget_points at least spent_points)",
    body=CampaignIn,
    errors=MANAGED,
)
async def put_campaign(request: Request) -> Response:
    body = await parse_body(request, CampaignIn)
    async with database(request).transaction() as session:
        item = await campaigns.update_campaign(session, principal(request), path_id(request), body.to_input())
    return json_response(campaign_out(item))


class CampaignPatchIn(Strict):
    """A partial edit: the fields given replace the campaign's, the others stay (then every check runs)."""

    name: NameIn | None = None
    starts_at: When | None = None
    ends_at: When | None = None
    segment: SegmentIn | None = None
    multiplier: Annotated[float, Field(strict=False, ge=1, le=10)] | None = None
    budget_points: Annotated[int, Field(gt=0, le=campaigns.MAX_BUDGET)] | None = None


@api.route(
    "PATCH",
    "/api/v1/campaigns/{id:id}",
    summary="Change some fields of a campaign (budget_points: null removes the limit); checks as for PUT",
    body=CampaignPatchIn,
    errors=MANAGED,
)
async def patch_campaign(request: Request) -> Response:
    body = await parse_body(request, CampaignPatchIn)
    given = body.model_fields_set

    def merged(current: Campaign) -> campaigns.CampaignInput:
        segment = body.segment
        return campaigns.CampaignInput(
            program_id=current.program_id,
            name_de=body.name.de if body.name else current.name_de,
            name_en=body.name.en if body.name else current.name_en,
            starts_at=body.starts_at or current.starts_at,
            ends_at=body.ends_at or current.ends_at,
            segment=campaigns.Segment(tuple(segment.tiers), tuple(segment.regions), tuple(segment.product_lines))
            if segment
            else campaigns.segment_of(current),
            multiplier=current.multiplier if body.multiplier is None else body.multiplier,
            budget_points=body.budget_points if "budget_points" in given else current.budget_points,
        )

    async with database(request).transaction() as session:
        item = await campaigns.update_campaign(session, principal(request), path_id(request), merged)
    return json_response(campaign_out(item))


@api.route(
    "DELETE",
    "/api/v1/campaigns/{id:id}",
    summary="Delete a campaign that paid nothing (204); one that paid ends now instead (200, the campaign)",
    status=204,
    errors=MANAGED,
)
async def delete_campaign(request: Request) -> Response:
    async with database(request).transaction() as session:
        outcome, campaign = await campaigns.remove_campaign(session, principal(request), path_id(request), utcnow())
        if outcome is campaigns.Removal.DELETED:
            return Response(status_code=204)
        item = (await campaigns.progress(session, [campaign]))[0]
    return json_response(campaign_out(item))
