"""Test data for the rewards area: a program with a catalog, partners with points."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from incentives.accounts.roles import Role
from incentives.db import Database
from incentives.ledger import services as ledger
from incentives.rewards import services
from incentives.rewards.models import Redemption
from tests.factories import Actor, ProgramWorld, make_member, make_program, make_user


@dataclass
class RewardsWorld:
    world: ProgramWorld
    org_id: int
    manager: Actor  # the reseller's manager: redeems
    rep: Actor
    pam: Actor  # the partner manager: approves

    @property
    def program_id(self) -> int:
        return self.world.program_id


async def make_rewards_world(db: Database, points: int = 0, locale: str | None = None) -> RewardsWorld:
    world = await make_program(db)
    org = await make_member(db, world)
    manager = await make_user(db, world, org, Role.RESELLER_MANAGER, locale=locale)
    rep = await make_user(db, world, org, Role.RESELLER_REP, locale=locale)
    pam = await make_user(db, world, world.admin.org_id, Role.PARTNER_MANAGER, locale="en")
    if points:
        await give_points(db, world.program_id, org, points)
    return RewardsWorld(world, org, manager, rep, pam)


async def give_points(db: Database, program_id: int, org_id: int, points: int) -> None:
    async with db.transaction() as session:
        await ledger.award_points(
            session, program_id=program_id, org_id=org_id, points=points, key=f"test:{uuid.uuid4()}"
        )


async def make_reward(db: Database, rw: RewardsWorld, kind: str = "discount", **fields: Any) -> int:
    values: dict[str, Any] = {
        "kind": kind,
        "name_de": f"Prämie {kind}",
        "name_en": f"Reward {kind}",
        "points": 100,
        "value": Decimal("500.00") if kind == "mdf" else None,
        "percent": Decimal("5.00") if kind == "discount" else None,
    }
    values.update(fields)
    async with db.transaction() as session:
        reward = await services.create_reward(session, rw.world.admin.principal, program_id=rw.program_id, **values)
    return reward.id


async def redeem(db: Database, actor: Actor, reward_id: int, quantity: int = 1, key: str | None = None) -> Redemption:
    """Redeem as the web and the API do: through Database.run, which runs the unit again after a twin's commit."""
    request_key = key or str(uuid.uuid4())
    return await db.run(
        lambda session: services.redeem(
            session, actor.principal, reward_id=reward_id, quantity=quantity, request_key=request_key
        )
    )
