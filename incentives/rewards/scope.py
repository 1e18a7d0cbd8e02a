"""Which rewards, redemptions, allocations and claims a principal may see, built from the accounts scope clauses."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, select
from sqlalchemy.orm import InstrumentedAttribute

from incentives.accounts.models import Org, Program
from incentives.accounts.roles import Role
from incentives.accounts.scope import Principal, visible_orgs, visible_programs
from incentives.rewards.models import MdfAllocation, MdfClaim, Redemption, Reward

# Agencies qualify leads; they have nothing to do with rewards.
_NO_REWARDS = frozenset({Role.AGENCY})
# Who may redeem, cancel and claim for their org, and who decides.
REDEEMERS = frozenset({Role.RESELLER_MANAGER})
DECIDERS = frozenset({Role.ADMIN, Role.PARTNER_MANAGER})


def visible_rewards(principal: Principal) -> ColumnElement[bool]:
    if principal.role in _NO_REWARDS:
        return false()
    return Reward.program_id.in_(select(Program.id).where(visible_programs(principal)))


def _owned(
    principal: Principal, program_id: InstrumentedAttribute[int], org_id: InstrumentedAttribute[int]
) -> ColumnElement[bool]:
    if principal.role in _NO_REWARDS:
        return false()
    return and_(
        program_id.in_(select(Program.id).where(visible_programs(principal))),
        org_id.in_(select(Org.id).where(visible_orgs(principal))),
    )


def visible_redemptions(principal: Principal) -> ColumnElement[bool]:
    return _owned(principal, Redemption.program_id, Redemption.org_id)


def visible_allocations(principal: Principal) -> ColumnElement[bool]:
    return _owned(principal, MdfAllocation.program_id, MdfAllocation.org_id)


def visible_claims(principal: Principal) -> ColumnElement[bool]:
    return _owned(principal, MdfClaim.program_id, MdfClaim.org_id)
