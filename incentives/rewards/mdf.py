"""MDF allocations and claims: a partner claims against its allocation with a proof file; a manager decides.

A submitted claim reserves its amount at once (a conditional UPDATE on `remaining`), so concurrent
claims can never take an allocation below zero; a rejected claim gives the amount back.

Proof files are kept in the database, not on disk: every web process and worker sees them without a
shared volume, they are written in the same transaction as the claim (no orphan files, no claim
without its proof), and backups cover them. The size limit keeps this cheap.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from incentives.accounts.scope import Principal
from incentives.db import utcnow
from incentives.errors import N_, FieldError, Forbidden, InvalidState, NotFound, ValidationFailed
from incentives.notifications.services import notify
from incentives.rewards.models import ClaimStatus, MdfAllocation, MdfClaim
from incentives.rewards.scope import DECIDERS, REDEEMERS, visible_allocations, visible_claims

# Below the app's request body limit (1 MB by default), with room for the form's other fields.
MAX_PROOF_BYTES = 900_000
# Allowed proof types, recognised by their first bytes, not by the name or the browser's word.
PROOF_TYPES = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
}
MAX_AMOUNT = Decimal("10000000")


def parse_amount(raw: str | Decimal, field: str = "amount") -> Decimal:
    """A positive EUR amount with at most two decimals ("1234.50" or "1234,50")."""
    try:
        amount = raw if isinstance(raw, Decimal) else Decimal(str(raw).strip().replace(",", "."))
    except InvalidOperation as exc:
        raise ValidationFailed([FieldError((field,), N_("Must be an amount such as 1250.00."))]) from exc
    if not amount.is_finite() or amount <= 0 or amount > MAX_AMOUNT or amount != amount.quantize(Decimal("0.01")):
        raise ValidationFailed([FieldError((field,), N_("Must be an amount such as 1250.00."))])
    return amount.quantize(Decimal("0.01"))


def proof_type(content: bytes) -> str:
    if not content:
        raise ValidationFailed([FieldError(("proof",), N_("Please attach a proof (PDF, PNG or JPEG)."))])
    if len(content) > MAX_PROOF_BYTES:
        raise ValidationFailed(
            [FieldError(("proof",), N_("The file is too large (at most %(max)s KB)."), max=MAX_PROOF_BYTES // 1000)]
        )
    for media_type, magics in PROOF_TYPES.items():
        if content.startswith(magics):
            return media_type
    raise ValidationFailed([FieldError(("proof",), N_("Only PDF, PNG or JPEG files are accepted."))])


async def list_allocations(
    session: AsyncSession, principal: Principal, *, program_id: int | None = None, org_id: int | None = None
) -> list[MdfAllocation]:
    statement = select(MdfAllocation).where(visible_allocations(principal)).order_by(MdfAllocation.id.desc())
    if program_id is not None:
        statement = statement.where(MdfAllocation.program_id == program_id)
    if org_id is not None:
        statement = statement.where(MdfAllocation.org_id == org_id)
    return list(await session.scalars(statement))


async def list_claims(
    session: AsyncSession, principal: Principal, *, status: str | None = None, program_id: int | None = None
) -> list[MdfClaim]:
    statement = select(MdfClaim).where(visible_claims(principal)).order_by(MdfClaim.id.desc())
    if status is not None:
        statement = statement.where(MdfClaim.status == status)
    if program_id is not None:
        statement = statement.where(MdfClaim.program_id == program_id)
    return list(await session.scalars(statement.limit(200)))


async def file_claim(
    session: AsyncSession,
    principal: Principal,
    *,
    allocation_id: int,
    activity: str,
    amount: str | Decimal,
    proof_name: str,
    proof: bytes,
    now: dt.datetime | None = None,
) -> MdfClaim:
    at = now or utcnow()
    activity = activity.strip()
    errors = []
    if not activity:
        errors.append(FieldError(("activity",), N_("This field is required.")))
    elif len(activity) > 500:
        errors.append(FieldError(("activity",), N_("Must be at most %(max_length)s characters long."), max_length=500))
    if errors:
        raise ValidationFailed(errors)
    value = parse_amount(amount)
    media_type = proof_type(proof)
    allocation = await session.scalar(
        select(MdfAllocation).where(MdfAllocation.id == allocation_id, visible_allocations(principal))
    )
    if allocation is None:
        raise NotFound()
    if principal.role not in REDEEMERS or allocation.org_id != principal.org_id:
        raise Forbidden()
    if allocation.valid_until <= at:
        raise InvalidState(N_("This MDF budget has expired."))
    taken = await session.execute(
        update(MdfAllocation)
        .where(MdfAllocation.id == allocation_id, MdfAllocation.remaining >= value)
        .values(remaining=MdfAllocation.remaining - value)
        .execution_options(synchronize_session=False)
    )
    if int(getattr(taken, "rowcount", 0) or 0) != 1:
        remaining = await session.scalar(select(MdfAllocation.remaining).where(MdfAllocation.id == allocation_id))
        raise ValidationFailed(
            [
                FieldError(
                    ("amount",),
                    N_("The claim is above the remaining MDF budget (%(remaining)s EUR)."),
                    remaining=f"{remaining:.2f}",
                )
            ]
        )
    claim = MdfClaim(
        program_id=allocation.program_id,
        org_id=allocation.org_id,
        allocation_id=allocation.id,
        submitted_by_id=principal.user_id,
        activity=activity,
        amount=value,
        status=ClaimStatus.SUBMITTED,
        proof_name=(proof_name or "proof")[-200:],
        proof_type=media_type,
        proof_size=len(proof),
        proof=proof,
        created_at=at,
    )
    session.add(claim)
    return claim


async def decide_claim(
    session: AsyncSession,
    principal: Principal,
    claim_id: int,
    *,
    approve: bool,
    reason: str | None = None,
    now: dt.datetime | None = None,
) -> MdfClaim:
    at = now or utcnow()
    reason = (reason or "").strip()[:500] or None
    if not approve and reason is None:
        raise ValidationFailed([FieldError(("reason",), N_("This field is required."))])
    claim = await session.scalar(select(MdfClaim).where(MdfClaim.id == claim_id, visible_claims(principal)))
    if claim is None:
        raise NotFound()
    if principal.role not in DECIDERS or not principal.manages(claim.program_id):
        raise Forbidden()
    status = ClaimStatus.APPROVED if approve else ClaimStatus.REJECTED
    decided = await session.execute(
        update(MdfClaim)
        .where(MdfClaim.id == claim_id, MdfClaim.status == ClaimStatus.SUBMITTED)
        .values(status=status, decided_by_id=principal.user_id, decided_at=at, reason=reason)
        .execution_options(synchronize_session=False)
    )
    if int(getattr(decided, "rowcount", 0) or 0) != 1:
        raise InvalidState()
    if not approve:
        await session.execute(
            update(MdfAllocation)
            .where(MdfAllocation.id == claim.allocation_id)
            .values(remaining=MdfAllocation.remaining + claim.amount)
            .execution_options(synchronize_session=False)
        )
    params = {"activity": claim.activity, "amount": {"amount": f"{claim.amount:.2f}", "currency": "EUR"}}
    if approve:
        message = N_("Your MDF claim %(activity)s over %(amount)s was approved.")
    else:
        message = N_("Your MDF claim %(activity)s over %(amount)s was rejected: %(reason)s")
        params["reason"] = reason or ""
    await notify(
        session,
        program_id=claim.program_id,
        org_id=claim.org_id,
        kind="claim.approved" if approve else "claim.rejected",
        message=message,
        params=params,
        link="/rewards/mdf",
    )
    await session.refresh(claim)
    return claim


async def get_proof(session: AsyncSession, principal: Principal, claim_id: int) -> MdfClaim:
    claim = await session.scalar(
        select(MdfClaim).options(undefer(MdfClaim.proof)).where(MdfClaim.id == claim_id, visible_claims(principal))
    )
    if claim is None:
        raise NotFound()
    return claim
