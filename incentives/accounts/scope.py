"""The one place that decides what a principal may see.

A manufacturer admin, partner manager or agency sees its program; a distributor manager sees its
own org and the resellers below it; reseller managers and reps see their own org. Everything
outside answers 404, so callers filter with these clauses instead of checking after loading.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, and_, false, or_, select

from incentives.accounts.models import Membership, Org, Program, User
from incentives.accounts.roles import PROGRAM_ROLES, Role


@dataclass(frozen=True)
class Principal:
    user_id: int
    org_id: int
    role: Role
    program_id: int | None

    @classmethod
    def of(cls, user: User) -> Principal:
        return cls(user_id=user.id, org_id=user.org_id, role=Role(user.role), program_id=user.program_id)

    @property
    def acts_for_program(self) -> bool:
        return self.role in PROGRAM_ROLES

    def administers(self, program_id: int) -> bool:
        return self.role is Role.ADMIN and self.program_id == program_id

    def manages(self, program_id: int) -> bool:
        return self.role in (Role.ADMIN, Role.PARTNER_MANAGER) and self.program_id == program_id


def visible_programs(principal: Principal) -> ColumnElement[bool]:
    """Programs the principal belongs to: its own, or those its org (or an org below it) is a member of."""
    if principal.acts_for_program:
        return Program.id == principal.program_id
    return Program.id.in_(select(Membership.program_id).where(Membership.org_id.in_(_partner_orgs(principal))))


def visible_orgs(principal: Principal) -> ColumnElement[bool]:
    """Orgs the principal may see (by `Org.id`)."""
    if principal.acts_for_program:
        program_id = principal.program_id
        return or_(
            Org.id.in_(select(Membership.org_id).where(Membership.program_id == program_id)),
            Org.registered_by_program_id == program_id,
            Org.id.in_(select(Program.manufacturer_id).where(Program.id == program_id)),
        )
    return Org.id.in_(_partner_orgs(principal))


def visible_memberships(principal: Principal) -> ColumnElement[bool]:
    if principal.acts_for_program:
        return Membership.program_id == principal.program_id
    return Membership.org_id.in_(_partner_orgs(principal))


def visible_users(principal: Principal) -> ColumnElement[bool]:
    """Program roles see the users of their program's orgs; partners see the users of their orgs."""
    if principal.role is Role.RESELLER_REP:
        return User.id == principal.user_id
    org_clause = User.org_id.in_(select(Org.id).where(visible_orgs(principal)))
    if principal.acts_for_program:
        # Another program's admins and partner managers sit in other manufacturer orgs; a shared
        # reseller's users are visible, a foreign program's staff never are.
        return and_(org_clause, or_(User.program_id.is_(None), User.program_id == principal.program_id))
    return org_clause


def _partner_orgs(principal: Principal) -> Select[int]:
    if principal.role is Role.DISTRIBUTOR_MANAGER:
        below = select(Membership.org_id).where(Membership.distributor_id == principal.org_id)
        return select(Org.id).where(or_(Org.id == principal.org_id, Org.id.in_(below)))
    if principal.role in (Role.RESELLER_MANAGER, Role.RESELLER_REP):
        return select(Org.id).where(Org.id == principal.org_id)
    return select(Org.id).where(false())
