"""Rule pages: the managers' rule list and editor (live validation, simulation preview, versions) and the
partners' "how to earn points"; also what the rules area's pages share (roles, labels, names)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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
from incentives.rules import services
from incentives.rules.describe import describe_points
from incentives.rules.evaluation import ActiveRule
from incentives.rules.forms import generate, helpers_of, parse_number
from incentives.rules.models import Campaign, RuleVersion
from incentives.rules.simulation import simulate
from incentives.rules.variables import EVENTS
from incentives.web import nav
from incentives.web.context import current_db, current_principal
from incentives.web.forms import form_errors
from incentives.web.templating import render, see_other

MANAGERS = {Role.ADMIN, Role.PARTNER_MANAGER}
nav.register("/rules", N_("Rules"), MANAGERS, order=30, more_for=MANAGERS)

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
FIELDS = ("name_de", "name_en", "event", "condition", "points", "active", "cap_per", "cap_max_points", *SIMPLE_FIELDS)
CAP_LABELS = {"day": N_("a day"), "week": N_("a week"), "month": N_("a month")}


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


def last_day(campaign: Campaign) -> dt.datetime:
    """The day a campaign's (exclusive) end falls in, as people say it: "until 31 March"."""
    return campaign.ends_at - dt.timedelta(microseconds=1)


# --- manager pages ----------------------------------------------------------------------------------------


async def rule_list(request: Request) -> Response:
    who = manager_of(request)
    assert who.program_id is not None
    async with current_db(request).reader() as session:
        versions = await services.list_rules(session, who, who.program_id)
    context = {"versions": versions, "name_of": name_of, "shape_of": describe_points, "css": CSS, **LABELS}
    return render(request, "rules/list.html", context)


def _values_of(version: RuleVersion | None, locale: str) -> dict[str, str]:
    """The form's values: the rule's, with the simple fields that write its condition and points (none for an
    advanced rule, which the page then says)."""
    if version is None:
        return {"event": "lead.reserved", "condition": "true", "points": "10", "active": "1", "base_points": "10"}
    helpers = helpers_of(version.event, version.condition, version.points, locale) or {}
    return {
        **helpers,
        "name_de": version.name_de,
        "name_en": version.name_en,
        "event": version.event,
        "condition": version.condition,
        "points": version.points,
        "active": "1" if version.active else "",
        "cap_per": version.cap_per or "",
        "cap_max_points": "" if version.cap_max_points is None else i18n.format_number(version.cap_max_points, locale),
    }


def _form_values(form: FormData) -> dict[str, str]:
    return {name: str(form.get(name, "")).strip() for name in FIELDS}


def _input(who: Principal, values: Mapping[str, str], campaign_id: int | None, locale: str) -> services.RuleInput:
    assert who.program_id is not None
    errors = [
        FieldError((name,), N_("This field is required."))
        for name in ("name_de", "name_en")
        if not values.get(name) or len(values[name]) > 200
    ]
    cap = parse_number(values.get("cap_max_points", ""), locale)
    if values.get("cap_max_points") and (cap is None or cap != int(cap)):
        errors.append(FieldError(("cap",), N_("Please enter whole points between 1 and 100,000.")))
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
        cap_per=values.get("cap_per") or None,
        cap_max_points=None if cap is None else int(cap),
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
    values = _values_of(current, request.state.locale)
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = _form_values(await request.form())
        try:
            data = _input(who, values, current.campaign_id if current else None, request.state.locale)
            # Keep what the form does not show (validity window, effect) from the version being edited.
            if current is not None:
                data = _keep(data, current)
            async with current_db(request).transaction() as session:
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
        "caps": CAP_LABELS,
        "advanced": current is not None and helpers_of(current.event, current.condition, current.points, "en") is None,
        "name_of": name_of,
        "css": CSS,
        **LABELS,
    }
    return render(request, "rules/editor.html", context, status_code=422 if errors else 200)


def _keep(data: services.RuleInput, current: RuleVersion) -> services.RuleInput:
    return services.RuleInput(
        **{
            **data.__dict__,
            "valid_from": current.valid_from,
            "valid_to": current.valid_to,
            "effect": current.effect,
        }
    )


async def generate_fragment(request: Request) -> Response:
    """The simple fields changed: fill the advanced fields with the CEL they mean, checked."""
    manager_of(request)
    values = _form_values(await request.form())
    condition, points, problems = generate(values, request.state.locale)
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
        if str(form.get("rule_id", "")).isascii() and str(form.get("rule_id", "")).isdigit():
            # Editing: the preview keeps the rule's campaign (the form does not change it), and its cap unless
            # the form sends one.
            async with current_db(request).reader() as session:
                current = (await services.rule_history(session, who, int(str(form["rule_id"]))))[0]
            cap_per, cap_max, campaign_id = current.cap_per, current.cap_max_points, current.campaign_id
        if "cap_per" in form:
            typed = parse_number(values.get("cap_max_points", ""), request.state.locale)
            cap_per = values["cap_per"] or None
            cap_max = int(typed) if typed is not None and typed == int(typed) and cap_per else None
            cap_per = cap_per if cap_max else None
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


routes = [
    Route("/rules", rule_list),
    Route("/rules/new", rule_editor, methods=["GET", "POST"]),
    Route("/rules/{id:id}", rule_editor, methods=["GET", "POST"]),
    Route("/rules/generate", generate_fragment, methods=["POST"]),
    Route("/rules/validate", validate_fragment, methods=["POST"]),
    Route("/rules/simulate", simulate_fragment, methods=["POST"]),
]
