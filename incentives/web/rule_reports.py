"""Manager reports of the rules area: processing problems (failed events with a retry, skipped rules) and
the farming report."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from babel.numbers import format_percent
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from incentives import i18n
from incentives.db import utcnow
from incentives.errors import N_, FieldError, ValidationFailed
from incentives.rules import farming, monitor
from incentives.rules.paying import MAX_ATTEMPTS
from incentives.web import nav
from incentives.web.context import current_db
from incentives.web.forms import form_errors
from incentives.web.rules import CSS, EVENT_LABELS, MANAGERS, manager_of, translate
from incentives.web.templating import is_htmx, render, see_other

nav.register("/rules/problems", N_("Processing problems"), MANAGERS, order=32, more_for=MANAGERS)
nav.register("/rules/farming", N_("Farming report"), MANAGERS, order=33, more_for=MANAGERS)

REPORT_DAYS = 30
MAX_REPORT_DAYS = 400


def skip_reason(request: Request, reason: str) -> str:
    """A recorded skip reason in the reader's language where it is a known one; technical ones as recorded."""
    known = monitor.explain(reason)
    if known is None:
        return reason
    message, params = known
    if "period" in params:
        params["period"] = translate(request, monitor.PERIODS[str(params["period"])])
    return translate(request, message, **params)


async def problems_page(request: Request) -> Response:
    who = manager_of(request)
    assert who.program_id is not None
    async with current_db(request).reader() as session:
        failed = await monitor.failed_events(session, who, who.program_id)
        unpaid = await monitor.unpaid_awards(session, who, who.program_id)
        skips = await monitor.recent_skips(session, who, who.program_id)
    context = {
        "failed": failed,
        "unpaid": unpaid,
        "skips": skips,
        "retried": request.query_params.get("retried"),
        "skip_reason": skip_reason,
        "events": EVENT_LABELS,
        "max_attempts": MAX_ATTEMPTS,
        "css": CSS,
    }
    return render(request, "rules/problems.html", context)


async def retry(request: Request) -> Response:
    """Reset a failed event so the next processing run (woken at once) takes it; a repeat changes nothing."""
    who = manager_of(request)
    event_id: int = request.path_params["id"]
    async with current_db(request).transaction() as session:
        await monitor.retry_event(session, who, event_id)
    if is_htmx(request):
        return render(request, "rules/includes/retried.html", {"event_id": event_id})
    return see_other("/rules/problems?retried=1")


def _period(request: Request) -> tuple[dt.date, dt.date]:
    """The report's first and last day (local), from ?from=&to=; the last 30 days by default."""
    today = utcnow().astimezone(ZoneInfo(i18n.TIMEZONE)).date()
    days: dict[str, dt.date] = {}
    errors: list[FieldError] = []
    for name, default in (("from", today - dt.timedelta(days=REPORT_DAYS - 1)), ("to", today)):
        raw = request.query_params.get(name, "").strip()
        try:
            days[name] = dt.date.fromisoformat(raw) if raw else default
        except ValueError:
            errors.append(FieldError((name,), N_("Please enter a date.")))
            days[name] = default
    if not errors and days["to"] < days["from"]:
        errors.append(FieldError(("to",), N_("Must be later than the start.")))
    elif not errors and (days["to"] - days["from"]).days >= MAX_REPORT_DAYS:
        errors.append(FieldError(("to",), N_("At most %(days)s days at once."), days=MAX_REPORT_DAYS))
    if errors:
        raise ValidationFailed(errors)
    return days["from"], days["to"]


def _start_of(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(i18n.TIMEZONE)).astimezone(dt.UTC)


async def farming_page(request: Request) -> Response:
    who = manager_of(request)
    assert who.program_id is not None
    errors: dict[str, str] = {}
    report: list[farming.PartnerPattern] = []
    values = {name: request.query_params.get(name, "") for name in ("from", "to")}
    try:
        first, last = _period(request)
        values = {"from": first.isoformat(), "to": last.isoformat()}
        async with current_db(request).reader() as session:
            report = await farming.farming_report(
                session, who, who.program_id, _start_of(first), _start_of(last + dt.timedelta(days=1))
            )
    except ValidationFailed as error:
        errors = form_errors(request, error)
    context: dict[str, Any] = {
        "report": report,
        "values": values,
        "errors": errors,
        "min_reservations": farming.MIN_RESERVATIONS,
        "max_return_rate": farming.MAX_RETURN_RATE,
        "min_feedback_rate": farming.MIN_FEEDBACK_RATE,
        "instant_minutes": int(farming.INSTANT_FEEDBACK.total_seconds() // 60),
        "min_instant": farming.MIN_INSTANT,
        "min_churn": farming.MIN_CHURN,
        "percent": lambda value: format_percent(value, locale=i18n.babel_locale(request.state.locale)),
        "css": CSS,
    }
    return render(request, "rules/farming.html", context, status_code=422 if errors else 200, block="report")


routes = [
    Route("/rules/problems", problems_page),
    Route("/rules/problems/{id:id}/retry", retry, methods=["POST"]),
    Route("/rules/farming", farming_page),
]
