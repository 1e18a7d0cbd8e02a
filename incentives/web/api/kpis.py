"""The KPI endpoint of API.md ("Rankings, engagement, KPIs"): one scope's figures for one period."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from incentives.errors import N_, FieldError, NotFound, ValidationFailed
from incentives.leaderboard import scopes as boards
from incentives.reports import kpi_scopes
from incentives.reports.kpis import kpis
from incentives.web.api.base import Api, database, json_response, principal, query_int

api = Api()


class MoneyOut(BaseModel):
    amount: str
    currency: str = "EUR"


class KpisOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    program_id: int
    scope: str
    start: str = Field(alias="from")
    end: str = Field(alias="to")
    ttp_hours: float | None
    cr: float | None
    adt_days: float | None
    ads: MoneyOut | None
    pli: float | None
    feedback_rate: float | None
    reserved: int
    won: int
    lost: int
    answered: int
    on_time: int
    offered: int | None
    returned: int | None
    unclaimed: int | None


def query_time(request: Request, name: str, *, end: bool = False) -> dt.datetime:
    """A required RFC 3339 time or a date (a date as `to` means the end of that day), else 422 naming it."""
    raw = request.query_params.get(name, "")
    if not raw:
        raise ValidationFailed([FieldError(("query", name), N_("This field is required."))])
    try:
        if len(raw) == 10:
            day = dt.date.fromisoformat(raw)
            value = dt.datetime.combine(day, dt.time(), dt.UTC) + (dt.timedelta(days=1) if end else dt.timedelta())
        else:
            value = dt.datetime.fromisoformat(raw)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None or not 2000 <= value.year <= 2200:
        raise ValidationFailed([FieldError(("query", name), N_("Must be a date or a time with its UTC offset."))])
    return value.astimezone(dt.UTC)


def _iso(value: dt.datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _ratio(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _hours(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


@api.route(
    "GET",
    "/api/v1/kpis",
    summary="KPIs (TTP, CR, ADT, ADS, PLI, feedback rate) and lead counts of one scope and period",
    response=KpisOut,
    errors=(NotFound, ValidationFailed),
)
async def get_kpis(request: Request) -> Response:
    who = principal(request)
    start = query_time(request, "from")
    end = query_time(request, "to", end=True)
    kpi_scopes.check_period(start, end)
    scope = kpi_scopes.parse_scope(request.query_params.get("scope"), query_int(request, "org_id"))
    scope = scope or kpi_scopes.default_scope(who)
    async with database(request).reader() as session:
        program_id = await boards.board_program(session, who, query_int(request, "program_id"))
        await kpi_scopes.check_scope(session, who, program_id, scope)
        found = await kpis(session, program_id, scope, start, end)
    out = KpisOut(
        program_id=program_id,
        scope=scope.name,
        **{"from": _iso(start), "to": _iso(end)},
        ttp_hours=_hours(found.ttp_hours),
        cr=_ratio(found.cr),
        adt_days=_hours(found.adt_days),
        ads=None if found.ads is None else MoneyOut(amount=str(found.ads)),
        pli=None if found.pli is None else round(found.pli, 1),
        feedback_rate=_ratio(found.feedback_rate),
        reserved=found.reserved,
        won=found.won,
        lost=found.lost,
        answered=found.answered,
        on_time=found.on_time,
        offered=found.offered,
        returned=found.returned,
        unclaimed=found.unclaimed,
    )
    return json_response(out.model_dump(mode="json", by_alias=True))
