"""A distributor's network in one program: per reseller below it, points (available, earned this month), open and
overdue leads, this month's KPIs and its reserved leads as teasers (API.md gives the full lead only to the
reserving org and the program's managers)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts.queries import member_program_ids
from incentives.accounts.roles import Role
from incentives.accounts.scope import Principal
from incentives.errors import NotFound
from incentives.leads.models import Lead, LeadStatus
from incentives.leads.picklist import value_band
from incentives.ledger import queries as ledger_queries
from incentives.local_time import LOCAL
from incentives.reports.kpi_scopes import KpiScope
from incentives.reports.kpis import Kpis, kpis_by_org
from incentives.reports.partner_home import partner_programs, resellers_below


@dataclass(frozen=True)
class ReservedTeaser:
    """A reseller's reserved lead as a distributor may see it: no company, contact or notes."""

    lead_id: int
    temperature: str
    product_line: str
    industry: str | None
    country: str
    postal_prefix: str | None
    value_band: str
    reserved_at: dt.datetime | None
    feedback_due_at: dt.datetime | None
    last_feedback: str | None

    def overdue(self, now: dt.datetime) -> bool:
        return self.feedback_due_at is not None and self.feedback_due_at <= now


@dataclass(frozen=True)
class NetworkReseller:
    org_id: int
    name: str
    tier: str
    available: int
    earned_this_month: int
    kpis: Kpis
    leads: list[ReservedTeaser] = field(default_factory=list)

    def overdue(self, now: dt.datetime) -> int:
        return sum(1 for lead in self.leads if lead.overdue(now))


def month_start(now: dt.datetime) -> dt.datetime:
    """The first moment of the local calendar month `now` falls in, in UTC."""
    local = now.astimezone(LOCAL)
    return dt.datetime(local.year, local.month, 1, tzinfo=LOCAL).astimezone(dt.UTC)


def _next_month(start: dt.datetime) -> dt.datetime:
    local = start.astimezone(LOCAL)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return dt.datetime(year, month, 1, tzinfo=LOCAL).astimezone(dt.UTC)


async def network_programs(session: AsyncSession, principal: Principal) -> list[tuple[int, str]]:
    """The programs a distributor manager has a network in: those its own org is a member of. (A reseller below it
    may work with other programs too; the distributor has no part in those.) Any other role: NotFound."""
    if principal.role is not Role.DISTRIBUTOR_MANAGER:
        raise NotFound()
    own = set(await member_program_ids(session, principal.org_id))
    return [(program_id, name) for program_id, name in await partner_programs(session, principal) if program_id in own]


async def _reserved_teasers(
    session: AsyncSession, program_id: int, org_ids: list[int]
) -> dict[int, list[ReservedTeaser]]:
    rows = await session.execute(
        select(
            Lead.reserved_by_org_id,
            Lead.id,
            Lead.temperature,
            Lead.product_line,
            Lead.industry,
            Lead.country,
            Lead.postal_code,
            Lead.estimated_value,
            Lead.reserved_at,
            Lead.feedback_due_at,
            Lead.last_feedback,
        )
        .where(
            Lead.program_id == program_id,
            Lead.status == LeadStatus.RESERVED,
            Lead.reserved_by_org_id.in_(org_ids),
        )
        .order_by(Lead.feedback_due_at, Lead.id)
    )
    found: dict[int, list[ReservedTeaser]] = {}
    for org_id, lead_id, temperature, product, industry, country, postal, value, reserved, due, last in rows.all():
        assert org_id is not None  # a reserved lead has its org (the schema says so)
        found.setdefault(org_id, []).append(
            ReservedTeaser(
                lead_id,
                temperature,
                product,
                industry,
                country,
                (postal or "")[:2] or None,
                value_band(value),
                reserved,
                due,
                last,
            )
        )
    return found


async def network(
    session: AsyncSession, principal: Principal, program_id: int, now: dt.datetime, *, org_id: int | None = None
) -> list[NetworkReseller]:
    """The resellers below the principal's distributor in the program (or the one `org_id`), by name.

    A program the principal does not see, or a reseller that is not below it, answers NotFound."""
    if program_id not in {pid for pid, _ in await network_programs(session, principal)}:
        raise NotFound()
    below = await resellers_below(session, program_id, principal.org_id)
    if org_id is not None:
        below = [row for row in below if row[0] == org_id]
        if not below:
            raise NotFound()
    start = month_start(now)
    scope = KpiScope("distributor", str(principal.org_id))
    figures = await kpis_by_org(session, program_id, scope, start, _next_month(start))
    teasers = await _reserved_teasers(session, program_id, [row[0] for row in below])
    resellers = []
    for reseller_id, name, tier in below:
        balance = await ledger_queries.balance(session, program_id, reseller_id)
        resellers.append(
            NetworkReseller(
                reseller_id,
                name,
                tier,
                balance.available,
                await ledger_queries.earned_between(session, program_id, reseller_id, start, now),
                figures.get(reseller_id, Kpis()),
                teasers.get(reseller_id, []),
            )
        )
    return resellers
