"""Campaign pages for managers: the list with progress, the form (new, edit) and delete-or-end.

The form speaks in whole local days with the end day included and lists separated by commas; the
service speaks in UTC moments with an exclusive end, so this module translates between the two.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from incentives import i18n
from incentives.accounts.scope import Principal
from incentives.db import utcnow
from incentives.errors import N_, DomainError, FieldError, ValidationFailed
from incentives.rules import campaigns
from incentives.rules.forms import parse_number
from incentives.rules.models import Campaign
from incentives.validation import regions
from incentives.web import nav
from incentives.web.context import current_db
from incentives.web.forms import form_errors
from incentives.web.rules import CSS, LABELS, MANAGERS, TIER_LABELS, last_day, manager_of, name_of
from incentives.web.templating import render, see_other

nav.register("/rules/campaigns", N_("Campaigns"), MANAGERS, order=31, more_for=MANAGERS)


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
        "last_day": last_day,
        "now": utcnow(),
        "css": CSS,
        **LABELS,
    }
    return render(request, "rules/campaigns.html", context)


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


def _campaign_input(
    who: Principal, values: Mapping[str, str], tiers: list[str], locale: str
) -> campaigns.CampaignInput:
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
    multiplier = parse_number(values.get("multiplier", ""), locale) if values.get("multiplier") else 1.0
    if multiplier is None:
        errors.append(FieldError(("multiplier",), N_("Must be between %(ge)s and %(le)s."), ge=1, le=10))
    budget: int | None = None
    if values.get("budget_points"):
        try:
            budget = int(i18n.parse_number(values["budget_points"], locale) or 0)
            if budget != i18n.parse_number(values["budget_points"], locale):
                raise ValueError(values["budget_points"])
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
        "ends_on": last_day(campaign).astimezone(zone).date().isoformat(),
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
            data = _campaign_input(who, values, tiers, request.state.locale)
            async with current_db(request).transaction() as session:
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
    async with current_db(request).transaction() as session:
        outcome, _ = await campaigns.remove_campaign(session, who, request.path_params["id"], utcnow())
    return see_other(f"/rules/campaigns?{outcome.value}=1")


routes = [
    Route("/rules/campaigns", campaign_list),
    Route("/rules/campaigns/new", campaign_editor, methods=["GET", "POST"]),
    Route("/rules/campaigns/{id:id}", campaign_editor, methods=["GET", "POST"]),
    Route("/rules/campaigns/{id:id}/delete", campaign_remove, methods=["POST"]),
]
