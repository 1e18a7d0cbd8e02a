"""A program's partners as its admins and partner managers manage them: the member orgs with their membership and
users, found by name and paged, and changing a membership's terms. Each function joins the caller's unit of work;
none commits. Adding a partner is `services.create_org` and `services.create_membership` in one unit of work."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives import live
from incentives.accounts.models import Membership, Org, User
from incentives.accounts.scope import Principal
from incentives.accounts.services import check_distributor
from incentives.errors import Forbidden, NotFound

PER_PAGE = 25


@dataclass(frozen=True)
class Partner:
    """A member org of the program with its membership, its distributor's name and how many users it has."""

    org: Org
    membership: Membership
    distributor: str | None
    users: int
    active_users: int


@dataclass(frozen=True)
class PartnerPage:
    partners: list[Partner]
    total: int
    page: int
    pages: int


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _partners_query(program_id: int) -> Select[Any]:
    distributor = select(Org.name).where(Org.id == Membership.distributor_id).correlate(Membership).scalar_subquery()
    users = select(func.count(User.id)).where(User.org_id == Org.id).correlate(Org).scalar_subquery()
    active = (
        select(func.coalesce(func.sum(case((User.active.is_(True), 1), else_=0)), 0))
        .where(User.org_id == Org.id)
        .correlate(Org)
        .scalar_subquery()
    )
    return (
        select(Org, Membership, distributor, users, active)
        .join(Membership, Membership.org_id == Org.id)
        .where(Membership.program_id == program_id)
    )


def _check_manages(principal: Principal, program_id: int) -> None:
    """Only the program's admins and partner managers see its partners here; anybody else is told nothing."""
    if not principal.manages(program_id):
        raise NotFound()


async def partner_page(
    session: AsyncSession, principal: Principal, program_id: int, *, search: str = "", page: int = 1
) -> PartnerPage:
    """The program's member orgs by name, those whose name contains `search` (any case), PER_PAGE to a page."""
    _check_manages(principal, program_id)
    query = _partners_query(program_id)
    if search.strip():
        pattern = f"%{_escape_like(search.strip().lower())}%"
        query = query.where(func.lower(Org.name).like(pattern, escape="\\"))
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = max(1, -(-total // PER_PAGE))
    page = min(max(page, 1), pages)
    rows = await session.execute(
        query.order_by(func.lower(Org.name), Org.id).limit(PER_PAGE).offset((page - 1) * PER_PAGE)
    )
    partners = [
        Partner(org, membership, name, users or 0, active or 0) for org, membership, name, users, active in rows
    ]
    return PartnerPage(partners, total, page, pages)


async def partner(session: AsyncSession, principal: Principal, program_id: int, org_id: int) -> Partner:
    """One member org of the program; NotFound for an org that is not one, or a caller who does not manage it."""
    _check_manages(principal, program_id)
    row = (await session.execute(_partners_query(program_id).where(Org.id == org_id))).one_or_none()
    if row is None:
        raise NotFound()
    org, membership, name, users, active = row
    return Partner(org, membership, name, users or 0, active or 0)


async def partner_users(session: AsyncSession, principal: Principal, program_id: int, org_id: int) -> list[User]:
    """The users of a member org, active ones first, by name."""
    await partner(session, principal, program_id, org_id)
    found = await session.scalars(
        select(User).where(User.org_id == org_id).order_by(User.active.desc(), func.lower(User.name), User.id)
    )
    return list(found)


async def update_membership(
    session: AsyncSession,
    principal: Principal,
    *,
    program_id: int,
    org_id: int,
    tier: str,
    competencies: list[str],
    certifications: list[str],
    regions: list[str],
    capacity: int | None,
    distributor_id: int | None,
) -> Membership:
    """New terms for a member org, by the program's admin (as for enrolling it); the distributor must be a
    member distributor of the program and not the org itself."""
    found = await partner(session, principal, program_id, org_id)
    if not principal.administers(program_id):
        raise Forbidden()
    if distributor_id is not None:
        await check_distributor(session, principal, program_id=program_id, distributor_id=distributor_id, org_id=org_id)
    membership = found.membership
    membership.tier = tier
    membership.competencies = sorted(set(competencies))
    membership.certifications = sorted(set(certifications))
    membership.regions = sorted(set(regions))
    membership.capacity = capacity
    membership.distributor_id = distributor_id
    await session.flush()
    live.pick_lists_changed(session, program_id)  # what the partner is offered and earns may change
    return membership


async def member_distributors(session: AsyncSession, principal: Principal, program_id: int) -> list[tuple[int, str]]:
    """(org id, name) of the program's member distributors, by name: the choices of a partner's distributor."""
    _check_manages(principal, program_id)
    rows = await session.execute(
        select(Org.id, Org.name)
        .join(Membership, Membership.org_id == Org.id)
        .where(Membership.program_id == program_id, Org.kind == "distributor")
        .order_by(func.lower(Org.name), Org.id)
    )
    return [(org_id, name) for org_id, name in rows.all()]
