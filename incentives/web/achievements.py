"""Achievement pages: partners' badges (earned and locked, with progress bars) and streaks; managers' list of
achievements with the form that defines one, validated live like the rule editor."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from incentives import i18n
from incentives.accounts.roles import Role
from incentives.db import utcnow
from incentives.engagement import definitions, progress
from incentives.engagement.models import Kind, Period
from incentives.errors import N_, DomainError, FieldError, NotFound, ValidationFailed
from incentives.leads import streaks
from incentives.leads.models import StreakKey
from incentives.local_time import LOCAL
from incentives.rules.variables import EVENTS
from incentives.web import nav
from incentives.web.context import current_db, current_principal
from incentives.web.forms import form_errors
from incentives.web.rewards_base import chosen_program
from incentives.web.rules import EVENT_LABELS, manager_of
from incentives.web.templating import render, see_other

nav.register("/achievements", N_("Achievements"), progress.PARTNERS, order=46, more_for=progress.PARTNERS)
STAFF = {Role.ADMIN, Role.PARTNER_MANAGER}
nav.register("/achievements/manage", N_("Achievements"), STAFF, order=32, more_for=STAFF)

CSS = "/static/engagement-1.css"
KIND_LABELS = {Kind.COUNT.value: N_("count matching events"), Kind.STREAK.value: N_("reach a streak")}
PERIOD_LABELS = {
    Period.WEEK.value: N_("per week"),
    Period.MONTH.value: N_("per month"),
    Period.QUARTER.value: N_("per quarter"),
    Period.ALL.value: N_("all time"),
}
STREAK_LABELS = {
    StreakKey.ON_TIME_FEEDBACK.value: N_("On-time feedback"),
    StreakKey.ACTIVE_WEEKS.value: N_("Active weeks"),
}
LABELS = {"events": EVENT_LABELS, "kinds": KIND_LABELS, "periods": PERIOD_LABELS, "streak_names": STREAK_LABELS}
FIELDS = (
    "name_de",
    "name_en",
    "description_de",
    "description_en",
    "event",
    "condition",
    "kind",
    "streak",
    "target",
    "period",
    "repeatable",
    "points",
    "starts_on",
    "ends_on",
)


def _name(request: Request, item: object) -> str:
    return str(getattr(item, "name_de" if request.state.locale == "de" else "name_en"))


def _description(request: Request, item: object) -> str:
    return str(getattr(item, "description_de" if request.state.locale == "de" else "description_en"))


# --- partners ------------------------------------------------------------------------------------------------


async def badges_page(request: Request) -> Response:
    who = current_principal(request)
    if who.role not in progress.PARTNERS:
        raise NotFound()
    now = utcnow()
    async with current_db(request).reader() as session:
        program_id, programs = await chosen_program(session, who, request)
        items = await progress.achievements_of(session, program_id, who.org_id, now) if program_id else []
        found = await streaks.streaks_of(session, program_id, who.org_id, now) if program_id else []
    context = {
        "program_id": program_id,
        "programs": programs,
        "earned": [item for item in items if item.earned],
        "locked": [item for item in items if not item.earned],
        "streaks": found,
        "name_of": _name,
        "description_of": _description,
        "css": CSS,
        **LABELS,
    }
    return render(request, "engagement/achievements.html", context)


# --- managers ------------------------------------------------------------------------------------------------


def _values(form: FormData) -> dict[str, str]:
    return {name: str(form.get(name, "")).strip() for name in FIELDS}


def _number(values: Mapping[str, str], name: str, errors: list[FieldError], locale: str) -> int | None:
    """A whole number as the reader types it ("1.500" in German)."""
    try:
        value = i18n.parse_number(values.get(name, ""), locale)
        if value is not None and value != int(value):
            raise ValueError(value)
    except ValueError:
        errors.append(FieldError((name,), N_("Must be an integer.")))
        return None
    return None if value is None else int(value)


def _day(values: Mapping[str, str], name: str, errors: list[FieldError]) -> dt.datetime | None:
    """A date field as the start of that day in Berlin."""
    raw = values.get(name, "")
    if not raw:
        return None
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        errors.append(FieldError((name,), N_("Must be a date.")))
        return None
    return dt.datetime.combine(day, dt.time(), tzinfo=LOCAL).astimezone(dt.UTC)


def _input(program_id: int, values: Mapping[str, str], locale: str) -> definitions.AchievementInput:
    errors: list[FieldError] = []
    target = _number(values, "target", errors, locale)
    points = _number(values, "points", errors, locale)
    starts_at = _day(values, "starts_on", errors)
    ends_at = _day(values, "ends_on", errors)
    if errors:
        raise ValidationFailed(errors)
    kind = values.get("kind") or Kind.COUNT.value
    return definitions.AchievementInput(
        program_id=program_id,
        name_de=values.get("name_de", ""),
        name_en=values.get("name_en", ""),
        description_de=values.get("description_de", "")[:1000],
        description_en=values.get("description_en", "")[:1000],
        event=values.get("event", ""),
        condition=values.get("condition", ""),
        target=target if target is not None else 0,
        kind=kind,
        streak=(values.get("streak") or None) if kind == Kind.STREAK else None,
        period=values.get("period") or Period.ALL.value,
        repeatable=bool(values.get("repeatable")),
        points=points,
        starts_at=starts_at,
        ends_at=ends_at,
    )


def _field_of(loc: object) -> str:
    parts = list(loc) if isinstance(loc, tuple | list) else [loc]
    name = str(parts[0]) if parts else ""
    return {"starts_at": "starts_on", "ends_at": "ends_on"}.get(name, name)


async def manage_page(request: Request) -> Response:
    """The program's achievements with earned-by counts, and the form that adds one (POST saves)."""
    who = manager_of(request)
    assert who.program_id is not None
    values = {"event": "lead.feedback", "condition": "feedback.on_time", "target": "5", "kind": "count"}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = _values(await request.form())
        try:
            data = _input(who.program_id, values, request.state.locale)
            async with current_db(request).transaction() as session:
                await definitions.create_achievement(session, who, data)
            return see_other("/achievements/manage?saved=1")
        except DomainError as error:
            errors = form_errors(request, error, _field_of)
    async with current_db(request).reader() as session:
        found = await progress.definitions(session, who, who.program_id)
    context = {
        "definitions": found,
        "values": values,
        "errors": errors,
        "saved": request.query_params.get("saved"),
        "event_names": EVENTS,
        "name_of": _name,
        "css": CSS,
        **LABELS,
    }
    return render(request, "engagement/manage.html", context, status_code=422 if errors else 200)


async def validate_fragment(request: Request) -> Response:
    """Live validation of the event and condition while typing."""
    manager_of(request)
    values = _values(await request.form())
    errors: dict[str, str] = {}
    try:
        definitions.check_condition(values.get("event", ""), values.get("condition", ""))
    except DomainError as error:
        errors = form_errors(request, error)
    return render(request, "engagement/includes/validation.html", {"errors": errors})


routes = [
    Route("/achievements", badges_page),
    Route("/achievements/manage", manage_page, methods=["GET", "POST"]),
    Route("/achievements/validate", validate_fragment, methods=["POST"]),
]
