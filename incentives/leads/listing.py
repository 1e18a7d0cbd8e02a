"""The managers' leads list: search (company, city, postal code, external id), filters (status, wave, product
line, partner), sorting and numbered pages, all in the database."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts.models import Membership, Org
from incentives.leads.models import Lead

PAGE_SIZE = 25
MAX_SEARCH = 100
# Sort keys: each with a unique tie-breaker, so pages never repeat or skip a lead.
SORTS: dict[str, tuple[ColumnElement[Any], ...]] = {
    "newest": (Lead.id.desc(),),
    "oldest": (Lead.id.asc(),),
    "company": (func.lower(Lead.company).asc(), Lead.id.asc()),
    "status": (Lead.status.asc(), Lead.id.desc()),
    "wave": (Lead.wave.desc(), Lead.id.desc()),
    "value": (Lead.estimated_value.is_(None), Lead.estimated_value.desc(), Lead.id.desc()),
}


@dataclass(frozen=True)
class LeadFilter:
    search: str = ""
    status: str | None = None
    wave: int | None = None
    product_line: str | None = None
    partner_id: int | None = None
    sort: str = "newest"
    page: int = 1


@dataclass(frozen=True)
class LeadPage:
    rows: list[tuple[Lead, str | None]]  # the lead and the reserving partner's name
    total: int
    page: int
    pages: int
    product_lines: list[str] = field(default_factory=list)
    partners: list[tuple[int, str]] = field(default_factory=list)


def _conditions(program_id: int, wanted: LeadFilter) -> list[ColumnElement[bool]]:
    found = [Lead.program_id == program_id]
    if wanted.status:
        found.append(Lead.status == wanted.status)
    if wanted.wave is not None:
        found.append(Lead.wave == wanted.wave)
    if wanted.product_line:
        found.append(Lead.product_line == wanted.product_line)
    if wanted.partner_id is not None:
        found.append(Lead.reserved_by_org_id == wanted.partner_id)
    text = wanted.search.strip()[:MAX_SEARCH].lower()
    if text:
        # Case-insensitive "contains" on both databases; autoescape keeps % and _ literal.
        columns = (Lead.company, Lead.city, Lead.postal_code, Lead.external_id)
        found.append(or_(*(func.lower(column).contains(text, autoescape=True) for column in columns)))
    return found


async def list_leads(session: AsyncSession, program_id: int, wanted: LeadFilter) -> LeadPage:
    where = _conditions(program_id, wanted)
    total = int(await session.scalar(select(func.count()).select_from(Lead).where(*where)) or 0)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, wanted.page), pages)
    query = select(Lead, Org.name).outerjoin(Org, Org.id == Lead.reserved_by_org_id).where(*where)
    ordered = query.order_by(*SORTS.get(wanted.sort, SORTS["newest"])).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    rows: list[tuple[Lead, str | None]] = [(lead, name) for lead, name in (await session.execute(ordered)).all()]
    lines = await session.scalars(
        select(Lead.product_line).where(Lead.program_id == program_id).distinct().order_by(Lead.product_line)
    )
    partners = await session.execute(
        select(Org.id, Org.name)
        .join(Membership, Membership.org_id == Org.id)
        .where(Membership.program_id == program_id)
        .order_by(Org.name)
    )
    return LeadPage(rows, total, page, pages, list(lines), [(row.id, row.name) for row in partners])
