"""Catalog management: changing and deactivating items, field checks, who may, redemptions keeping their terms."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from incentives.db import Database
from incentives.errors import Forbidden, NotFound, ValidationFailed
from incentives.rewards import catalog, services
from incentives.rewards.models import MdfAllocation, Reward
from tests.factories import make_program
from tests.rewards.helpers import make_reward, make_rewards_world, redeem


async def _reward(db: Database, reward_id: int) -> Reward:
    async with db.reader() as session:
        return await session.get_one(Reward, reward_id)


async def test_an_admin_changes_every_field(db: Database) -> None:
    rw = await make_rewards_world(db)
    reward_id = await make_reward(db, rw, "discount")
    start = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    async with db.transaction() as session:
        await catalog.update_reward(
            session,
            rw.world.admin.principal,
            reward_id,
            kind="mdf",
            name_de="Messebudget",
            name_en="Trade fair budget",
            description_de="Für Ihren Messestand",
            description_en="For your booth",
            points=800,
            value=Decimal("250.50"),
            percent=None,
            stock=7,
            limit_per_period=2,
            limit_period="quarter",
            valid_from=start,
            valid_to=start + dt.timedelta(days=90),
            auto_approve_up_to=500,
            active=False,
        )
    saved = await _reward(db, reward_id)
    assert (saved.kind, saved.name_de, saved.name_en, saved.points, saved.value, saved.percent) == (
        "mdf",
        "Messebudget",
        "Trade fair budget",
        800,
        Decimal("250.50"),
        None,
    )
    assert (saved.stock, saved.limit_per_period, saved.limit_period, saved.auto_approve_up_to, saved.active) == (
        7,
        2,
        "quarter",
        500,
        False,
    )
    assert saved.valid_from == start and saved.description_de == "Für Ihren Messestand"


async def test_every_broken_rule_is_named_and_nothing_is_saved(db: Database) -> None:
    rw = await make_rewards_world(db)
    reward_id = await make_reward(db, rw, "discount", name_en="Spring discount")
    start = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    with pytest.raises(ValidationFailed) as caught:
        async with db.transaction() as session:
            await catalog.update_reward(
                session,
                rw.world.admin.principal,
                reward_id,
                name_en="Changed",
                percent=None,
                limit_per_period=3,
                valid_from=start,
                valid_to=start,
            )
    assert {error.loc for error in caught.value.errors} == {("percent",), ("limit_period",), ("valid_to",)}
    saved = await _reward(db, reward_id)
    assert (saved.name_en, saved.percent, saved.limit_per_period) == ("Spring discount", Decimal("5.00"), None)


async def test_redeemed_items_keep_their_terms_for_the_redemptions(db: Database) -> None:
    rw = await make_rewards_world(db, points=1000)
    reward_id = await make_reward(db, rw, "mdf", points=300, value=Decimal("500.00"))
    pending = await redeem(db, rw.manager, reward_id)
    admin = rw.world.admin.principal
    with pytest.raises(ValidationFailed) as caught:
        async with db.transaction() as session:
            await catalog.update_reward(session, admin, reward_id, value=Decimal("900.00"), kind="bonus")
    assert {error.loc for error in caught.value.errors} == {("value",), ("kind",)}
    # The price, names and stock may change: the pending redemption keeps the points it holds.
    async with db.transaction() as session:
        await catalog.update_reward(session, admin, reward_id, points=450, name_en="MDF 2027", stock=3)
    async with db.transaction() as session:
        approved = await services.approve_redemption(session, rw.pam.principal, pending.id)
    assert approved.points == 300 and approved.status == "fulfilled"
    async with db.reader() as session:
        allocation = await session.scalar(select(MdfAllocation).where(MdfAllocation.redemption_id == pending.id))
    assert allocation is not None and allocation.amount == Decimal("500.00")
    saved = await _reward(db, reward_id)
    assert (saved.points, saved.value, saved.stock) == (450, Decimal("500.00"), 3)


async def test_deactivated_items_leave_the_catalog_but_pending_redemptions_go_on(db: Database) -> None:
    rw = await make_rewards_world(db, points=1000)
    reward_id = await make_reward(db, rw, "bonus", points=200)
    pending = await redeem(db, rw.manager, reward_id)
    async with db.transaction() as session:
        await catalog.deactivate_reward(session, rw.world.admin.principal, reward_id)
    async with db.reader() as session:
        shown = await services.list_rewards(session, rw.manager.principal, rw.program_id)
        everything = await services.list_rewards(session, rw.pam.principal, rw.program_id, include_inactive=True)
    assert reward_id not in {r.id for r in shown} and reward_id in {r.id for r in everything}
    async with db.transaction() as session:
        approved = await services.approve_redemption(session, rw.pam.principal, pending.id)
    assert approved.status == "fulfilled"


async def test_only_the_programs_admin_manages_its_catalog(db: Database) -> None:
    rw = await make_rewards_world(db)
    reward_id = await make_reward(db, rw, "bonus")
    other = await make_program(db)
    with pytest.raises(NotFound):
        async with db.transaction() as session:
            await catalog.update_reward(session, other.admin.principal, reward_id, name_en="Stolen")
    with pytest.raises(NotFound):
        async with db.transaction() as session:
            await catalog.deactivate_reward(session, other.admin.principal, reward_id)
    for actor in (rw.pam, rw.manager):
        with pytest.raises(Forbidden):
            async with db.transaction() as session:
                await catalog.update_reward(session, actor.principal, reward_id, name_en="Mine")
        with pytest.raises(Forbidden):
            async with db.transaction() as session:
                await catalog.deactivate_reward(session, actor.principal, reward_id)
    saved = await _reward(db, reward_id)
    assert saved.name_en == "Reward bonus" and saved.active
