"""The redemption workflow: redeem (hold), approve (post + fulfil), reject, cancel.

Each state change is one unit of work, the ledger's part included: every service here joins the caller's
transaction (`db.transaction()`, or `Database.run`, which runs the unit again when a concurrent twin of the
same request committed first) and never begins or commits one itself. A request writes the row, takes stock
and limit and holds the points → `pending` (or, at or below the auto-approval threshold, straight on to
`fulfilled`); a decision locks the row, then the ledger posts the hold and the fulfilment is written
(`fulfilled`), or the hold is voided and stock and limit are given back (`rejected` | `cancelled`), the
decision and its outcome in one UPDATE that is conditional on the row being `pending` (of concurrent decisions
exactly one wins). A crash therefore leaves a redemption before or after a step, never inside one. Ledger
calls are keyed by the redemption id, so the reconcile sweep can finish rows an older, many-transaction
version left between steps (`requested`, `approved`, or decided without a resolution) without moving points
twice.

The hot paths run Core statements built once (per principal where the scope is part of them) on the
session's connection: each statement is a thread hand-off on SQLite and a round trip on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any, cast

from sqlalchemy import Row, Select, Table, bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from incentives.accounts.scope import Principal
from incentives.db import RunAgain, utcnow
from incentives.errors import N_, FieldError, Forbidden, IdempotencyConflict, InvalidState, NotFound, ValidationFailed
from incentives.ledger import queries as ledger_queries
from incentives.ledger import services as ledger
from incentives.ledger.errors import InsufficientPoints
from incentives.notifications.services import (
    add_notification,
    notification_row,
)
from incentives.rewards.catalog import create_reward, in_validity, list_rewards, period_of
from incentives.rewards.coupons import new_coupon_code
from incentives.rewards.errors import LimitReached, OutOfStock, RewardUnavailable
from incentives.rewards.models import (
    MdfAllocation,
    Redemption,
    RedemptionStatus,
    Reward,
    RewardKind,
    RewardUsage,
)
from incentives.rewards.scope import DECIDERS, REDEEMERS, visible_redemptions, visible_rewards

S = RedemptionStatus
MDF_VALIDITY = dt.timedelta(days=365)
MAX_QUANTITY = 100

__all__ = [
    "approve_redemption",
    "cancel_redemption",
    "create_reward",
    "fail_redemption",
    "finish_redemption",
    "list_rewards",
    "redeem",
    "reject_redemption",
]


# --- redeem --------------------------------------------------------------------------------------------


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
        raise _insufficient(exc) if isinstance(exc, InsufficientPoints) else exc from exc
    if redemption.reward_id != reward_id or redemption.quantity != quantity:
        raise IdempotencyConflict()
    return redemption


# The rewards tables as Core: the hot statements are built once, run on the session's connection, and their
# rows become plain (never session-attached) Reward and Redemption objects.
REWARDS = cast(Table, Reward.__table__)
REDEMPTIONS = cast(Table, Redemption.__table__)
USAGE = cast(Table, RewardUsage.__table__)
W, R, U = REWARDS.c, REDEMPTIONS.c, USAGE.c
_REWARD_AS = [column.label(f"w_{column.name}") for column in REWARDS.c]

_TAKE_STOCK = (
    update(REWARDS)
    .where(W.id == bindparam("p_id"), W.stock >= bindparam("p_quantity"))
    .values(stock=W.stock - bindparam("p_quantity"))
)
_GIVE_STOCK = (
    update(REWARDS)
    .where(W.id == bindparam("p_id"), W.stock.is_not(None))
    .values(stock=W.stock + bindparam("p_quantity"))
)
_USAGE_ROW = {
    "postgresql": pg_insert(USAGE).on_conflict_do_nothing(index_elements=["reward_id", "org_id", "period"]),
    "sqlite": sqlite_insert(USAGE).on_conflict_do_nothing(index_elements=["reward_id", "org_id", "period"]),
}
_USAGE_KEY = (U.reward_id == bindparam("p_reward"), U.org_id == bindparam("p_org"), U.period == bindparam("p_period"))
_COUNT_USAGE = (
    update(USAGE)
    .where(*_USAGE_KEY, U.quantity + bindparam("p_quantity") <= bindparam("p_limit"))
    .values(quantity=U.quantity + bindparam("p_quantity"))
)
_UNCOUNT_USAGE = update(USAGE).where(*_USAGE_KEY).values(quantity=U.quantity - bindparam("p_quantity"))
_INSERT_REDEMPTION = insert(REDEMPTIONS)
_STEPS: dict[tuple[str, ...], Any] = {}


def _next_id(dialect: str) -> Any:
    """The id the new redemption will have, known before its row is written (the ledger's hold names it).
    PostgreSQL: the table's own sequence. SQLite: one more than the highest, as SQLite itself would pick; our
    write transaction (BEGIN IMMEDIATE) is the only writer, and if it was not, the primary key would refuse
    the row and the request would run again."""
    if dialect == "postgresql":
        return func.nextval(func.pg_get_serial_sequence(REDEMPTIONS.name, R.id.name))
    return select(func.coalesce(func.max(R.id), 0) + 1).scalar_subquery()


@functools.lru_cache(maxsize=1024)
def _request_lookup(principal: Principal, dialect: str) -> Select[Any]:
    """The reward in the principal's scope, the id of a redemption made earlier with the request key and the
    new redemption's id, in one statement (built once per principal). PostgreSQL key-share locks the reward
    row: an admin's edit of its kind, value or percent (refused once it has redemptions) takes FOR UPDATE and
    so waits for this redemption, while other redemptions and stock updates go on beside it (SQLite writers
    are serial)."""
    earlier = select(R.id).where(R.org_id == principal.org_id, R.request_key == bindparam("p_key")).scalar_subquery()
    return (
        select(*REWARDS.c, earlier.label("earlier"), _next_id(dialect).label("next_id"))
        .where(W.id == bindparam("p_reward"), visible_rewards(principal))
        .with_for_update(read=True, key_share=True, of=REWARDS)
    )


@functools.lru_cache(maxsize=1024)
def _decision_lookup(principal: Principal) -> Select[Any]:
    """A redemption in the principal's scope with its reward, its row locked until the transaction ends."""
    return (
        select(*REDEMPTIONS.c, *_REWARD_AS)
        .join(REWARDS, W.id == R.reward_id)
        .where(R.id == bindparam("p_id"), visible_redemptions(principal))
        .with_for_update(of=REDEMPTIONS)
    )


def _reward_of(row: Row[Any], prefix: str = "") -> Reward:
    return Reward(**{column.name: getattr(row, prefix + column.name) for column in REWARDS.c})


def _redemption_of(row: Row[Any]) -> Redemption:
    return Redemption(**{column.name: getattr(row, column.name) for column in REDEMPTIONS.c})


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
    reward = _reward_of(found)
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
        taken = await conn.execute(_TAKE_STOCK, {"p_id": reward.id, "p_quantity": quantity})
        if _rows(taken) != 1:
            raise OutOfStock()
    period = None
    if reward.limit_per_period is not None and reward.limit_period is not None:
        period = period_of(reward.limit_period, at)
        await _count_usage(conn, reward, principal.org_id, period, quantity)
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
        status=S.REQUESTED,
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
    redemption.status, redemption.decided_at = (S.APPROVED, at) if auto else (S.PENDING, None)
    # The points first, then the row, written once with the hold it has (a refusal of the hold leaves nothing).
    hold = await _hold_points(session, redemption, reward, at)
    redemption.hold_id = hold.id
    await _write_request(conn, redemption)
    if auto:
        await _post_and_fulfil(session, redemption, reward, at)
    return redemption


async def _write_request(conn: AsyncConnection, redemption: Redemption) -> None:
    """The request's row, with the points it holds."""
    await conn.execute(_INSERT_REDEMPTION, {column.name: getattr(redemption, column.name) for column in R})


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
    done, its_reward = _detach(session, existing[0], existing[1])
    await _advance(session, done, its_reward, at)  # finish what a crash left half-done
    return done


async def _twin_committed(session: AsyncSession, principal: Principal, request_key: str) -> bool:
    """Whether a redemption with the request key is there now (on PostgreSQL, committed by a twin meanwhile)."""
    earlier = select(R.id).where(R.org_id == principal.org_id, R.request_key == request_key)
    return await session.scalar(earlier) is not None


async def _count_usage(conn: AsyncConnection, reward: Reward, org_id: int, period: str, quantity: int) -> None:
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
    if _rows(counted) != 1:
        raise LimitReached(
            N_("You can redeem this reward at most %(limit)s times per period."),
            params={"limit": reward.limit_per_period},
        )


async def _give_back(session: AsyncSession, redemption: Redemption) -> None:
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


def _insufficient(exc: InsufficientPoints) -> InsufficientPoints:
    """The ledger's refusal, with the shortfall the redeemer needs to know."""
    available, points = int(exc.params.get("available", 0)), int(exc.params.get("points", 0))
    shortfall = max(points - available, 0)
    return InsufficientPoints(
        N_("%(shortfall)s more points are needed: %(available)s are available, %(points)s are needed."),
        params={"available": available, "points": points, "shortfall": shortfall},
        extra={"available": available, "points": points, "shortfall": shortfall},
    )


def _rows(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


# --- moving a redemption forward ---------------------------------------------------------------------------


async def finish_redemption(session: AsyncSession, redemption_id: int, *, now: dt.datetime | None = None) -> Redemption:
    """Carry a redemption as far as it can go without a decision. Safe to repeat (the reconcile sweep uses it).
    A request whose points are no longer there raises InsufficientPoints; its owner then marks it failed in a
    unit of work of its own (`fail_redemption`), after this one rolled back."""
    at = now or utcnow()
    redemption, reward = await _load(session, redemption_id)
    try:
        await _advance(session, redemption, reward, at)
    except InsufficientPoints as exc:
        raise _insufficient(exc) from exc
    return redemption


async def fail_redemption(session: AsyncSession, redemption_id: int) -> bool:
    """Mark a request failed whose points are no longer there (`finish_redemption` refused it) and give back the
    stock and limit it took. Whether it was still a request."""
    redemption, _reward = await _load(session, redemption_id)
    failed = await session.execute(
        update(Redemption)
        .where(Redemption.id == redemption.id, Redemption.status == S.REQUESTED)
        .values(status=S.FAILED)
        .execution_options(synchronize_session=False)
    )
    if not _rows(failed):
        return False
    await _give_back(session, redemption)
    return True


async def _advance(
    session: AsyncSession,
    redemption: Redemption,
    reward: Reward,
    at: dt.datetime,
    decision: dict[str, Any] | None = None,
) -> None:
    """The steps after a state change, in the caller's transaction, which holds the redemption's row:
    hold, then post and fulfil, or void. Ledger calls are keyed by the redemption id, so a step a crash
    interrupted (in an older, many-transaction version) is found again, never done twice.

    `decision`: a pending redemption's decision (status, decider, time, reason), written together with
    its consequence in one UPDATE that is conditional on the row still being pending.
    """
    if decision is not None:
        if decision["status"] == S.APPROVED:
            await _post_and_fulfil(session, redemption, reward, at, decision)
        else:
            await _void(session, redemption, reward, at, decision)
        return
    if redemption.status == S.REQUESTED:
        await _hold(session, redemption, reward, at)
    if redemption.status == S.APPROVED:
        await _post_and_fulfil(session, redemption, reward, at)
    elif redemption.status in (S.REJECTED, S.CANCELLED) and redemption.resolution_id is None:
        await _void(session, redemption, reward, at)


def _detach(session: AsyncSession, redemption: Redemption, reward: Reward) -> tuple[Redemption, Reward]:
    """Detached objects: the steps change them in memory as their UPDATEs succeed (no second UPDATE by the
    ORM at commit), and they stay readable after the session is gone."""
    session.expunge(redemption)
    session.expunge(reward)
    return redemption, reward


async def _load(session: AsyncSession, redemption_id: int) -> tuple[Redemption, Reward]:
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
    return _detach(session, row[0], row[1])


def _step_statement(names: tuple[str, ...]) -> Any:
    """UPDATE redemptions SET `names` WHERE id and status match, built once per set of names."""
    statement = _STEPS.get(names)
    if statement is None:
        statement = (
            update(REDEMPTIONS)
            .where(R.id == bindparam("p_id"), R.status == bindparam("p_was"))
            .values({name: bindparam(f"p_{name}", type_=R[name].type) for name in names})
        )
        _STEPS[names] = statement
    return statement


async def _step(
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
    changed = _rows(await conn.execute(_step_statement(tuple(values)), params))
    if changed == 1 and note is not None:
        await add_notification(session, note)
    if changed != 1:  # the caller holds the row: only a bug gets here, and it rolls everything back
        raise InvalidState(N_("This redemption was already decided and can no longer be changed."))
    for key, value in values.items():
        setattr(redemption, key, value)


async def _hold_points(
    session: AsyncSession, redemption: Redemption, reward: Reward, at: dt.datetime
) -> ledger.Transfer:
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


async def _hold(session: AsyncSession, redemption: Redemption, reward: Reward, at: dt.datetime) -> None:
    """Hold the points of a request whose row was written without them (by an older version, before a crash)."""
    hold = await _hold_points(session, redemption, reward, at)
    auto = reward.auto_approve_up_to is not None and redemption.points <= reward.auto_approve_up_to
    values = {
        "hold_id": hold.id,
        "status": S.APPROVED if auto else S.PENDING,
        "auto_approved": auto,
        "decided_at": at if auto else None,
    }
    await _step(session, redemption, S.REQUESTED, values)


_MDF_ALLOCATIONS = cast(Table, MdfAllocation.__table__)
_INSERT_ALLOCATION = insert(_MDF_ALLOCATIONS)


async def _post_and_fulfil(
    session: AsyncSession,
    redemption: Redemption,
    reward: Reward,
    at: dt.datetime,
    decision: dict[str, Any] | None = None,
) -> None:
    assert redemption.hold_id is not None
    post = await ledger.post_hold(
        session,
        program_id=redemption.program_id,
        hold_id=redemption.hold_id,
        key=f"redemption:{redemption.id}:post",
        cause=ledger.Cause(
            redemption_id=redemption.id,
            user_id=redemption.decided_by_id if decision is None else decision["decided_by_id"],
        ),
        now=at,
    )
    values: dict[str, Any] = {
        **(decision or {}),
        "status": S.FULFILLED,
        "resolution_id": post.id,
        "fulfilled_at": at,
    }
    if reward.kind == RewardKind.DISCOUNT:
        values["coupon_code"] = new_coupon_code()
    elif reward.kind == RewardKind.BONUS:
        values["bonus"] = reward.name_en[:200]
    note = notification_row(
        program_id=redemption.program_id,
        org_id=redemption.org_id,
        kind="redemption.approved",
        message=N_("Your redemption of %(reward)s (%(points)s points) was approved."),
        params=_params(redemption, reward),
        link="/redemptions",
    )
    await _step(session, redemption, S.APPROVED if decision is None else S.PENDING, values, note)
    if reward.kind == RewardKind.MDF:
        assert reward.value is not None
        amount = reward.value * redemption.quantity
        conn = await session.connection()
        await conn.execute(
            _INSERT_ALLOCATION,
            {
                "program_id": redemption.program_id,
                "org_id": redemption.org_id,
                "redemption_id": redemption.id,
                "amount": amount,
                "remaining": amount,
                "valid_until": at + MDF_VALIDITY,
                "created_at": at,
            },
        )


async def _void(
    session: AsyncSession,
    redemption: Redemption,
    reward: Reward,
    at: dt.datetime,
    decision: dict[str, Any] | None = None,
) -> None:
    assert redemption.hold_id is not None
    try:
        void = await ledger.void_hold(
            session,
            program_id=redemption.program_id,
            hold_id=redemption.hold_id,
            key=f"redemption:{redemption.id}:void",
            cause=ledger.Cause(
                redemption_id=redemption.id,
                user_id=redemption.decided_by_id if decision is None else decision["decided_by_id"],
            ),
            now=at,
        )
        resolution: int | None = void.id
    except InvalidState:  # voided by the hold time-out sweep already: the points are back either way
        resolved = await ledger_queries.resolution_of(session, redemption.hold_id)
        resolution = None if resolved is None else resolved.id
    status, reason = (
        (redemption.status, redemption.reason) if decision is None else (decision["status"], decision["reason"])
    )
    note = None
    if status == S.REJECTED:
        note = notification_row(
            program_id=redemption.program_id,
            org_id=redemption.org_id,
            kind="redemption.rejected",
            message=N_("Your redemption of %(reward)s (%(points)s points) was rejected: %(reason)s"),
            params={**_params(redemption, reward), "reason": reason or ""},
            link="/redemptions",
        )
    if decision is not None:
        await _step(session, redemption, S.PENDING, {**decision, "resolution_id": resolution}, note)
        return
    recorded = await session.execute(
        update(Redemption)
        .where(Redemption.id == redemption.id, Redemption.resolution_id.is_(None))
        .values(resolution_id=resolution)
        .execution_options(synchronize_session=False)
    )
    redemption.resolution_id = resolution
    if _rows(recorded) == 1 and note is not None:
        await add_notification(session, note)


def _params(redemption: Redemption, reward: Reward) -> dict[str, Any]:
    return {"reward": {"de": reward.name_de, "en": reward.name_en}, "points": {"points": redemption.points}}


# --- decisions -----------------------------------------------------------------------------------------------


async def approve_redemption(
    session: AsyncSession, principal: Principal, redemption_id: int, *, now: dt.datetime | None = None
) -> Redemption:
    """Approve a pending redemption: the decision, the posted points and the fulfilment in one transaction."""
    return await _decide(session, principal, redemption_id, S.APPROVED, now or utcnow(), deciders=DECIDERS)


async def reject_redemption(
    session: AsyncSession, principal: Principal, redemption_id: int, *, reason: str, now: dt.datetime | None = None
) -> Redemption:
    reason = reason.strip()
    if not reason:
        raise ValidationFailed([FieldError(("reason",), N_("This field is required."))])
    return await _decide(
        session, principal, redemption_id, S.REJECTED, now or utcnow(), deciders=DECIDERS, reason=reason[:500]
    )


async def cancel_redemption(
    session: AsyncSession, principal: Principal, redemption_id: int, *, now: dt.datetime | None = None
) -> Redemption:
    return await _decide(
        session, principal, redemption_id, S.CANCELLED, now or utcnow(), deciders=REDEEMERS, own_org=True
    )


async def _decide(
    session: AsyncSession,
    principal: Principal,
    redemption_id: int,
    to: RedemptionStatus,
    at: dt.datetime,
    *,
    deciders: frozenset[Any],
    own_org: bool = False,
    reason: str | None = None,
) -> Redemption:
    """pending → `to` and its consequences (post and fulfil, or void and give stock and limit back), in one
    transaction that holds the redemption's row from its first statement: of concurrent decisions exactly one
    wins, the rest get 409. The decision and its outcome are one UPDATE, conditional on the row being pending.
    Run it through `Database.run`: a coupon code collision (80 random bits) is retried there."""
    conn = await session.connection()
    row = (await conn.execute(_decision_lookup(principal), {"p_id": redemption_id})).first()
    if row is None:
        raise NotFound()
    redemption, reward = _redemption_of(row), _reward_of(row, "w_")
    if principal.role not in deciders or (own_org and redemption.org_id != principal.org_id):
        raise Forbidden()
    if not own_org and not principal.manages(redemption.program_id):
        raise Forbidden()
    if redemption.status != S.PENDING:
        raise InvalidState(
            N_("This redemption was already decided and can no longer be changed."),
            extra={"status": redemption.status},
        )
    decision = {"status": to, "decided_by_id": principal.user_id, "decided_at": at, "reason": reason}
    if to in (S.REJECTED, S.CANCELLED):
        await _give_back(session, redemption)
    await _advance(session, redemption, reward, at, decision)
    return redemption
