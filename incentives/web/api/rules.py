"""Rules endpoints of API.md: create, edit (new version), list, history, validate, simulate; campaigns."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints
from starlette.requests import Request
from starlette.responses import Response

from incentives.accounts.scope import Principal
from incentives.db import utcnow
from incentives.errors import N_, FieldError, NotFound, ValidationFailed
from incentives.rules import campaigns, queries, services
from incentives.rules.evaluation import ActiveRule
from incentives.rules.models import Campaign, RuleVersion
from incentives.rules.simulation import Simulation, simulate
from incentives.validation import Label, Strict, regions
from incentives.web.api.base import Api, database, json_response, parse_body, path_id, principal, query_int

api = Api()

Expression = Annotated[str, StringConstraints(min_length=1, max_length=1000)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def _aware(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError(N_("Must include a time zone, e.g. 2026-03-01T00:00:00Z."))
    return value.astimezone(dt.UTC)


When = Annotated[dt.datetime, Field(strict=False), AfterValidator(_aware)]
MAX_SIMULATION_DAYS = 400


class NameIn(Strict):
    de: Text
    en: Text


class CapIn(Strict):
    per: Literal["day", "week", "month"]
    max_points: int


class RuleIn(Strict):
    program_id: int
    name: NameIn
    event: str
    effect: Literal["award", "reverse"] = "award"
    condition: Expression
    points: Expression
    cap: CapIn | None = None
    valid_from: When | None = None
    valid_to: When | None = None
    campaign_id: int | None = None
    active: bool = True

    def to_input(self) -> services.RuleInput:
        return services.RuleInput(
            program_id=self.program_id,
            name_de=self.name.de,
            name_en=self.name.en,
            event=self.event,
            condition=self.condition,
            points=self.points,
            cap_per=self.cap.per if self.cap else None,
            cap_max_points=self.cap.max_points if self.cap else None,
            valid_from=self.valid_from,
            valid_to=self.valid_to,
            active=self.active,
            campaign_id=self.campaign_id,
            effect=self.effect,
        )


class ValidateIn(Strict):
    event: str
    condition: Expression
    points: Expression
    effect: Literal["award", "reverse"] = "award"


class SimulateIn(Strict):
    start: When = Field(alias="from")
    end: When = Field(alias="to")


class DraftSimulateIn(SimulateIn):
    """A rule not saved yet, as the editor shows it before saving."""

    program_id: int
    event: str
    effect: Literal["award", "reverse"] = "award"
    condition: Expression
    points: Expression
    cap: CapIn | None = None


def _time(value: dt.datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def rule_out(version: RuleVersion) -> dict[str, Any]:
    cap = {"per": version.cap_per, "max_points": version.cap_max_points} if version.cap_per else None
    return {
        "id": version.rule_id,
        "version": version.version,
        "program_id": version.program_id,
        "name": {"de": version.name_de, "en": version.name_en},
        "event": version.event,
        "effect": version.effect,
        "condition": version.condition,
        "points": version.points,
        "cap": cap,
        "valid_from": _time(version.valid_from),
        "valid_to": _time(version.valid_to),
        "active": version.active,
        "campaign_id": version.campaign_id,
        "created_at": _time(version.created_at),
    }


def _program_id(request: Request, who: Principal) -> int:
    """`?program_id=`, or the caller's own program when it has one."""
    program_id = query_int(request, "program_id") or who.program_id
    if program_id is None:
        raise ValidationFailed([FieldError(("query", "program_id"), N_("This field is required."))])
    return program_id


ERRORS = ("forbidden", "not_found", "validation_error", "invalid_expression")


@api.route("POST", "/api/v1/rules", summary="Create a reward rule", body=RuleIn, status=201, errors=ERRORS)
async def post_rule(request: Request) -> Response:
    body = await parse_body(request, RuleIn)
    async with database(request).session() as session:
        version = await services.create_rule(session, principal(request), body.to_input())
    return json_response({"id": version.rule_id, "version": version.version}, 201)


@api.route("PUT", "/api/v1/rules/{id:int}", summary="Edit a rule (adds a version)", body=RuleIn, errors=ERRORS)
async def put_rule(request: Request) -> Response:
    body = await parse_body(request, RuleIn)
    async with database(request).session() as session:
        version = await services.update_rule(session, principal(request), path_id(request), body.to_input())
    return json_response({"id": version.rule_id, "version": version.version})


@api.route("GET", "/api/v1/rules", summary="The current version of each rule of a program", errors=ERRORS)
async def get_rules(request: Request) -> Response:
    who = principal(request)
    async with database(request).reader() as session:
        versions = await services.list_rules(session, who, _program_id(request, who))
    return json_response({"items": [rule_out(version) for version in versions]})


@api.route("GET", "/api/v1/rules/{id:int}/versions", summary="Every version of a rule, newest first", errors=ERRORS)
async def get_versions(request: Request) -> Response:
    async with database(request).reader() as session:
        versions = await services.rule_history(session, principal(request), path_id(request))
    return json_response({"items": [rule_out(version) for version in versions]})


@api.route("POST", "/api/v1/rules/validate", summary="Check a condition and points formula", body=ValidateIn)
async def post_validate(request: Request) -> Response:
    principal(request)
    body = await parse_body(request, ValidateIn)
    services.check_expressions(body.event, body.condition, body.points, body.effect)
    return json_response({"ok": True})


def _check_window(body: SimulateIn) -> None:
    if body.end <= body.start or body.end - body.start > dt.timedelta(days=MAX_SIMULATION_DAYS):
        raise ValidationFailed(
            [
                FieldError(
                    ("to",),
                    N_("Must be later than the start and at most %(days)s days after it."),
                    days=MAX_SIMULATION_DAYS,
                )
            ]
        )


def _simulation_out(result: Simulation) -> dict[str, Any]:
    return {
        "events": result.events,
        "awards": result.awards,
        "points": result.points,
        "skipped": result.skipped,
        "campaign_points": result.campaign_points,
        "by_org": [{"org_id": org_id, "points": points} for org_id, points in result.by_org.items()],
    }


@api.route(
    "POST",
    "/api/v1/rules/simulate",
    summary="What a draft rule would have paid; changes nothing",
    body=DraftSimulateIn,
    errors=ERRORS,
)
async def post_simulate_draft(request: Request) -> Response:
    who = principal(request)
    body = await parse_body(request, DraftSimulateIn)
    _check_window(body)
    services.ensure_manager(who, body.program_id)
    draft = services.RuleInput(
        program_id=body.program_id,
        name_de="",
        name_en="",
        event=body.event,
        condition=body.condition,
        points=body.points,
        cap_per=body.cap.per if body.cap else None,
        cap_max_points=body.cap.max_points if body.cap else None,
        effect=body.effect,
    )
    services.check_rule(draft)
    async with database(request).reader() as session:
        result = await simulate(session, ActiveRule.of(draft), body.start, body.end)
    return json_response(_simulation_out(result))


@api.route(
    "POST",
    "/api/v1/rules/{id:int}/simulate",
    summary="What the rule would have paid; changes nothing",
    body=SimulateIn,
    errors=ERRORS,
)
async def post_simulate(request: Request) -> Response:
    who = principal(request)
    body = await parse_body(request, SimulateIn)
    _check_window(body)
    async with database(request).reader() as session:
        version = await queries.current_version(session, path_id(request))
        if version is None:
            raise NotFound()
        services.ensure_manager(who, version.program_id)
        result = await simulate(session, ActiveRule.of(version), body.start, body.end, version.campaign_id)
    return json_response(_simulation_out(result))


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
    c = item.campaign
    return {
        "id": c.id,
        "program_id": c.program_id,
        "name": {"de": c.name_de, "en": c.name_en},
        "starts_at": _time(c.starts_at),
        "ends_at": _time(c.ends_at),
        "segment": {"tiers": c.tiers, "regions": c.regions, "product_lines": c.product_lines},
        "multiplier": c.multiplier,
        "budget_points": c.budget_points,
        "spent_points": item.spent,
        "remaining_points": item.remaining,
        "participants": item.participants,
    }


CAMPAIGN_ERRORS = ("forbidden", "not_found", "validation_error")


@api.route(
    "POST", "/api/v1/campaigns", summary="Create a campaign", body=CampaignIn, status=201, errors=CAMPAIGN_ERRORS
)
async def post_campaign(request: Request) -> Response:
    body = await parse_body(request, CampaignIn)
    async with database(request).session() as session:
        campaign = await campaigns.create_campaign(session, principal(request), body.to_input())
        out = campaign_out(campaigns.Progress(campaign, 0, campaign.budget_points, 0))
    return json_response(out, 201)


@api.route("GET", "/api/v1/campaigns", summary="A program's campaigns with their progress", errors=CAMPAIGN_ERRORS)
async def get_campaigns(request: Request) -> Response:
    who = principal(request)
    async with database(request).reader() as session:
        items = await campaigns.list_campaigns(session, who, _program_id(request, who))
    return json_response({"items": [campaign_out(item) for item in items]})


@api.route("GET", "/api/v1/campaigns/{id:int}", summary="One campaign with its progress", errors=CAMPAIGN_ERRORS)
async def get_campaign(request: Request) -> Response:
    async with database(request).reader() as session:
        item = await campaigns.get_campaign(session, principal(request), path_id(request))
    return json_response(campaign_out(item))


@api.route(
    "PUT",
    "/api/v1/campaigns/{id:int}",
    summary="Edit a campaign (same body and checks as creating it; budget_points at least spent_points)",
    body=CampaignIn,
    errors=CAMPAIGN_ERRORS,
)
async def put_campaign(request: Request) -> Response:
    body = await parse_body(request, CampaignIn)
    async with database(request).session() as session:
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
    "/api/v1/campaigns/{id:int}",
    summary="Change some fields of a campaign (budget_points: null removes the limit); checks as for PUT",
    body=CampaignPatchIn,
    errors=CAMPAIGN_ERRORS,
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

    async with database(request).session() as session:
        item = await campaigns.update_campaign(session, principal(request), path_id(request), merged)
    return json_response(campaign_out(item))


@api.route(
    "DELETE",
    "/api/v1/campaigns/{id:int}",
    summary="Delete a campaign that paid nothing (204); one that paid ends now instead (200, the campaign)",
    status=204,
    errors=CAMPAIGN_ERRORS,
)
async def delete_campaign(request: Request) -> Response:
    async with database(request).session() as session:
        outcome, campaign = await campaigns.remove_campaign(session, principal(request), path_id(request), utcnow())
        if outcome is campaigns.Removal.DELETED:
            return Response(status_code=204)
        item = (await campaigns.progress(session, [campaign]))[0]
    return json_response(campaign_out(item))
