"""Rule pages: the managers' rule list and editor (live validation, simulation preview, versions), campaigns,
and the partners' "how to earn points"."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from incentives import i18n
from incentives.accounts import queries as accounts
from incentives.accounts.roles import Role
from incentives.accounts.scope import Principal
from incentives.db import utcnow
from incentives.errors import N_, DomainError, FieldError, NotFound, ValidationFailed
from incentives.rules import campaigns, services
from incentives.rules.describe import PointsShape, describe_points
from incentives.rules.earning import ways_to_earn
from incentives.rules.evaluation import ActiveRule
from incentives.rules.forms import generate, parse_number
from incentives.rules.models import Campaign, RuleVersion
from incentives.rules.simulation import simulate
from incentives.rules.variables import EVENTS
from incentives.validation import regions
from incentives.web import nav
from incentives.web.context import current_db, current_principal
from incentives.web.forms import form_errors
from incentives.web.templating import render, see_other

MANAGERS = {Role.ADMIN, Role.PARTNER_MANAGER}
EARNERS = {Role.RESELLER_MANAGER, Role.RESELLER_REP}
nav.register("/rules", N_("Rules"), MANAGERS, order=30)
nav.register("/rules/campaigns", N_("Campaigns"), MANAGERS, order=31)
nav.register("/points/earn", N_("How to earn points"), EARNERS, order=45)

CSS = "/static/rules-1.css"
PREVIEW_DAYS = 30
EVENT_LABELS = {
    "lead.reserved": N_("a lead is reserved"),
    "lead.feedback": N_("feedback is given"),
    "lead.won": N_("a deal is won"),
    "lead.lost": N_("a deal is lost"),
    "lead.returned": N_("a lead is returned"),
}
TEMPERATURE_LABELS = {"cold": N_("cold"), "warm": N_("warm"), "hot": N_("hot")}
TIER_LABELS = {"platinum": N_("Platinum"), "gold": N_("Gold"), "silver": N_("Silver"), "registered": N_("Registered")}
LABELS = {"events": EVENT_LABELS, "temperatures": TEMPERATURE_LABELS, "tiers": TIER_LABELS}
SIMPLE_FIELDS = ("temperature", "within_hours", "tier", "product_line", "base_points", "cold_multiplier")
FIELDS = ("name_de", "name_en", "event", "condition", "points", "active", *SIMPLE_FIELDS)


def manager_of(request: Request) -> Principal:
    """Admins and partner managers of their program; everybody else finds nothing here."""
    who = current_principal(request)
    if who.role not in MANAGERS or who.program_id is None:
        raise NotFound()
    return who


def translate(request: Request, message: str, **params: Any) -> str:
    return i18n.gettext(request.state.locale, message, **params)


def name_of(request: Request, item: RuleVersion | Campaign) -> str:
    return item.name_de if request.state.locale == "de" else item.name_en


# --- manager pages ----------------------------------------------------------------------------------------


async def rule_list(request: Request) -> Response:
    who = manager_of(request)
    assert who.program_id is not None
    async with current_db(request).reader() as session:
        versions = await services.list_rules(session, who, who.program_id)
    context = {"versions": versions, "name_of": name_of, "shape_of": describe_points, "css": CSS, **LABELS}
    return render(request, "rules/list.html", context)


def _values_of(version: RuleVersion | None) -> dict[str, str]:
    if version is None:
        return {"event": "lead.reserved", "condition": "true", "points": "10", "active": "1", "base_points": "10"}
    return {
        "name_de": version.name_de,
        "name_en": version.name_en,
        "event": version.event,
        "condition": version.condition,
        "points": version.points,
        "active": "1" if version.active else "",
    }


def _form_values(form: FormData) -> dict[str, str]:
    return {name: str(form.get(name, "")).strip() for name in FIELDS}


def _input(who: Principal, values: Mapping[str, str], campaign_id: int | None) -> services.RuleInput:
    assert who.program_id is not None
    errors = [
        FieldError((name,), N_("This field is required."))
        for name in ("name_de", "name_en")
        if not values.get(name) or len(values[name]) > 200
    ]
    if errors:
        raise ValidationFailed(errors)
    return services.RuleInput(
        program_id=who.program_id,
        name_de=values["name_de"],
        name_en=values["name_en"],
        event=values.get("event", ""),
        condition=values.get("condition", ""),
        points=values.get("points", ""),
        active=bool(values.get("active")),
        campaign_id=campaign_id,
    )


async def rule_editor(request: Request) -> Response:
    """New rule (`/rules/new`) or a new version of one (`/rules/{id}`); POST saves, then shows the rule."""
    who = manager_of(request)
    rule_id: int | None = request.path_params.get("id")
    current: RuleVersion | None = None
    history: list[RuleVersion] = []
    if rule_id is not None:
        async with current_db(request).reader() as session:
            history = await services.rule_history(session, who, rule_id)
        current = history[0]
    values = _values_of(current)
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = _form_values(await request.form())
        try:
            data = _input(who, values, current.campaign_id if current else None)
            # Keep what the form does not show (caps, windows, effect) from the version being edited.
            if current is not None:
                data = _keep(data, current)
            async with current_db(request).session() as session:
                if rule_id is None:
                    saved = await services.create_rule(session, who, data)
                else:
                    saved = await services.update_rule(session, who, rule_id, data)
            return see_other(f"/rules/{saved.rule_id}?saved={saved.version}")
        except DomainError as error:
            errors = form_errors(request, error)
    context = {
        "values": values,
        "errors": errors,
        "rule_id": rule_id,
        "current": current,
        "history": history,
        "saved": request.query_params.get("saved"),
        "preview_days": PREVIEW_DAYS,
        "event_names": EVENTS,
        "name_of": name_of,
        "css": CSS,
        **LABELS,
    }
    return render(request, "rules/editor.html", context, status_code=422 if errors else 200)


def _keep(data: services.RuleInput, current: RuleVersion) -> services.RuleInput:
    return services.RuleInput(
        **{
            **data.__dict__,
            "cap_per": current.cap_per,
            "cap_max_points": current.cap_max_points,
            "valid_from": current.valid_from,
            "valid_to": current.valid_to,
            "effect": current.effect,
        }
    )


async def generate_fragment(request: Request) -> Response:
    """The simple fields changed: fill the advanced fields with the CEL they mean, checked."""
    manager_of(request)
    values = _form_values(await request.form())
    condition, points, problems = generate(values)
    errors = {name: translate(request, message) for name, message in problems.items()}
    if not errors:
        values.update(condition=condition, points=points)
        errors = _check(request, values)
    context = {"values": values, "errors": errors, "event_names": EVENTS, **LABELS}
    return render(request, "rules/includes/expressions.html", context)


def _check(request: Request, values: Mapping[str, str]) -> dict[str, str]:
    try:
        services.check_expressions(values.get("event", ""), values.get("condition", ""), values.get("points", ""))
    except DomainError as error:
        return form_errors(request, error)
    return {}


async def validate_fragment(request: Request) -> Response:
    """Live validation while typing in the advanced fields."""
    manager_of(request)
    values = _form_values(await request.form())
    return render(request, "rules/includes/validation.html", {"errors": _check(request, values)})


@dataclass(frozen=True)
class PreviewRow:
    name: str
    points: int


async def simulate_fragment(request: Request) -> Response:
    """What the rule as typed would have paid over the last 30 days, per partner and in total."""
    who = manager_of(request)
    assert who.program_id is not None
    form = await request.form()
    values = _form_values(form)
    errors = _check(request, values)
    rows: list[PreviewRow] = []
    result = None
    if not errors:
        cap_per, cap_max, campaign_id = None, None, None
        if str(form.get("rule_id", "")).isdigit():
            # Editing: the preview keeps the rule's cap and campaign, which the form does not change.
            async with current_db(request).reader() as session:
                current = (await services.rule_history(session, who, int(str(form["rule_id"]))))[0]
            cap_per, cap_max, campaign_id = current.cap_per, current.cap_max_points, current.campaign_id
        draft = services.RuleInput(
            program_id=who.program_id,
            name_de="",
            name_en="",
            event=values["event"],
            condition=values["condition"],
            points=values["points"],
            cap_per=cap_per,
            cap_max_points=cap_max,
        )
        end = utcnow()
        async with current_db(request).reader() as session:
            start = end - dt.timedelta(days=PREVIEW_DAYS)
            result = await simulate(session, ActiveRule.of(draft), start, end, campaign_id)
            names = await accounts.org_names(session, result.by_org)
        rows = sorted(
            (PreviewRow(names.get(org_id, str(org_id)), points) for org_id, points in result.by_org.items()),
            key=lambda row: (-row.points, row.name),
        )
    context = {"problems": errors, "result": result, "rows": rows, "preview_days": PREVIEW_DAYS}
    return render(request, "rules/includes/simulation.html", context)


async def campaign_list(request: Request) -> Response:
    who = manager_of(request)
    assert who.program_id is not None
    async with current_db(request).reader() as session:
        items = await campaigns.list_campaigns(session, who, who.program_id)
    done = next((name for name in ("saved", "deleted", "ended") if request.query_params.get(name)), None)
    context = {
        "items": items,
        "done": done,
        "name_of": name_of,
        "last_day": _last_day,
        "now": utcnow(),
        "css": CSS,
        **LABELS,
    }
    return render(request, "rules/campaigns.html", context)


def _last_day(campaign: Campaign) -> dt.datetime:
    """The day a campaign's (exclusive) end falls in, as people say it: "until 31 March"."""
    return campaign.ends_at - dt.timedelta(microseconds=1)


CAMPAIGN_FIELDS = (
    "name_de",
    "name_en",
    "starts_on",
    "ends_on",
    "regions",
    "product_lines",
    "multiplier",
    "budget_points",
)


def _campaign_input(who: Principal, values: Mapping[str, str], tiers: list[str]) -> campaigns.CampaignInput:
    """The campaign form: whole days in the program's time zone, the end day included; lists separated by commas."""
    assert who.program_id is not None
    errors: list[FieldError] = [
        FieldError((name,), N_("This field is required."))
        for name in ("name_de", "name_en")
        if not values.get(name) or len(values[name]) > 200
    ]
    days: dict[str, dt.datetime] = {}
    for name in ("starts_on", "ends_on"):
        try:
            day = dt.date.fromisoformat(values.get(name, "")) + dt.timedelta(days=1 if name == "ends_on" else 0)
            days[name] = dt.datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(i18n.TIMEZONE)).astimezone(dt.UTC)
        except ValueError:
            errors.append(FieldError((name,), N_("Please enter a date.")))
    try:
        region_list = regions([r for r in values.get("regions", "").split(",") if r.strip()])
    except ValueError as error:
        errors.append(FieldError(("regions",), str(error)))
        region_list = []
    lines = [line.strip() for line in values.get("product_lines", "").split(",") if line.strip()]
    if any(len(line) > 80 for line in lines):
        errors.append(FieldError(("product_lines",), N_("Must be at most %(le)s characters."), le=80))
    multiplier = parse_number(values.get("multiplier", "")) if values.get("multiplier") else 1.0
    if multiplier is None:
        errors.append(FieldError(("multiplier",), N_("Must be between %(ge)s and %(le)s."), ge=1, le=10))
    budget: int | None = None
    if values.get("budget_points"):
        try:
            budget = int(values["budget_points"].replace(".", "").replace(",", ""))
        except ValueError:
            errors.append(FieldError(("budget_points",), N_("Must be at least %(ge)s."), ge=1))
    if errors:
        raise ValidationFailed(errors)
    data = campaigns.CampaignInput(
        program_id=who.program_id,
        name_de=values["name_de"],
        name_en=values["name_en"],
        starts_at=days["starts_on"],
        ends_at=days["ends_on"],
        segment=campaigns.Segment(
            tuple(t for t in tiers if t in TIER_LABELS), tuple(region_list), tuple(dict.fromkeys(lines))
        ),
        multiplier=multiplier or 1.0,
        budget_points=budget,
    )
    if data.ends_at <= data.starts_at:
        raise ValidationFailed([FieldError(("ends_on",), N_("Must be later than the start."))])
    return data


def _campaign_values(campaign: Campaign) -> dict[str, str]:
    """The form's values of a saved campaign: local days, the end day included; lists with commas."""
    zone = ZoneInfo(i18n.TIMEZONE)
    return {
        "name_de": campaign.name_de,
        "name_en": campaign.name_en,
        "starts_on": campaign.starts_at.astimezone(zone).date().isoformat(),
        "ends_on": _last_day(campaign).astimezone(zone).date().isoformat(),
        "regions": ", ".join(campaign.regions),
        "product_lines": ", ".join(campaign.product_lines),
        "multiplier": f"{campaign.multiplier:g}",
        "budget_points": "" if campaign.budget_points is None else str(campaign.budget_points),
    }


async def campaign_editor(request: Request) -> Response:
    """New campaign (`/rules/campaigns/new`) or an edit of one (`/rules/campaigns/{id}`); POST saves."""
    who = manager_of(request)
    campaign_id: int | None = request.path_params.get("id")
    item: campaigns.Progress | None = None
    values: dict[str, str] = {"multiplier": "1"}
    tiers: list[str] = []
    if campaign_id is not None:
        async with current_db(request).reader() as session:
            item = await campaigns.get_campaign(session, who, campaign_id)
        values, tiers = _campaign_values(item.campaign), list(item.campaign.tiers)
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = await request.form()
        values = {name: str(form.get(name, "")).strip() for name in CAMPAIGN_FIELDS}
        tiers = [str(t) for t in form.getlist("tiers")]
        try:
            data = _campaign_input(who, values, tiers)
            async with current_db(request).session() as session:
                if campaign_id is None:
                    await campaigns.create_campaign(session, who, data)
                else:
                    await campaigns.update_campaign(session, who, campaign_id, data)
            return see_other("/rules/campaigns" if campaign_id is None else "/rules/campaigns?saved=1")
        except DomainError as error:
            errors = form_errors(request, error)
            # The service names the API's fields; the form has days.
            for api_name, form_name in (("starts_at", "starts_on"), ("ends_at", "ends_on")):
                if api_name in errors:
                    errors[form_name] = errors.pop(api_name)
    context = {"values": values, "chosen": tiers, "errors": errors, "item": item, "css": CSS, **LABELS}
    return render(request, "rules/campaign_new.html", context, status_code=422 if errors else 200)


async def campaign_remove(request: Request) -> Response:
    """Delete a campaign that paid nothing, end one that did; the list says which happened."""
    who = manager_of(request)
    async with current_db(request).session() as session:
        outcome, _ = await campaigns.remove_campaign(session, who, request.path_params["id"], utcnow())
    return see_other(f"/rules/campaigns?{outcome.value}=1")


# --- partners: how to earn points -------------------------------------------------------------------------


@dataclass(frozen=True)
class Way:
    name: str
    event: str
    points: PointsShape
    cap_per: str | None
    cap_max_points: int | None


async def earn_page(request: Request) -> Response:
    who = current_principal(request)
    if who.role not in EARNERS:
        raise NotFound()
    now = utcnow()
    async with current_db(request).reader() as session:
        earning = await ways_to_earn(session, who.org_id, now)
    versions = earning.rules
    ways = [
        Way(name_of(request, v), v.event, describe_points(v), v.cap_per, v.cap_max_points)
        for v in versions
        if v.campaign_id is None
    ]
    extras = {
        item.campaign.id: [
            (name_of(request, v), describe_points(v)) for v in versions if v.campaign_id == item.campaign.id
        ]
        for item in earning.campaigns
    }
    context = {
        "ways": ways,
        "progress": earning.campaigns,
        "extras": extras,
        "reverses": earning.reverses,
        "last_day": _last_day,
        "now": now,
        "name_of": name_of,
        "css": CSS,
        **LABELS,
    }
    return render(request, "rules/earn.html", context)


routes = [
    Route("/rules", rule_list),
    Route("/rules/new", rule_editor, methods=["GET", "POST"]),
    Route("/rules/{id:int}", rule_editor, methods=["GET", "POST"]),
    Route("/rules/generate", generate_fragment, methods=["POST"]),
    Route("/rules/validate", validate_fragment, methods=["POST"]),
    Route("/rules/simulate", simulate_fragment, methods=["POST"]),
    Route("/rules/campaigns", campaign_list),
    Route("/rules/campaigns/new", campaign_editor, methods=["GET", "POST"]),
    Route("/rules/campaigns/{id:int}", campaign_editor, methods=["GET", "POST"]),
    Route("/rules/campaigns/{id:int}/delete", campaign_remove, methods=["POST"]),
    Route("/points/earn", earn_page),
]
