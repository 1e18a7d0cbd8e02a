"""KPIs (DESIGN.md "KPIs") from the lead data, as SQL aggregates: for one scope, per partner, per rep or per week.

A *reservation* is a `reserved` lead event: which org (and rep) took which lead when. An org never gets a lead it
returned offered again, so (lead, org) names one reservation, and the lead's outcome (won, lost, deal value,
closed at) belongs to that reservation when the lead is still reserved by the org. The period selects
reservations by the time they were made; the outcome may come later. Offers, returns and unclaimed leads are
counted by the time they happened. PLI is a snapshot of the open pipeline now, whatever the period.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from incentives.accounts.models import Org, Program
from incentives.accounts.scope import Principal, visible_orgs, visible_programs
from incentives.leads.models import Lead, LeadEvent, LeadOffer, LeadStatus
from incentives.reports.kpi_scopes import KpiScope, orgs_in
from incentives.reports.pipeline import pipeline_index, pipelines_by_org, pipelines_by_rep
from incentives.reports.sql import count_if, seconds_between, whole_number

__all__ = [
    "Kpis",
    "PartnerKpis",
    "kpis",
    "kpis_by_org",
    "kpis_by_rep",
    "kpis_of_reps",
    "partner_kpis",
    "weekly_kpis",
    "weekly_reservations",
]

CENT = Decimal("0.01")
WEEK = dt.timedelta(days=7)


@dataclass(frozen=True)
class Kpis:
    """Figures of one scope; a ratio or mean with nothing to count is None (shown as "–", never as 0).

    Counts that do not apply to the scope (a rep is offered nothing, a partner's leads never go unclaimed) are
    None as well.
    """

    reserved: int = 0
    won: int = 0
    lost: int = 0
    on_time: int = 0  # reservations whose first feedback came before it was due
    answered: int = 0  # reservations with any feedback (the funnel's "feedback" step)
    ttp_hours: float | None = None  # TTP: mean time from the lead's first offer to the reservation
    adt_days: float | None = None  # ADT: mean time from reservation to won, over won leads
    ads: Decimal | None = None  # ADS: mean deal value in EUR over won leads
    pli: float | None = None  # PLI: open weighted pipeline per partner ÷ the program's mean, × 100
    offered: int | None = None
    returned: int | None = None
    unclaimed: int | None = None

    @property
    def cr(self) -> float | None:
        """Conversion rate: won ÷ (won + lost)."""
        closed = self.won + self.lost
        return self.won / closed if closed else None

    @property
    def feedback_rate(self) -> float | None:
        """Reservations whose first feedback came on time ÷ reservations."""
        return self.on_time / self.reserved if self.reserved else None


@dataclass(frozen=True)
class PartnerKpis(Kpis):
    org_id: int = 0

    def __init__(self, org_id: int, **figures: Any) -> None:  # positional org id, as callers have always written
        object.__setattr__(self, "org_id", org_id)
        for name, value in {**Kpis().__dict__, **figures}.items():
            object.__setattr__(self, name, value)


_reservation = aliased(LeadEvent, name="reservation")


def _reservation_query(program_id: int, start: dt.datetime | None, end: dt.datetime | None) -> Any:
    """The aggregate over the reservations of one program in [start, end); callers add filters and a grouping."""
    r = _reservation
    won = and_(Lead.status == LeadStatus.WON, Lead.reserved_by_org_id == r.org_id)
    lost = and_(Lead.status == LeadStatus.LOST, Lead.reserved_by_org_id == r.org_id)
    feedback = aliased(LeadEvent, name="feedback")
    first_feedback_on_time = (
        select(feedback.data["on_time"].as_boolean())
        .where(feedback.lead_id == r.lead_id, feedback.org_id == r.org_id, feedback.kind == "feedback")
        .order_by(feedback.id)
        .limit(1)
        .correlate(r)
        .scalar_subquery()
    )
    statement = (
        select(
            func.count().label("reserved"),
            func.sum(count_if(won)).label("won"),
            func.sum(count_if(lost)).label("lost"),
            func.sum(count_if(first_feedback_on_time == true())).label("on_time"),
            func.sum(count_if(first_feedback_on_time.is_not(None))).label("answered"),
            func.avg(seconds_between(Lead.offered_at, r.at)).label("ttp"),
            func.avg(case((won, seconds_between(r.at, Lead.closed_at)))).label("adt"),
            func.avg(case((won, Lead.deal_value))).label("ads"),
        )
        .select_from(r)
        .join(Lead, Lead.id == r.lead_id)
        .where(r.kind == "reserved", r.program_id == program_id)
    )
    if start is not None:
        statement = statement.where(r.at >= start)
    if end is not None:
        statement = statement.where(r.at < end)
    return statement


def _scoped(statement: Any, program_id: int, scope: KpiScope, column: Any, actor: Any) -> Any:
    if scope.kind == "rep":
        return statement.where(actor == scope.id)
    if scope.of_partners:
        return statement.where(column.in_(orgs_in(program_id, scope)))
    return statement


def _figures(row: Any) -> dict[str, Any]:
    return {
        "reserved": int(row.reserved or 0),
        "won": int(row.won or 0),
        "lost": int(row.lost or 0),
        "on_time": int(row.on_time or 0),
        "answered": int(row.answered or 0),
        "ttp_hours": None if row.ttp is None else float(row.ttp) / 3600,
        "adt_days": None if row.adt is None else float(row.adt) / 86400,
        "ads": None if row.ads is None else Decimal(str(row.ads)).quantize(CENT),
    }


async def _count(session: AsyncSession, statement: Any) -> int:
    return int(await session.scalar(statement) or 0)


async def kpis(
    session: AsyncSession,
    program_id: int,
    scope: KpiScope,
    start: dt.datetime,
    end: dt.datetime,
    *,
    pipeline_weights: dict[str, float] | None = None,
) -> Kpis:
    """Every KPI and count of one scope for [start, end) (the caller checked the scope: kpi_scopes.check_scope)."""
    r = _reservation
    row = (
        await session.execute(
            _scoped(_reservation_query(program_id, start, end), program_id, scope, r.org_id, r.actor_id)
        )
    ).one()
    figures = _figures(row)
    in_period = and_(LeadEvent.at >= start, LeadEvent.at < end, LeadEvent.program_id == program_id)
    returned = _scoped(
        select(func.count()).where(LeadEvent.kind == "returned", in_period),
        program_id,
        scope,
        LeadEvent.org_id,
        LeadEvent.actor_id,
    )
    figures["returned"] = await _count(session, returned)
    if scope.kind == "program":
        figures["offered"] = await _count(
            session,
            select(func.count()).where(Lead.program_id == program_id, Lead.offered_at >= start, Lead.offered_at < end),
        )
        figures["unclaimed"] = await _count(
            session, select(func.count()).where(LeadEvent.kind == "unclaimed", in_period)
        )
    elif scope.of_partners:
        offers = select(func.count()).where(
            LeadOffer.program_id == program_id,
            LeadOffer.offered_at >= start,
            LeadOffer.offered_at < end,
            LeadOffer.org_id.in_(orgs_in(program_id, scope)),
        )
        figures["offered"] = await _count(session, offers)
    figures["pli"] = await pipeline_index(session, program_id, scope, pipeline_weights)
    return Kpis(**figures)


async def kpis_by_org(
    session: AsyncSession,
    program_id: int,
    scope: KpiScope,
    start: dt.datetime,
    end: dt.datetime,
    *,
    pipeline_weights: dict[str, float] | None = None,
) -> dict[int, Kpis]:
    """Each partner's KPIs in the scope (one grouped query per figure); partners with no reservation are absent
    from the reservation figures and get their PLI and returns only."""
    r = _reservation
    statement = _scoped(_reservation_query(program_id, start, end), program_id, scope, r.org_id, r.actor_id)
    rows = (await session.execute(statement.add_columns(r.org_id.label("key")).group_by(r.org_id))).all()
    found: dict[int, dict[str, Any]] = {row.key: _figures(row) for row in rows}
    returned = _scoped(
        select(LeadEvent.org_id, func.count())
        .where(LeadEvent.kind == "returned", LeadEvent.program_id == program_id)
        .where(LeadEvent.at >= start, LeadEvent.at < end)
        .group_by(LeadEvent.org_id),
        program_id,
        scope,
        LeadEvent.org_id,
        LeadEvent.actor_id,
    )
    for org_id, count in (await session.execute(returned)).all():
        found.setdefault(org_id, {})["returned"] = int(count)
    offers = (
        select(LeadOffer.org_id, func.count())
        .where(LeadOffer.program_id == program_id, LeadOffer.offered_at >= start, LeadOffer.offered_at < end)
        .group_by(LeadOffer.org_id)
    )
    if scope.of_partners:
        offers = offers.where(LeadOffer.org_id.in_(orgs_in(program_id, scope)))
    for org_id, count in (await session.execute(offers)).all():
        found.setdefault(org_id, {})["offered"] = int(count)
    for org_id, pli in (await pipelines_by_org(session, program_id, scope, pipeline_weights)).items():
        found.setdefault(org_id, {})["pli"] = pli
    return {org_id: Kpis(**{"returned": 0, "offered": 0, **values}) for org_id, values in found.items()}


async def kpis_by_rep(
    session: AsyncSession, program_id: int, org_id: int, start: dt.datetime, end: dt.datetime
) -> dict[int, Kpis]:
    """The KPIs of each rep of one reseller (by the user who reserved), with their returns."""
    r = _reservation
    statement = _reservation_query(program_id, start, end).where(r.org_id == org_id)
    rows = (await session.execute(statement.add_columns(r.actor_id.label("key")).group_by(r.actor_id))).all()
    found: dict[int, dict[str, Any]] = {row.key: _figures(row) for row in rows if row.key is not None}
    returned = (
        select(LeadEvent.actor_id, func.count())
        .where(LeadEvent.kind == "returned", LeadEvent.program_id == program_id, LeadEvent.org_id == org_id)
        .where(LeadEvent.at >= start, LeadEvent.at < end)
        .group_by(LeadEvent.actor_id)
    )
    for user_id, count in (await session.execute(returned)).all():
        if user_id is not None:
            found.setdefault(user_id, {})["returned"] = int(count)
    return {user_id: Kpis(**{"returned": 0, **values}) for user_id, values in found.items()}


async def kpis_of_reps(
    session: AsyncSession, program_id: int, start: dt.datetime, end: dt.datetime
) -> tuple[dict[int, Kpis], Kpis]:
    """Every rep's KPIs in the program at once (each as `kpis` gives a `rep` scope), and what a rep that did
    nothing in the period has."""
    r = _reservation
    statement = _reservation_query(program_id, start, end).add_columns(r.actor_id.label("key")).group_by(r.actor_id)
    found: dict[int, dict[str, Any]] = {
        row.key: _figures(row) for row in (await session.execute(statement)).all() if row.key is not None
    }
    returned = (
        select(LeadEvent.actor_id, func.count())
        .where(LeadEvent.kind == "returned", LeadEvent.program_id == program_id)
        .where(LeadEvent.at >= start, LeadEvent.at < end)
        .group_by(LeadEvent.actor_id)
    )
    for user_id, count in (await session.execute(returned)).all():
        if user_id is not None:
            found.setdefault(user_id, {})["returned"] = int(count)
    plis, idle_pli = await pipelines_by_rep(session, program_id)
    for user_id in plis:
        found.setdefault(user_id, {})
    reps = {
        user_id: Kpis(**{"returned": 0, "pli": plis.get(user_id, idle_pli), **values})
        for user_id, values in found.items()
    }
    return reps, Kpis(returned=0, pli=idle_pli)


async def weekly_reservations(
    session: AsyncSession, program_id: int, start: dt.datetime, weeks: int
) -> tuple[dict[int, list[int]], dict[int, list[int]]]:
    """Reservations week by week from `start`, for every partner and for every rep (as `weekly_kpis` counts
    them for one scope): two grouped queries."""
    r = _reservation
    week = whole_number(seconds_between(start, r.at) / WEEK.total_seconds())
    found: list[dict[int, list[int]]] = []
    for who in (r.org_id, r.actor_id):
        statement = (
            select(who, week.label("week"), func.count())
            .where(r.kind == "reserved", r.program_id == program_id, r.at >= start, r.at < start + weeks * WEEK)
            .group_by(who, week)
        )
        counts: dict[int, list[int]] = {}
        for subject, index, count in (await session.execute(statement)).all():
            if subject is not None:
                counts.setdefault(subject, [0] * weeks)[int(index)] = int(count)
        found.append(counts)
    return found[0], found[1]


async def weekly_kpis(
    session: AsyncSession, program_id: int, scope: KpiScope, start: dt.datetime, weeks: int
) -> list[tuple[dt.datetime, Kpis]]:
    """The reservation KPIs week by week from `start` (one grouped query); a week with nothing has empty figures."""
    r = _reservation
    end = start + weeks * WEEK
    week = whole_number(seconds_between(start, r.at) / WEEK.total_seconds())
    statement = _scoped(_reservation_query(program_id, start, end), program_id, scope, r.org_id, r.actor_id)
    rows = (await session.execute(statement.add_columns(week.label("key")).group_by(week))).all()
    found = {int(row.key): Kpis(**_figures(row)) for row in rows}
    return [(start + n * WEEK, found.get(n, Kpis())) for n in range(weeks)]


def _visible(principal: Principal) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    r = _reservation
    return (
        r.program_id.in_(select(Program.id).where(visible_programs(principal))),
        r.org_id.in_(select(Org.id).where(visible_orgs(principal))),
    )


async def partner_kpis(
    session: AsyncSession,
    principal: Principal,
    program_id: int,
    org_ids: Iterable[int] | None = None,
    *,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> dict[int, PartnerKpis]:
    """KPIs of the partners in `org_ids` (all the principal sees when None) for reservations in [start, end).

    One query, grouped by org. Partners without a reservation in the period get all-empty figures.
    """
    r = _reservation
    statement = _reservation_query(program_id, start, end).where(*_visible(principal))
    wanted = None if org_ids is None else sorted(set(org_ids))
    if wanted is not None:
        statement = statement.where(r.org_id.in_(wanted))
    rows = (await session.execute(statement.add_columns(r.org_id.label("key")).group_by(r.org_id))).all()
    found = {row.key: PartnerKpis(row.key, **_figures(row)) for row in rows}
    return {org_id: found.get(org_id, PartnerKpis(org_id)) for org_id in (wanted or [])} | found


def previous(start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The period of the same length just before [start, end): what tiles compare against."""
    return start - (end - start), start
