"""Partner KPIs (DESIGN.md "KPIs") from the lead data, as SQL aggregates for many partners at once.

A *reservation* is a `reserved` lead event: which org took which lead when. An org never gets a lead it
returned offered again, so (lead, org) names one reservation, and the lead's outcome (won, lost, deal value,
closed at) belongs to that reservation when the lead is still reserved by the org. The period selects
reservations by the time they were made; the outcome may come later.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Float, and_, case, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from incentives.accounts.models import Org, Program
from incentives.accounts.scope import Principal, visible_orgs, visible_programs
from incentives.leads.models import Lead, LeadEvent, LeadStatus

__all__ = ["PartnerKpis", "partner_kpis"]

CENT = Decimal("0.01")


class seconds_between(FunctionElement[float]):
    """`end - start` in seconds: SQLite keeps timestamps as text, PostgreSQL subtracts them natively."""

    type = Float()
    inherit_cache = True
    name = "seconds_between"


@compiles(seconds_between, "sqlite")
def _seconds_sqlite(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"((julianday({end}) - julianday({start})) * 86400.0)"


@compiles(seconds_between, "postgresql")
def _seconds_postgresql(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"EXTRACT(EPOCH FROM ({end} - {start}))"


@dataclass(frozen=True)
class PartnerKpis:
    """One partner's figures; a ratio or mean with nothing to count is None (shown as "–", never as 0)."""

    org_id: int
    reserved: int = 0
    won: int = 0
    lost: int = 0
    on_time: int = 0
    ttp_hours: float | None = None  # TTP: mean time from the lead's first offer to the reservation
    adt_days: float | None = None  # ADT: mean time from reservation to won, over won leads
    ads: Decimal | None = None  # ADS: mean deal value in EUR over won leads

    @property
    def cr(self) -> float | None:
        """Conversion rate: won ÷ (won + lost)."""
        closed = self.won + self.lost
        return self.won / closed if closed else None

    @property
    def feedback_rate(self) -> float | None:
        """Reservations whose first feedback came on time ÷ reservations."""
        return self.on_time / self.reserved if self.reserved else None


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
    reservation = aliased(LeadEvent, name="reservation")
    won = and_(Lead.status == LeadStatus.WON, Lead.reserved_by_org_id == reservation.org_id)
    lost = and_(Lead.status == LeadStatus.LOST, Lead.reserved_by_org_id == reservation.org_id)
    first_feedback_on_time = (
        select(LeadEvent.data["on_time"].as_boolean())
        .where(
            LeadEvent.lead_id == reservation.lead_id,
            LeadEvent.org_id == reservation.org_id,
            LeadEvent.kind == "feedback",
        )
        .order_by(LeadEvent.id)
        .limit(1)
        .correlate(reservation)
        .scalar_subquery()
    )
    statement = (
        select(
            reservation.org_id,
            func.count().label("reserved"),
            func.sum(_count_if(won)).label("won"),
            func.sum(_count_if(lost)).label("lost"),
            func.sum(_count_if(first_feedback_on_time == true())).label("on_time"),
            func.avg(seconds_between(Lead.offered_at, reservation.at)).label("ttp"),
            func.avg(case((won, seconds_between(reservation.at, Lead.closed_at)))).label("adt"),
            func.avg(case((won, Lead.deal_value))).label("ads"),
        )
        .join(Lead, Lead.id == reservation.lead_id)
        .where(
            reservation.kind == "reserved",
            reservation.program_id == program_id,
            reservation.program_id.in_(select(Program.id).where(visible_programs(principal))),
            reservation.org_id.in_(select(Org.id).where(visible_orgs(principal))),
        )
        .group_by(reservation.org_id)
    )
    wanted = None if org_ids is None else sorted(set(org_ids))
    if wanted is not None:
        statement = statement.where(reservation.org_id.in_(wanted))
    if start is not None:
        statement = statement.where(reservation.at >= start)
    if end is not None:
        statement = statement.where(reservation.at < end)
    found = {row.org_id: _kpis(row) for row in (await session.execute(statement)).all()}
    return {org_id: found.get(org_id, PartnerKpis(org_id)) for org_id in (wanted or [])} | found


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return case((condition, 1), else_=0)


def _kpis(row: Any) -> PartnerKpis:
    return PartnerKpis(
        org_id=row.org_id,
        reserved=int(row.reserved),
        won=int(row.won or 0),
        lost=int(row.lost or 0),
        on_time=int(row.on_time or 0),
        ttp_hours=None if row.ttp is None else float(row.ttp) / 3600,
        adt_days=None if row.adt is None else float(row.adt) / 86400,
        ads=None if row.ads is None else Decimal(str(row.ads)).quantize(CENT),
    )
