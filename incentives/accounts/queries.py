"""Read queries of the accounts domain that other domains and the web ask: names of orgs, which orgs and
programs a principal may see, an org's memberships, a program's partners."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts.models import Membership, Org, Program, User
from incentives.accounts.scope import Principal, visible_orgs, visible_programs


async def org(session: AsyncSession, org_id: int) -> Org | None:
    return await session.get(Org, org_id)


async def active_user(session: AsyncSession, user_id: int) -> User | None:
    """The user if it exists and is active (a signed e-mail link names a user that may have left since)."""
    return await session.scalar(select(User).where(User.id == user_id, User.active.is_(True)))


async def org_names(session: AsyncSession, org_ids: Iterable[int]) -> dict[int, str]:
    """The name of each org asked for (unknown ids are left out), in one query."""
    wanted = set(org_ids)
    if not wanted:
        return {}
    rows = await session.execute(select(Org.id, Org.name).where(Org.id.in_(wanted)))
    return {org_id: name for org_id, name in rows.all()}


async def sees_org(session: AsyncSession, principal: Principal, org_id: int) -> bool:
    return await session.scalar(select(Org.id).where(Org.id == org_id, visible_orgs(principal))) is not None


async def sees_program(session: AsyncSession, principal: Principal, program_id: int) -> bool:
    found = await session.scalar(select(Program.id).where(Program.id == program_id, visible_programs(principal)))
    return found is not None


async def member_program_ids(session: AsyncSession, org_id: int) -> list[int]:
    """Every program the org is a member of."""
    return list(await session.scalars(select(Membership.program_id).where(Membership.org_id == org_id)))


async def visible_member_programs(
    session: AsyncSession, principal: Principal, org_id: int, program_id: int | None = None
) -> list[int]:
    """Programs the org is a member of and the principal may see (only `program_id`, when given), in id order."""
    statement = (
        select(Membership.program_id)
        .join(Program, Program.id == Membership.program_id)
        .where(Membership.org_id == org_id, visible_programs(principal))
        .order_by(Membership.program_id)
    )
    if program_id is not None:
        statement = statement.where(Membership.program_id == program_id)
    return list((await session.scalars(statement)).all())


async def program_partners(session: AsyncSession, program_id: int) -> list[tuple[int, str]]:
    """(org id, name) of every member of a program, by name."""
    rows = await session.execute(
        select(Org.id, Org.name)
        .join(Membership, Membership.org_id == Org.id)
        .where(Membership.program_id == program_id)
        .order_by(Org.name, Org.id)
    )
    return [(org_id, name) for org_id, name in rows.all()]


async def user_names(session: AsyncSession, user_ids: Iterable[int]) -> dict[int, str]:
    """The name of each user asked for (unknown ids are left out), in one query."""
    wanted = set(user_ids)
    if not wanted:
        return {}
    rows = await session.execute(select(User.id, User.name).where(User.id.in_(wanted)))
    return {user_id: name for user_id, name in rows}
