from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import func, select

from incentives.accounts import services, throttle, token_check
from incentives.accounts.models import ApiToken, LoginAttempt, User
from incentives.accounts.roles import Role
from incentives.db import Database, utcnow
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
        assert token_check.hash_token(world.admin.token) in stored
        user = await token_check.user_for_token(session, world.admin.token)
        assert user is not None and user.id == world.admin.user_id
        assert await token_check.user_for_token(session, world.admin.token + "x") is None
        assert await token_check.user_for_token(session, "not-a-token") is None


async def test_login_failures_slow_one_pair_down_and_lock_nobody_out(db: Database) -> None:
    """Growing delays per (e-mail, IP); the clock is moved by passing `now`, never by sleeping."""
    world = await make_program(db)
    start = utcnow()

    async def attempt(password: str, at: dt.timedelta, ip: str = "10.0.0.1") -> bool:
        async with db.transaction() as session:
            user = await services.authenticate(
                session,
                email=world.admin.email,
                password=password,
                client_ip=ip,
                max_attempts=3,
                window_seconds=600,
                now=start + at,
            )
        return user is not None

    second = dt.timedelta(seconds=1)
    assert await attempt(PASSWORD, 0 * second)
    for n in range(3):  # the first three failures cost nothing
        assert not await attempt("wrong-password", n * second / 10)
    # The third failure (at 0.2 s) makes the pair wait 1 s; even the right password is not checked meanwhile.
    with pytest.raises(RateLimited) as refused:
        await attempt(PASSWORD, 1 * second)
    assert refused.value.params == {"seconds": 1}
    assert not await attempt("wrong-password", 1.3 * second)  # 4th failure: now 2 s
    with pytest.raises(RateLimited):
        await attempt("wrong-password", 3.2 * second)
    assert not await attempt("wrong-password", 3.4 * second)  # 5th: 4 s
    with pytest.raises(RateLimited):
        await attempt(PASSWORD, 7.3 * second)
    # The rightful user from another address is not slowed at all ...
    assert await attempt(PASSWORD, 7.3 * second, ip="10.0.0.2")
    # ... and on this one logs in once the delay has passed, which forgets the pair's failures.
    assert await attempt(PASSWORD, 7.5 * second)
    assert not await attempt("wrong-password", 8 * second)
    async with db.reader() as session:
        pair = LoginAttempt.key.startswith("pair:")
        assert await session.scalar(select(func.count()).select_from(LoginAttempt).where(pair)) == 1


async def test_delays_grow_to_a_cap_and_failures_are_forgotten(db: Database) -> None:
    assert [throttle.delay_after(n, 3, throttle.MAX_DELAY).total_seconds() for n in range(2, 7)] == [0, 1, 2, 4, 8]
    assert throttle.delay_after(100, 3, throttle.MAX_DELAY) == throttle.MAX_DELAY
    world = await make_program(db)
    start = utcnow()
    for _ in range(13):  # an attacker at the pace the delays allow
        async with db.transaction() as session:
            left = await throttle.wait_left(
                session, world.admin.email, "10.0.0.9", free=3, window=dt.timedelta(hours=1), now=start
            )
            start += left
            throttle.record_failure(session, world.admin.email, "10.0.0.9", start)
    assert left == throttle.MAX_DELAY
    async with db.transaction() as session:  # the window has passed: nothing is remembered
        later = start + dt.timedelta(hours=1, seconds=1)
        assert await throttle.wait_left(
            session, world.admin.email, "10.0.0.9", free=3, window=dt.timedelta(hours=1), now=later
        ) == dt.timedelta(0)
        assert await session.scalar(select(func.count()).select_from(LoginAttempt)) == 0
