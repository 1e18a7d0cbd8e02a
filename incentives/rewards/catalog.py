"""Catalog management by the program's admins: check an item's terms, change an item, deactivate it.

Creating an item is `services.create_reward`. A redemption keeps its points (copied when it is made), but
its fulfilment reads the item's kind, value and percentage (the MDF amount when approved, the coupon's
percentage); so once an item has been redeemed those three terms are fixed, and a different offer is a new item.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts.scope import Principal
from incentives.errors import N_, FieldError, Forbidden, NotFound, ValidationFailed
from incentives.rewards.models import Redemption, RedemptionStatus, Reward
from incentives.rewards.scope import visible_rewards
from incentives.rewards.services import check_terms

__all__ = ["FIXED_ONCE_REDEEMED", "check_terms", "deactivate_reward", "update_reward"]

# The terms a fulfilment reads from the item (see the module's docstring).
FIXED_ONCE_REDEEMED = ("kind", "value", "percent")
EDITABLE = frozenset(
    {
        "kind",
        "name_de",
        "name_en",
        "description_de",
        "description_en",
        "points",
        "value",
        "percent",
        "stock",
        "limit_per_period",
        "limit_period",
        "valid_from",
        "valid_to",
        "auto_approve_up_to",
        "active",
    }
)


async def _editable(session: AsyncSession, principal: Principal, reward_id: int) -> Reward:
    """The item, locked against concurrent edits; 404 outside the scope, 403 for anyone but its program's admin.

    FOR UPDATE also waits for redemptions in flight (each key-share locks the item when it reads it), so the
    check for redemptions that follows sees them."""
    reward = await session.scalar(
        select(Reward).where(Reward.id == reward_id, visible_rewards(principal)).with_for_update()
    )
    if reward is None:
        raise NotFound()
    if not principal.administers(reward.program_id):
        raise Forbidden()
    return reward


def has_redemptions(reward_id: int) -> Any:
    """Whether any redemption (other than one refused for want of points) names the item."""
    return exists().where(Redemption.reward_id == reward_id, Redemption.status != RedemptionStatus.FAILED)


async def update_reward(session: AsyncSession, principal: Principal, reward_id: int, **fields: Any) -> Reward:
    """Change a catalog item. `fields` are Reward columns, each already valid; the whole item is checked again."""
    unknown = set(fields) - EDITABLE
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    reward = await _editable(session, principal, reward_id)
    merged = {name: fields.get(name, getattr(reward, name)) for name in EDITABLE}
    check_terms(merged)
    changed = [name for name in FIXED_ONCE_REDEEMED if merged[name] != getattr(reward, name)]
    if changed and await session.scalar(select(has_redemptions(reward_id))):
        raise ValidationFailed(
            [
                FieldError(
                    (name,),
                    N_(
                        "This item has been redeemed already, so this stays as it is. "
                        "Deactivate it and add a new item instead."
                    ),
                )
                for name in changed
            ]
        )
    for name, value in fields.items():
        setattr(reward, name, value)
    return reward


async def deactivate_reward(session: AsyncSession, principal: Principal, reward_id: int) -> Reward:
    """Take an item out of the catalog (partners no longer see it); redemptions already made go on as they are."""
    reward = await _editable(session, principal, reward_id)
    reward.active = False
    return reward
