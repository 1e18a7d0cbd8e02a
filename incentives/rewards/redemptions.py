"""A partner's redemption request: check it, take stock and limit, hold the points and write the row
(`pending`), or, at or below the item's auto-approval threshold, post and fulfil it at once.

The request is one unit of work in the caller's transaction (a refusal anywhere leaves nothing behind); the same
request key redeems once. Its statements are built once (per principal where the scope is part of them) and run
on the session's connection: each is a thread hand-off on SQLite and a round trip on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from sqlalchemy import Select, bindparam, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from incentives.accounts.scope import Principal
from incentives.db import RunAgain, utcnow
from incentives.errors import N_, FieldError, Forbidden, IdempotencyConflict, NotFound, ValidationFailed
from incentives.ledger import queries as ledger_queries
from incentives.ledger.errors import InsufficientPoints
from incentives.rewards.catalog import in_validity, period_of
from incentives.rewards.decisions import advance, post_and_fulfil
from incentives.rewards.errors import LimitReached, OutOfStock, RewardUnavailable, with_shortfall
from incentives.rewards.limits import count_usage, take_stock
from incentives.rewards.models import Redemption, RedemptionStatus, Reward
from incentives.rewards.scope import REDEEMERS, visible_rewards
from incentives.rewards.workflow import REDEMPTIONS, REWARDS, detach, hold_points, reward_of, tell_webhooks

MAX_QUANTITY = 100
_INSERT_REDEMPTION = insert(REDEMPTIONS)

__all__ = ["MAX_QUANTITY", "redeem"]


async def redeem(
    session: AsyncSession,
    principal: Principal,
    *,
    reward_id: int,
    request_key: str,
    quantity: int = 1,
    now: dt.datetime | None = None,
) -> Redemption:
    """Hold the points for `quantity` units of a reward. The same `request_key` redeems once.

    Run it through `Database.run`: when a concurrent twin with the same key committed first, a unique key
    refuses this one's row (IntegrityError) or this one raises `RunAgain`, and the next attempt returns the
    twin's redemption. (A coupon code collision, 80 random bits, is retried the same way.)"""
    if not 1 <= quantity <= MAX_QUANTITY:
        raise ValidationFailed([FieldError(("quantity",), N_("Must be between 1 and 100."))])
    if not request_key or len(request_key) > 200:
        raise ValidationFailed([FieldError(("request_key",), N_("Must be 1 to 200 characters long."))])
    at = now or utcnow()
    try:
        redemption = await _request(session, principal, reward_id, quantity, request_key, at)
    except (InsufficientPoints, OutOfStock, LimitReached) as exc:
        # A twin with the same key (a double click) that committed while this one waited for a lock took the
        # points, stock or limit: its redemption is the answer, which the owner's next attempt finds (this one's
        # writes roll back first). Otherwise the owner's rollback leaves nothing of the request, and asking
        # again later may succeed.
        if await _twin_committed(session, principal, request_key):
            raise RunAgain() from exc
        raise with_shortfall(exc) if isinstance(exc, InsufficientPoints) else exc from exc
    if redemption.reward_id != reward_id or redemption.quantity != quantity:
        raise IdempotencyConflict()
    return redemption


def _next_id(dialect: str) -> Any:
    """The id the new redemption will have, known before its row is written (the ledger's hold names it).
    PostgreSQL: the table's own sequence. SQLite: one more than the highest, as SQLite itself would pick; our
    write transaction (BEGIN IMMEDIATE) is the only writer, and if it was not, the primary key would refuse
    the row and the request would run again."""
    if dialect == "postgresql":
        return func.nextval(func.pg_get_serial_sequence(REDEMPTIONS.name, REDEMPTIONS.c.id.name))
    return select(func.coalesce(func.max(REDEMPTIONS.c.id), 0) + 1).scalar_subquery()


@functools.lru_cache(maxsize=1024)
def _request_lookup(principal: Principal, dialect: str) -> Select[Any]:
    """The reward in the principal's scope, the id of a redemption made earlier with the request key and the
    new redemption's id, in one statement (built once per principal). PostgreSQL key-share locks the reward
    row: an admin's edit of its kind, value or percent (refused once it has redemptions) takes FOR UPDATE and
    so waits for this redemption, while other redemptions and stock updates go on beside it (SQLite writers
    are serial)."""
    earlier = (
        select(REDEMPTIONS.c.id)
        .where(REDEMPTIONS.c.org_id == principal.org_id, REDEMPTIONS.c.request_key == bindparam("p_key"))
        .scalar_subquery()
    )
    return (
        select(*REWARDS.c, earlier.label("earlier"), _next_id(dialect).label("next_id"))
        .where(REWARDS.c.id == bindparam("p_reward"), visible_rewards(principal))
        .with_for_update(read=True, key_share=True, of=REWARDS)
    )


async def _request(
    session: AsyncSession, principal: Principal, reward_id: int, quantity: int, request_key: str, at: dt.datetime
) -> Redemption:
    """Write the request, take stock and limit, hold the points and, at or below the auto-approval threshold,
    post them and fulfil: all in the caller's transaction (a refusal anywhere leaves nothing behind).

    A request key used before returns its redemption instead (a double click, a retry).
    """
    conn = await session.connection()
    lookup = _request_lookup(principal, conn.dialect.name)
    found = (await conn.execute(lookup, {"p_reward": reward_id, "p_key": request_key})).first()
    if found is None or found.earlier is not None:
        done = await _earlier_request(session, principal, request_key, at)
        if done is None:
            raise NotFound()
        return done
    if principal.role not in REDEEMERS:  # after the lookup: outside the scope is 404, not 403
        raise Forbidden(N_("Only a reseller manager can redeem rewards."))
    reward = reward_of(found)
    if not in_validity(reward, at):
        raise RewardUnavailable()
    points = reward.points * quantity
    if reward.stock is not None or reward.limit_per_period is not None:
        # A short balance is the answer even when stock or limit fall short too. The ledger's check under
        # its lock, further down in this transaction, is the one that counts.
        balance = await ledger_queries.balance(session, reward.program_id, principal.org_id)
        if balance.available < points:
            raise InsufficientPoints(params={"available": balance.available, "points": points})
    # Stock and limit before the points: every workflow step locks rows in the same order (redemption,
    # reward, usage, then the ledger account), so PostgreSQL cannot deadlock between them.
    if reward.stock is not None:
        await take_stock(conn, reward.id, quantity)
    period = None
    if reward.limit_per_period is not None and reward.limit_period is not None:
        period = period_of(reward.limit_period, at)
        await count_usage(conn, reward, principal.org_id, period, quantity)
    redemption = Redemption(
        id=found.next_id,
        program_id=reward.program_id,
        reward_id=reward.id,
        org_id=principal.org_id,
        requested_by_id=principal.user_id,
        request_key=request_key,
        quantity=quantity,
        points=points,
        period=period,
        status=RedemptionStatus.REQUESTED,
        hold_id=None,
        resolution_id=None,
        decided_by_id=None,
        decided_at=None,
        reason=None,
        auto_approved=False,
        coupon_code=None,
        bonus=None,
        created_at=at,
        fulfilled_at=None,
    )
    auto = reward.auto_approve_up_to is not None and points <= reward.auto_approve_up_to
    redemption.auto_approved = auto
    redemption.status, redemption.decided_at = (
        (RedemptionStatus.APPROVED, at) if auto else (RedemptionStatus.PENDING, None)
    )
    # The points first, then the row, written once with the hold it has (a refusal of the hold leaves nothing).
    hold = await hold_points(session, redemption, reward, at)
    redemption.hold_id = hold.id
    await _write_request(conn, redemption)
    await tell_webhooks(session, redemption, reward, "redemption.requested", at)
    if auto:
        await post_and_fulfil(session, redemption, reward, at)
    return redemption


async def _write_request(conn: AsyncConnection, redemption: Redemption) -> None:
    """The request's row, with the points it holds."""
    await conn.execute(_INSERT_REDEMPTION, {column.name: getattr(redemption, column.name) for column in REDEMPTIONS.c})


async def _earlier_request(
    session: AsyncSession, principal: Principal, request_key: str, at: dt.datetime
) -> Redemption | None:
    """The redemption made earlier with the request key (its row locked), carried as far as it can go, or None."""
    existing = (
        await session.execute(
            select(Redemption, Reward)
            .join(Reward, Reward.id == Redemption.reward_id)
            .where(Redemption.org_id == principal.org_id, Redemption.request_key == request_key)
            .with_for_update(of=Redemption)
        )
    ).first()
    if existing is None:
        return None
    if principal.role not in REDEEMERS:
        raise Forbidden(N_("Only a reseller manager can redeem rewards."))
    done, its_reward = detach(session, existing[0], existing[1])
    await advance(session, done, its_reward, at)  # finish what a crash left half-done
    return done


async def _twin_committed(session: AsyncSession, principal: Principal, request_key: str) -> bool:
    """Whether a redemption with the request key is there now (on PostgreSQL, committed by a twin meanwhile)."""
    earlier = select(REDEMPTIONS.c.id).where(
        REDEMPTIONS.c.org_id == principal.org_id, REDEMPTIONS.c.request_key == request_key
    )
    return await session.scalar(earlier) is not None
