"""The scope rules: what each role may see, checked through the services that use them."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from incentives.accounts import services
from incentives.accounts.models import Org
from incentives.accounts.roles import Role
from incentives.accounts.scope import visible_orgs
from incentives.db import Database
from incentives.errors import NotFound, ValidationFailed
from tests.factories import make_member, make_program, make_user


async def _visible(db: Database, principal: object) -> set[int]:
    async with db.reader() as session:
        return set((await session.scalars(select(Org.id).where(visible_orgs(principal)))).all())  # type: ignore[arg-type]


async def test_each_role_sees_exactly_its_orgs(db: Database) -> None:
    world = await make_program(db)
    other = await make_program(db)
    distributor = await make_member(db, world, kind="distributor")
    below = await make_member(db, world, distributor_id=distributor)
    independent = await make_member(db, world)
    foreign = await make_member(db, other)

    admin_sees = await _visible(db, world.admin.principal)
    assert {distributor, below, independent, world.admin.org_id} <= admin_sees
    assert foreign not in admin_sees

    dist_manager = await make_user(db, world, distributor, Role.DISTRIBUTOR_MANAGER)
    assert await _visible(db, dist_manager.principal) == {distributor, below}

    rep = await make_user(db, world, below, Role.RESELLER_REP)
    assert await _visible(db, rep.principal) == {below}

    pam = await make_user(db, world, world.admin.org_id, Role.PARTNER_MANAGER)
    assert await _visible(db, pam.principal) == admin_sees


async def test_a_shared_reseller_sees_both_programs_but_each_admin_only_its_own(db: Database) -> None:
    first = await make_program(db)
    second = await make_program(db)
    shared = await make_member(db, first)
    # The second program's admin cannot see an org the first program registered, so cannot enrol it.
    with pytest.raises(ValidationFailed):
        async with db.transaction() as session:
            await services.create_membership(
                session,
                second.admin.principal,
                program_id=second.program_id,
                org_id=shared,
                tier="silver",
                competencies=[],
                certifications=[],
                regions=["DE"],
            )
    manager = await make_user(db, first, shared, Role.RESELLER_MANAGER)
    async with db.reader() as session:
        with pytest.raises(NotFound):
            await services.get_program(session, manager.principal, second.program_id)
        program = await services.get_program(session, manager.principal, first.program_id)
    assert program.id == first.program_id


async def test_users_of_another_program_are_invisible(db: Database) -> None:
    first = await make_program(db)
    second = await make_program(db)
    async with db.reader() as session:
        with pytest.raises(NotFound):
            await services.get_user(session, first.admin.principal, second.admin.user_id)
        assert (await services.get_user(session, first.admin.principal, first.admin.user_id)).id == first.admin.user_id
