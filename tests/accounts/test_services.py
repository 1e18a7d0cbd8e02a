from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from incentives.accounts import services
from incentives.accounts.models import ApiToken, LoginAttempt, User
from incentives.accounts.roles import Role
from incentives.db import Database
from incentives.errors import Duplicate, RateLimited, ValidationFailed
from tests.factories import PASSWORD, make_member, make_program


async def test_concurrent_users_with_one_email_have_exactly_one_winner(db: Database) -> None:
    world = await make_program(db)
    org = await make_member(db, world)

    async def create() -> str:
        try:
            async with db.transaction() as session:
                await services.create_user(
                    session,
                    world.admin.principal,
                    email="Same@Example.com",
                    name="X",
                    org_id=org,
                    role=Role.RESELLER_REP,
                )
            return "ok"
        except Duplicate:
            return "duplicate"

    results = await asyncio.gather(*[create() for _ in range(6)])
    assert sorted(results) == ["duplicate"] * 5 + ["ok"]
    async with db.reader() as session:
        assert await session.scalar(select(func.count()).where(User.email == "same@example.com")) == 1


async def test_role_must_fit_the_org_and_nothing_is_written(db: Database) -> None:
    world = await make_program(db)
    reseller = await make_member(db, world)
    with pytest.raises(ValidationFailed) as info:
        async with db.transaction() as session:
            await services.create_user(
                session,
                world.admin.principal,
                email="pam@example.com",
                name="P",
                org_id=reseller,
                role=Role.PARTNER_MANAGER,
            )
    assert info.value.errors[0].loc == ("role",)
    async with db.reader() as session:
        assert await session.scalar(select(User.id).where(User.email == "pam@example.com")) is None


async def test_tokens_are_stored_hashed_and_resolve_to_their_user(db: Database) -> None:
    world = await make_program(db)
    async with db.reader() as session:
        stored = (await session.scalars(select(ApiToken.token_hash))).all()
        assert world.admin.token not in stored
        assert services.hash_token(world.admin.token) in stored
        user = await services.user_for_token(session, world.admin.token)
        assert user is not None and user.id == world.admin.user_id
        assert await services.user_for_token(session, world.admin.token + "x") is None
        assert await services.user_for_token(session, "not-a-token") is None


async def test_login_is_rate_limited_per_email(db: Database) -> None:
    world = await make_program(db)

    async def attempt(password: str) -> bool:
        async with db.transaction() as session:
            user = await services.authenticate(
                session,
                email=world.admin.email,
                password=password,
                client_ip="10.0.0.1",
                max_attempts=3,
                window_seconds=600,
            )
        return user is not None

    assert await attempt(PASSWORD)
    for _ in range(3):
        assert not await attempt("wrong-password")
    with pytest.raises(RateLimited):
        await attempt(PASSWORD)  # even the right password waits until the window has passed
    async with db.reader() as session:
        assert await session.scalar(select(func.count()).select_from(LoginAttempt)) == 6  # 3 by e-mail, 3 by IP
