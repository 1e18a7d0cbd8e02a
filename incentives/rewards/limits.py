"""An item's stock and per-period limit: a request takes from both, a rejection, cancellation or failure gives
back what it took.

Both are conditional UPDATEs on the session's connection, so concurrent requests can never take more than
there is. Taking and giving back live together (not in the request's module) because decisions give back too.
"""

from __future__ import annotations

from sqlalchemy import bindparam, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from incentives.errors import N_
from incentives.rewards.errors import LimitReached, OutOfStock
from incentives.rewards.models import Redemption, Reward
from incentives.rewards.workflow import REWARDS, USAGE, rowcount

_TAKE_STOCK = (
    update(REWARDS)
    .where(REWARDS.c.id == bindparam("p_id"), REWARDS.c.stock >= bindparam("p_quantity"))
    .values(stock=REWARDS.c.stock - bindparam("p_quantity"))
)
_GIVE_STOCK = (
    update(REWARDS)
    .where(REWARDS.c.id == bindparam("p_id"), REWARDS.c.stock.is_not(None))
    .values(stock=REWARDS.c.stock + bindparam("p_quantity"))
)
_USAGE_ROW = {
    "postgresql": pg_insert(USAGE).on_conflict_do_nothing(index_elements=["reward_id", "org_id", "period"]),
    "sqlite": sqlite_insert(USAGE).on_conflict_do_nothing(index_elements=["reward_id", "org_id", "period"]),
}
_USAGE_KEY = (
    USAGE.c.reward_id == bindparam("p_reward"),
    USAGE.c.org_id == bindparam("p_org"),
    USAGE.c.period == bindparam("p_period"),
)
_COUNT_USAGE = (
    update(USAGE)
    .where(*_USAGE_KEY, USAGE.c.quantity + bindparam("p_quantity") <= bindparam("p_limit"))
    .values(quantity=USAGE.c.quantity + bindparam("p_quantity"))
)
_UNCOUNT_USAGE = update(USAGE).where(*_USAGE_KEY).values(quantity=USAGE.c.quantity - bindparam("p_quantity"))


async def take_stock(conn: AsyncConnection, reward_id: int, quantity: int) -> None:
    """Take `quantity` units of the item's stock; OutOfStock when fewer are left."""
    taken = await conn.execute(_TAKE_STOCK, {"p_id": reward_id, "p_quantity": quantity})
    if rowcount(taken) != 1:
        raise OutOfStock()


async def count_usage(conn: AsyncConnection, reward: Reward, org_id: int, period: str, quantity: int) -> None:
    """Count `quantity` units against the org's limit for the period; LimitReached when they do not fit."""
    await conn.execute(
        _USAGE_ROW[conn.dialect.name], {"reward_id": reward.id, "org_id": org_id, "period": period, "quantity": 0}
    )
    assert reward.limit_per_period is not None
    counted = await conn.execute(
        _COUNT_USAGE,
        {
            "p_reward": reward.id,
            "p_org": org_id,
            "p_period": period,
            "p_quantity": quantity,
            "p_limit": reward.limit_per_period,
        },
    )
    if rowcount(counted) != 1:
        raise LimitReached(
            N_("You can redeem this reward at most %(limit)s times per period."),
            params={"limit": reward.limit_per_period},
        )


async def give_back(session: AsyncSession, redemption: Redemption) -> None:
    """Return the stock and limit a redemption took (inside the caller's transaction)."""
    conn = await session.connection()
    await conn.execute(_GIVE_STOCK, {"p_id": redemption.reward_id, "p_quantity": redemption.quantity})
    if redemption.period is not None:
        await conn.execute(
            _UNCOUNT_USAGE,
            {
                "p_reward": redemption.reward_id,
                "p_org": redemption.org_id,
                "p_period": redemption.period,
                "p_quantity": redemption.quantity,
            },
        )
