"""What every stage of the redemption workflow shares: the rewards tables as Core, rows read into detached
Reward and Redemption objects, the status step (one conditional UPDATE) and the ledger hold.

The hot statements are built once and run on the session's connection; the objects they yield are never
attached to the session, so the ORM writes nothing behind the steps' backs.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.errors import N_, InvalidState
from incentives.ledger import services as ledger
from incentives.notifications.services import add_notification
from incentives.rewards.models import Redemption, RedemptionStatus, Reward, RewardKind, RewardUsage
from incentives.webhooks import outbox as webhooks

REWARDS = cast(Table, Reward.__table__)
REDEMPTIONS = cast(Table, Redemption.__table__)
USAGE = cast(Table, RewardUsage.__table__)
_STEPS: dict[tuple[str, ...], Any] = {}


def rowcount(result: Any) -> int:
    """How many rows an UPDATE or INSERT changed."""
    return int(getattr(result, "rowcount", 0) or 0)


def reward_of(row: Row[Any], prefix: str = "") -> Reward:
    return Reward(**{column.name: getattr(row, prefix + column.name) for column in REWARDS.c})


def redemption_of(row: Row[Any]) -> Redemption:
    return Redemption(**{column.name: getattr(row, column.name) for column in REDEMPTIONS.c})


def detach(session: AsyncSession, redemption: Redemption, reward: Reward) -> tuple[Redemption, Reward]:
    """Detached objects: the steps change them in memory as their UPDATEs succeed (no second UPDATE by the
    ORM at commit), and they stay readable after the session is gone."""
    session.expunge(redemption)
    session.expunge(reward)
    return redemption, reward


async def load(session: AsyncSession, redemption_id: int) -> tuple[Redemption, Reward]:
    """The redemption (its row locked until the caller's transaction ends) and its reward."""
    row = (
        await session.execute(
            select(Redemption, Reward)
            .join(Reward, Reward.id == Redemption.reward_id)
            .where(Redemption.id == redemption_id)
            .with_for_update(of=Redemption)
            .execution_options(populate_existing=True)
        )
    ).one()
    return detach(session, row[0], row[1])


def _step_statement(names: tuple[str, ...]) -> Any:
    """UPDATE redemptions SET `names` WHERE id and status match, built once per set of names."""
    statement = _STEPS.get(names)
    if statement is None:
        statement = (
            update(REDEMPTIONS)
            .where(REDEMPTIONS.c.id == bindparam("p_id"), REDEMPTIONS.c.status == bindparam("p_was"))
            .values({name: bindparam(f"p_{name}", type_=REDEMPTIONS.c[name].type) for name in names})
        )
        _STEPS[names] = statement
    return statement


async def step(
    session: AsyncSession,
    redemption: Redemption,
    was: RedemptionStatus,
    values: dict[str, Any],
    note: dict[str, Any] | None = None,
) -> None:
    """Write `values` to the redemption (in status `was`) and to the detached object, and the notification
    `note` (a `notification_row`) that tells of it."""
    conn = await session.connection()
    params = {"p_id": redemption.id, "p_was": was, **{f"p_{name}": value for name, value in values.items()}}
    changed = rowcount(await conn.execute(_step_statement(tuple(values)), params))
    if changed == 1 and note is not None:
        await add_notification(session, note)
    if changed != 1:  # the caller holds the row: only a bug gets here, and it rolls everything back
        raise InvalidState(N_("This redemption was already decided and can no longer be changed."))
    for key, value in values.items():
        setattr(redemption, key, value)


async def hold_points(
    session: AsyncSession, redemption: Redemption, reward: Reward, at: dt.datetime
) -> ledger.Transfer:
    """The ledger's hold of the redemption's points, keyed by the redemption's id."""
    return await ledger.hold_points(
        session,
        program_id=redemption.program_id,
        org_id=redemption.org_id,
        points=redemption.points,
        kind=reward.kind,
        key=f"redemption:{redemption.id}:hold",
        cause=ledger.Cause(redemption_id=redemption.id, user_id=redemption.requested_by_id),
        now=at,
    )


async def tell_webhooks(
    session: AsyncSession, redemption: Redemption, reward: Reward, event_type: str, at: dt.datetime
) -> None:
    """`redemption.requested`, `.approved` or `.rejected` for the program's subscribed endpoints, in the caller's
    transaction: the redemption as it is now, with its fulfilment (approved) or reason (rejected)."""
    fulfilment: dict[str, Any] | None = None
    if event_type == "redemption.approved":
        if reward.kind == RewardKind.MDF and reward.value is not None:
            fulfilment = {"mdf_amount": {"amount": f"{reward.value * redemption.quantity:.2f}", "currency": "EUR"}}
        elif reward.kind == RewardKind.DISCOUNT:
            fulfilment = {"coupon_code": redemption.coupon_code}
        elif reward.kind == RewardKind.BONUS:
            fulfilment = {"bonus": redemption.bonus}
    data = {
        "redemption_id": redemption.id,
        "program_id": redemption.program_id,
        "org_id": redemption.org_id,
        "requested_by": redemption.requested_by_id,
        "reward": {"id": reward.id, "kind": reward.kind, "name": {"de": reward.name_de, "en": reward.name_en}},
        "quantity": redemption.quantity,
        "points": redemption.points,
        "status": redemption.status,
        "auto_approved": redemption.auto_approved,
        "fulfilment": fulfilment,
        "reason": redemption.reason if event_type == "redemption.rejected" else None,
    }
    key = f"redemption:{redemption.id}:{event_type}"
    await webhooks.emit(session, [webhooks.Event(redemption.program_id, event_type, at, data, key=key)])
