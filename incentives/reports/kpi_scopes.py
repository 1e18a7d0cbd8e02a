"""Whose KPIs: the program, a tier, a region, a distributor's resellers, one partner or one of a reseller's reps,
and who may ask for which. A scope outside the caller's answers 404, like every other object of someone else's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, and_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts.models import Membership, Org, User
from incentives.accounts.roles import Role
from incentives.accounts.scope import Principal
from incentives.errors import N_, FieldError, NotFound, ValidationFailed
from incentives.leaderboard.scopes import TIERS
from incentives.leaderboard.scopes import Scope as BoardScope

MAX_PERIOD = dt.timedelta(days=3 * 366)  # "longer than 3 years" is refused; leap days are not the caller's fault
MANAGERS = frozenset({Role.ADMIN, Role.PARTNER_MANAGER})


@dataclass(frozen=True)
class KpiScope:
    kind: str  # program | tier | region | distributor | partner | rep
    value: str = ""

    @property
    def name(self) -> str:
        return self.kind if self.kind == "program" else f"{self.kind}:{self.value}"

    @property
    def id(self) -> int:
        return int(self.value)

    @property
    def of_partners(self) -> bool:
        """Scopes that are a set of partner orgs (everything but the whole program and a single rep)."""
        return self.kind in ("tier", "region", "distributor", "partner")

    def members(self) -> ColumnElement[bool]:
        """The program's memberships inside this scope (a rep's: its reseller's)."""
        if self.kind in ("tier", "region", "distributor"):
            return BoardScope(self.kind, self.value).members()
        if self.kind == "partner":
            return Membership.org_id == self.id
        return true()


def orgs_in(program_id: int, scope: KpiScope) -> Select[int]:
    """The ids of the program's partner orgs in the scope (a rep's scope: none; its reservations say the rep)."""
    return select(Membership.org_id).where(Membership.program_id == program_id, scope.members())


def reseller_members(program_id: int, scope: KpiScope) -> Select[int]:
    """The program's reseller orgs in the scope: the partners a mean per partner divides by."""
    return (
        select(Membership.org_id)
        .join(Org, Org.id == Membership.org_id)
        .where(Membership.program_id == program_id, Org.kind == "reseller", scope.members())
    )


def _invalid() -> ValidationFailed:
    return ValidationFailed(
        [
            FieldError(
                ("query", "scope"),
                N_("Must be one of: %(expected)s."),
                expected="program, tier:{tier}, region:{region}, distributor:{id}, partner:{org_id}, rep:{user_id}",
            )
        ]
    )


def parse_scope(value: str | None, org_id: int | None = None) -> KpiScope | None:
    """`?scope=` (and `?org_id=`, a partner's scope); None when neither is given (the caller's default)."""
    if not value:
        return None if org_id is None else KpiScope("partner", str(org_id))
    if org_id is not None:
        raise ValidationFailed([FieldError(("query", "org_id"), N_("Give either org_id or scope, not both."))])
    if value == "program":
        return KpiScope("program")
    kind, _, rest = value.partition(":")
    if kind == "tier" and rest in TIERS:
        return KpiScope(kind, rest)
    if kind == "region" and 2 <= len(rest) <= 12 and all(c.isascii() and (c.isalnum() or c == "-") for c in rest):
        return KpiScope(kind, rest.upper())
    if kind == "reps":  # the leaderboard's name for a reseller's team: its figures are the reseller's
        kind = "partner"
    if kind in ("distributor", "partner", "rep") and rest.isascii() and rest.isdigit() and len(rest) <= 9:
        return KpiScope(kind, str(int(rest)))
    raise _invalid()


def default_scope(principal: Principal) -> KpiScope:
    if principal.acts_for_program:
        return KpiScope("program")
    if principal.role is Role.DISTRIBUTOR_MANAGER:
        return KpiScope("distributor", str(principal.org_id))
    if principal.role is Role.RESELLER_REP:
        return KpiScope("rep", str(principal.user_id))
    return KpiScope("partner", str(principal.org_id))


def may_see_kpis(principal: Principal) -> bool:
    return principal.role in MANAGERS or not principal.acts_for_program


async def check_scope(session: AsyncSession, principal: Principal, program_id: int, scope: KpiScope) -> None:
    """Raise NotFound unless the principal may see the scope's figures in the program.

    Managers and admins see every scope of their program; a distributor manager its own resellers (together or
    one by one); a reseller manager its org and its reps; a rep its org and itself. The program must be one the
    caller's org is a member of (or, for a distributor, one its resellers are in).
    """
    if principal.acts_for_program:
        if principal.role not in MANAGERS or principal.program_id != program_id:
            raise NotFound()
        if scope.kind in ("partner", "distributor") and await _member(session, program_id, scope.id) is None:
            raise NotFound()
        if scope.kind == "rep" and await _rep_org(session, program_id, scope.id) is None:
            raise NotFound()
        return
    own = principal.org_id
    if principal.role is Role.DISTRIBUTOR_MANAGER:
        below = select(Membership.org_id).where(Membership.program_id == program_id, Membership.distributor_id == own)
        if scope.kind == "distributor" and scope.id == own:
            found = await session.scalar(below.limit(1))
        elif scope.kind == "partner":
            found = await session.scalar(below.where(Membership.org_id == scope.id))
        else:
            found = None
        if found is None:
            raise NotFound()
        return
    if await _member(session, program_id, own) is None:
        raise NotFound()
    if scope.kind == "partner" and scope.id == own:
        return
    if scope.kind == "rep" and (
        scope.id == principal.user_id
        or (principal.role is Role.RESELLER_MANAGER and await _rep_org(session, program_id, scope.id) == own)
    ):
        return
    raise NotFound()


async def _member(session: AsyncSession, program_id: int, org_id: int) -> int | None:
    return await session.scalar(
        select(Membership.id).where(Membership.program_id == program_id, Membership.org_id == org_id)
    )


async def _rep_org(session: AsyncSession, program_id: int, user_id: int) -> int | None:
    """The org of a partner user whose org is a member of the program."""
    return await session.scalar(
        select(User.org_id).where(
            User.id == user_id,
            User.program_id.is_(None),
            User.org_id.in_(select(Membership.org_id).where(Membership.program_id == program_id)),
        )
    )


async def reps_of(session: AsyncSession, org_id: int) -> list[tuple[int, str]]:
    """(user id, name) of a reseller's users, by name."""
    rows = await session.execute(
        select(User.id, User.name).where(and_(User.org_id == org_id, User.program_id.is_(None))).order_by(User.name)
    )
    return [(user_id, name) for user_id, name in rows.all()]


async def rep_org(session: AsyncSession, program_id: int, user_id: int) -> int:
    org_id = await _rep_org(session, program_id, user_id)
    if org_id is None:
        raise NotFound()
    return org_id


def check_period(start: dt.datetime, end: dt.datetime) -> None:
    """A reversed period or one longer than 3 years is a 422 naming `from`."""
    if end <= start:
        raise ValidationFailed([FieldError(("query", "from"), N_("Must be before the end of the period."))])
    if end - start > MAX_PERIOD:
        raise ValidationFailed([FieldError(("query", "from"), N_("The period may be at most 3 years long."))])
