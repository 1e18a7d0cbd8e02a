"""The reward catalog: the terms of an item, adding, listing, changing and deactivating items (program admins),
and when an item can be redeemed (its validity, its limit's period).

A redemption keeps its points (copied when it is made), but its fulfilment reads the item's kind, value and
percentage (the MDF amount when approved, the coupon's percentage); so once an item has been redeemed those
three terms are fixed, and a different offer is a new item.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts.models import Program
from incentives.accounts.scope import Principal, visible_programs
from incentives.errors import N_, FieldError, Forbidden, NotFound, ValidationFailed
from incentives.rewards.models import LimitPeriod, Redemption, RedemptionStatus, Reward, RewardKind
from incentives.rewards.scope import visible_rewards

__all__ = [
    "FIXED_ONCE_REDEEMED",
    "check_terms",
    "create_reward",
    "deactivate_reward",
    "in_validity",
    "list_rewards",
    "period_of",
    "update_reward",
]

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


def check_terms(fields: Mapping[str, Any]) -> None:
    """The rules between an item's fields (each field is valid on its own already); all problems at once."""
    errors = []
    kind = fields.get("kind")
    if kind == RewardKind.MDF and fields.get("value") is None:
        errors.append(FieldError(("value",), N_("An MDF budget item needs a value in EUR.")))
    if kind == RewardKind.DISCOUNT and fields.get("percent") is None:
        errors.append(FieldError(("percent",), N_("A discount item needs a percentage.")))
    if (fields.get("limit_per_period") is None) != (fields.get("limit_period") is None):
        errors.append(FieldError(("limit_period",), N_("A limit needs both a number and a period.")))
    valid_from, valid_to = fields.get("valid_from"), fields.get("valid_to")
    if valid_from is not None and valid_to is not None and valid_to <= valid_from:
        errors.append(FieldError(("valid_to",), N_("Must be later than the start.")))
    if errors:
        raise ValidationFailed(errors)


async def create_reward(session: AsyncSession, principal: Principal, *, program_id: int, **fields: Any) -> Reward:
    """A new catalog item (program admins only). `fields` are Reward columns, already validated."""
    program = await session.scalar(select(Program.id).where(Program.id == program_id, visible_programs(principal)))
    if program is None:
        raise NotFound()
    if not principal.administers(program_id):
        raise Forbidden()
    check_terms(fields)
    reward = Reward(program_id=program_id, **fields)
    session.add(reward)
    return reward


async def list_rewards(
    session: AsyncSession, principal: Principal, program_id: int | None = None, *, include_inactive: bool = False
) -> list[Reward]:
    statement = select(Reward).where(visible_rewards(principal)).order_by(Reward.points, Reward.id)
    if program_id is not None:
        statement = statement.where(Reward.program_id == program_id)
    if not include_inactive:
        statement = statement.where(Reward.active.is_(True))
    return list(await session.scalars(statement))


def period_of(period: str, at: dt.datetime) -> str:
    if period == LimitPeriod.MONTH:
        return f"{at.year}-{at.month:02d}"
    if period == LimitPeriod.QUARTER:
        return f"{at.year}-Q{(at.month - 1) // 3 + 1}"
    return str(at.year)


def in_validity(reward: Reward, at: dt.datetime) -> bool:
    return (
        reward.active
        and (reward.valid_from is None or reward.valid_from <= at)
        and (reward.valid_to is None or at < reward.valid_to)
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
