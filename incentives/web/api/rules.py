"""Rules endpoints of API.md: create, edit (new version), list, history, validate, simulate."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints
from starlette.requests import Request
from starlette.responses import Response

from incentives.accounts.scope import Principal
from incentives.errors import N_, FieldError, Forbidden, NotFound, ValidationFailed
from incentives.rules import queries, services
from incentives.rules.errors import InvalidExpression
from incentives.rules.evaluation import ActiveRule
from incentives.rules.models import RuleVersion
from incentives.rules.simulation import Simulation, simulate
from incentives.validation import Strict
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
        "valid_from": version.valid_from,
        "valid_to": version.valid_to,
        "active": version.active,
        "campaign_id": version.campaign_id,
        "created_at": version.created_at,
    }


def program_id_param(request: Request, who: Principal) -> int:
    """`?program_id=`, or the caller's own program when it has one."""
    program_id = query_int(request, "program_id") or who.program_id
    if program_id is None:
        raise ValidationFailed([FieldError(("query", "program_id"), N_("This field is required."))])
    return program_id


MANAGED = (Forbidden, NotFound)  # a program's rules and campaigns are its managers' (404 outside the scope)
CHECKED = (*MANAGED, InvalidExpression)


@api.route("POST", "/api/v1/rules", summary="Create a reward rule", body=RuleIn, status=201, errors=CHECKED)
async def post_rule(request: Request) -> Response:
    body = await parse_body(request, RuleIn)
    async with database(request).transaction() as session:
        version = await services.create_rule(session, principal(request), body.to_input())
    return json_response({"id": version.rule_id, "version": version.version}, 201)


@api.route("PUT", "/api/v1/rules/{id:id}", summary="Edit a rule (adds a version)", body=RuleIn, errors=CHECKED)
async def put_rule(request: Request) -> Response:
    body = await parse_body(request, RuleIn)
    async with database(request).transaction() as session:
        version = await services.update_rule(session, principal(request), path_id(request), body.to_input())
    return json_response({"id": version.rule_id, "version": version.version})


@api.route(
    "GET", "/api/v1/rules", summary="The current version of each rule of a program", errors=(*MANAGED, ValidationFailed)
)
async def get_rules(request: Request) -> Response:
    who = principal(request)
    async with database(request).reader() as session:
        versions = await services.list_rules(session, who, program_id_param(request, who))
    return json_response({"items": [rule_out(version) for version in versions]})


@api.route("GET", "/api/v1/rules/{id:id}/versions", summary="Every version of a rule, newest first", errors=MANAGED)
async def get_versions(request: Request) -> Response:
    async with database(request).reader() as session:
        versions = await services.rule_history(session, principal(request), path_id(request))
    return json_response({"items": [rule_out(version) for version in versions]})


@api.route(
    "POST",
    "/api/v1/rules/validate",
    summary="Check a condition and points formula",
    body=ValidateIn,
    errors=(InvalidExpression,),
)
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
    errors=CHECKED,
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
    "/api/v1/rules/{id:id}/simulate",
    summary="What the rule would have paid; changes nothing",
    body=SimulateIn,
    errors=MANAGED,
)
async def post_simulate(request: Request) -> Response:
    who = principal(request)
    body = await parse_body(request, SimulateIn)
    _check_window(body)
    async with database(request).reader() as session:
        version = await queries.current_version(session, path_id(request))
        if version is None:
            raise NotFound()
        services.ensure_manages_found(who, version.program_id)
        result = await simulate(session, ActiveRule.of(version), body.start, body.end, version.campaign_id)
    return json_response(_simulation_out(result))
