"""Deciding a pending redemption (approve, reject, cancel) and carrying one forward without a decision (finish,
or fail when its points are gone), with what follows a state change: post and fulfil, or void.

A decision locks the redemption's row, then the ledger posts the hold and the fulfilment is written
(`fulfilled`), or the hold is voided and stock and limit are given back (`rejected` | `cancelled`): the decision
and its outcome are one UPDATE, conditional on the row being `pending`, so of concurrent decisions exactly one
wins. Ledger calls are keyed by the redemption id, so the reconcile sweep can finish rows an older,
many-transaction version left between steps (`requested`, `approved`, or decided without a resolution) without
moving points twice.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts.scope import Principal
from incentives.db import utcnow
from incentives.errors import N_, FieldError, Forbidden, InvalidState, NotFound, ValidationFailed
from incentives.ledger import queries as ledger_queries
from incentives.ledger import services as ledger
from incentives.ledger.errors import InsufficientPoints
from incentives.mail import outbox, preferences
from incentives.notifications.services import add_notification, notification_row
from incentives.rewards.coupons import new_coupon_code
from incentives.rewards.errors import with_shortfall
from incentives.rewards.limits import give_back
from incentives.rewards.models import MdfAllocation, Redemption, RedemptionStatus, Reward, RewardKind
from incentives.rewards.scope import DECIDERS, REDEEMERS, visible_redemptions
from incentives.rewards.workflow import (
    REDEMPTIONS,
    REWARDS,
    hold_points,
    load,
    redemption_of,
    reward_of,
    rowcount,
    step,
    tell_webhooks,
)

MDF_VALIDITY = dt.timedelta(days=365)
# The reward's columns beside the redemption's in one row, told apart by a prefix.
_REWARD_AS = [column.label(f"w_{column.name}") for column in REWARDS.c]
_INSERT_ALLOCATION = insert(cast(Table, MdfAllocation.__table__))

__all__ = [
    "approve_redemption",
    "cancel_redemption",
    "fail_redemption",
    "finish_redemption",
    "reject_redemption",
]


async def approve_redemption(
    session: AsyncSession, principal: Principal, redemption_id: int, *, now: dt.datetime | None = None
) -> Redemption:
    """Approve a pending redemption: the decision, the posted points and the fulfilment in one transaction."""
    return await _decide(
        session, principal, redemption_id, RedemptionStatus.APPROVED, now or utcnow(), deciders=DECIDERS
    )


async def reject_redemption(
    session: AsyncSession, principal: Principal, redemption_id: int, *, reason: str, now: dt.datetime | None = None
) -> Redemption:
    reason = reason.strip()
    if not reason:
        raise ValidationFailed([FieldError(("reason",), N_("This field is required."))])
    return await _decide(
        session,
        principal,
        redemption_id,
        RedemptionStatus.REJECTED,
        now or utcnow(),
        deciders=DECIDERS,
        reason=reason[:500],
    )


async def cancel_redemption(
    session: AsyncSession, principal: Principal, redemption_id: int, *, now: dt.datetime | None = None
) -> Redemption:
    return await _decide(
        session, principal, redemption_id, RedemptionStatus.CANCELLED, now or utcnow(), deciders=REDEEMERS, own_org=True
    )


@functools.lru_cache(maxsize=1024)
def _decision_lookup(principal: Principal) -> Select[Any]:
    """A redemption in the principal's scope with its reward, its row locked until the transaction ends."""
    return (
        select(*REDEMPTIONS.c, *_REWARD_AS)
        .join(REWARDS, REWARDS.c.id == REDEMPTIONS.c.reward_id)
        .where(REDEMPTIONS.c.id == bindparam("p_id"), visible_redemptions(principal))
        .with_for_update(of=REDEMPTIONS)
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
    redemption, reward = redemption_of(row), reward_of(row, "w_")
    if principal.role not in deciders or (own_org and redemption.org_id != principal.org_id):
        raise Forbidden()
    if not own_org and not principal.manages(redemption.program_id):
        raise Forbidden()
    if redemption.status != RedemptionStatus.PENDING:
        raise InvalidState(
            N_("This redemption was already decided and can no longer be changed."),
            extra={"redemption_status": redemption.status},
        )
    decision = {"status": to, "decided_by_id": principal.user_id, "decided_at": at, "reason": reason}
    if to in (RedemptionStatus.REJECTED, RedemptionStatus.CANCELLED):
        await give_back(session, redemption)
    await advance(session, redemption, reward, at, decision)
    return redemption


async def finish_redemption(session: AsyncSession, redemption_id: int, *, now: dt.datetime | None = None) -> Redemption:
    """Carry a redemption as far as it can go without a decision. Safe to repeat (the reconcile sweep uses it).
    A request whose points are no longer there raises InsufficientPoints; its owner then marks it failed in a
    unit of work of its own (`fail_redemption`), after this one rolled back."""
    at = now or utcnow()
    redemption, reward = await load(session, redemption_id)
    try:
        await advance(session, redemption, reward, at)
    except InsufficientPoints as exc:
        raise with_shortfall(exc) from exc
    return redemption


async def fail_redemption(session: AsyncSession, redemption_id: int) -> bool:
    """Mark a request failed whose points are no longer there (`finish_redemption` refused it) and give back the
    stock and limit it took. Whether it was still a request."""
    redemption, _reward = await load(session, redemption_id)
    failed = await session.execute(
        update(Redemption)
        .where(Redemption.id == redemption.id, Redemption.status == RedemptionStatus.REQUESTED)
        .values(status=RedemptionStatus.FAILED)
        .execution_options(synchronize_session=False)
    )
    if not rowcount(failed):
        return False
    await give_back(session, redemption)
    return True


async def advance(
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
        if decision["status"] == RedemptionStatus.APPROVED:
            await post_and_fulfil(session, redemption, reward, at, decision)
        else:
            await _void(session, redemption, reward, at, decision)
        return
    if redemption.status == RedemptionStatus.REQUESTED:
        await _hold(session, redemption, reward, at)
    if redemption.status == RedemptionStatus.APPROVED:
        await post_and_fulfil(session, redemption, reward, at)
    elif (
        redemption.status in (RedemptionStatus.REJECTED, RedemptionStatus.CANCELLED)
        and redemption.resolution_id is None
    ):
        await _void(session, redemption, reward, at)


async def _hold(session: AsyncSession, redemption: Redemption, reward: Reward, at: dt.datetime) -> None:
    """Hold the points of a request whose row was written without them (by an older version, before a crash)."""
    hold = await hold_points(session, redemption, reward, at)
    auto = reward.auto_approve_up_to is not None and redemption.points <= reward.auto_approve_up_to
    values = {
        "hold_id": hold.id,
        "status": RedemptionStatus.APPROVED if auto else RedemptionStatus.PENDING,
        "auto_approved": auto,
        "decided_at": at if auto else None,
    }
    await step(session, redemption, RedemptionStatus.REQUESTED, values)


async def post_and_fulfil(
    session: AsyncSession,
    redemption: Redemption,
    reward: Reward,
    at: dt.datetime,
    decision: dict[str, Any] | None = None,
) -> None:
    """Post the held points and write the fulfilment (coupon code, bonus or MDF allocation); with `decision`,
    the approval goes into the same UPDATE."""
    assert redemption.hold_id is not None
    post = await ledger.post_hold(
        session,
        program_id=redemption.program_id,
        hold_id=redemption.hold_id,
        key=f"redemption:{redemption.id}:post",
        cause=_decided(redemption, decision),
        now=at,
    )
    values: dict[str, Any] = {
        **(decision or {}),
        "status": RedemptionStatus.FULFILLED,
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
    was = RedemptionStatus.APPROVED if decision is None else RedemptionStatus.PENDING
    await step(session, redemption, was, values, note)
    await _mail_decision(session, redemption, reward, approved=True, reason=None)
    await tell_webhooks(session, redemption, reward, "redemption.approved", at)
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


def _decided(redemption: Redemption, decision: dict[str, Any] | None) -> ledger.Cause:
    """The cause of a hold's resolution: the redemption, and who decided it (now, or earlier)."""
    decider = redemption.decided_by_id if decision is None else decision["decided_by_id"]
    return ledger.Cause(redemption_id=redemption.id, user_id=decider)


async def _void(
    session: AsyncSession,
    redemption: Redemption,
    reward: Reward,
    at: dt.datetime,
    decision: dict[str, Any] | None = None,
) -> None:
    """Give the held points back and record the void as the redemption's resolution; with `decision`, the
    rejection or cancellation goes into the same UPDATE."""
    assert redemption.hold_id is not None
    try:
        void = await ledger.void_hold(
            session,
            program_id=redemption.program_id,
            hold_id=redemption.hold_id,
            key=f"redemption:{redemption.id}:void",
            cause=_decided(redemption, decision),
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
    if status == RedemptionStatus.REJECTED:
        note = notification_row(
            program_id=redemption.program_id,
            org_id=redemption.org_id,
            kind="redemption.rejected",
            message=N_("Your redemption of %(reward)s (%(points)s points) was rejected: %(reason)s"),
            params={**_params(redemption, reward), "reason": reason or ""},
            link="/redemptions",
        )
    if decision is not None:
        await step(session, redemption, RedemptionStatus.PENDING, {**decision, "resolution_id": resolution}, note)
        if status == RedemptionStatus.REJECTED:
            await _mail_decision(session, redemption, reward, approved=False, reason=reason)
            await tell_webhooks(session, redemption, reward, "redemption.rejected", at)
        return
    recorded = await session.execute(
        update(Redemption)
        .where(Redemption.id == redemption.id, Redemption.resolution_id.is_(None))
        .values(resolution_id=resolution)
        .execution_options(synchronize_session=False)
    )
    redemption.resolution_id = resolution
    if rowcount(recorded) == 1 and note is not None:
        await add_notification(session, note)
        await _mail_decision(session, redemption, reward, approved=False, reason=reason)
        await tell_webhooks(session, redemption, reward, "redemption.rejected", at)


async def _mail_decision(
    session: AsyncSession, redemption: Redemption, reward: Reward, *, approved: bool, reason: str | None
) -> None:
    """E-mail the decision to the user who redeemed, next to the org's in-app notice (once per redemption)."""
    if not await preferences.user_wants(session, redemption.requested_by_id, "redemption_decided"):
        return
    await outbox.queue(
        session,
        user_id=redemption.requested_by_id,
        kind="redemption_decided",
        key=f"redemption:{redemption.id}",
        template="redemption_decided",
        context={
            "approved": approved,
            "reward": {"de": reward.name_de, "en": reward.name_en},
            "points": redemption.points,
            "reason": reason,
        },
    )


def _params(redemption: Redemption, reward: Reward) -> dict[str, Any]:
    return {"reward": {"de": reward.name_de, "en": reward.name_en}, "points": {"points": redemption.points}}
