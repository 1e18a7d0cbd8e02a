"""Who competes on a board (program, a tier's league, a region, a distributor's resellers, a reseller's reps), and
which boards a principal may see: a partner sees the boards it belongs to, anything else answers 404."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, String, cast, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts.models import Membership, Program
from incentives.accounts.roles import Role
from incentives.accounts.scope import Principal, visible_programs
from incentives.errors import N_, FieldError, NotFound, ValidationFailed

TIERS = ("platinum", "gold", "silver", "registered")


@dataclass(frozen=True)
class Scope:
    kind: str  # program | tier | region | distributor | reps
    value: str = ""

    @property
    def name(self) -> str:
        return self.kind if self.kind == "program" else f"{self.kind}:{self.value}"

    @property
    def of_reps(self) -> bool:
        return self.kind == "reps"

    def members(self) -> ColumnElement[bool]:
        """Memberships on this board (for reps: the reseller's own membership)."""
        if self.kind == "tier":
            return Membership.tier == self.value
        if self.kind == "region":
            # Regions are a JSON list; its text holds each as a quoted string on both databases.
            return cast(Membership.regions, String).like(f'%"{self.value}"%')
        if self.kind == "distributor":
            return Membership.distributor_id == int(self.value)
        if self.kind == "reps":
            return Membership.org_id == int(self.value)
        return true()


def _invalid() -> ValidationFailed:
    return ValidationFailed(
        [
            FieldError(
                ("query", "scope"),
                N_("Must be one of: %(expected)s."),
                expected="program, tier:{tier}, region:{region}, distributor:{id}, reps:{org_id}",
            )
        ]
    )


def parse(value: str | None) -> Scope:
    value = value or "program"
    if value == "program":
        return Scope("program")
    kind, _, rest = value.partition(":")
    if kind == "tier" and rest in TIERS:
        return Scope(kind, rest)
    if kind == "region" and 2 <= len(rest) <= 12 and all(c.isalnum() or c == "-" for c in rest):
        return Scope(kind, rest.upper())
    if kind in ("distributor", "reps") and rest.isascii() and rest.isdigit() and len(rest) <= 9:
        return Scope(kind, str(int(rest)))
    raise _invalid()


async def allowed(session: AsyncSession, principal: Principal, program_id: int, scope: Scope) -> None:
    """Raise NotFound unless the principal may see the program's board of `scope`."""
    if principal.acts_for_program:
        if principal.program_id != program_id:
            raise NotFound()
        return
    orgs = [principal.org_id]
    if principal.role is Role.DISTRIBUTOR_MANAGER:
        below = await session.scalars(
            select(Membership.org_id).where(
                Membership.program_id == program_id, Membership.distributor_id == principal.org_id
            )
        )
        orgs += list(below)
    # The board must hold the principal's org or (distributor) one of its resellers; a distributor's own board
    # holds its resellers, so one of them must be in the program. Either way the program is one it sees.
    own_board = scope.kind == "distributor" and scope.value == str(principal.org_id)
    on_board = Membership.program_id == program_id, Membership.org_id.in_(orgs)
    mine = await session.scalar(select(Membership.id).where(*on_board, *([] if own_board else [scope.members()])))
    if mine is None:
        raise NotFound()


async def visible_board(session: AsyncSession, principal: Principal, program_id: int | None, scope: Scope) -> int:
    """The program whose board of `scope` is asked for (see `board_program`), once the principal may see that
    board (else NotFound). A partner naming the program needs one statement: `allowed` proves it a member."""
    if program_id is None or principal.acts_for_program:
        program_id = await board_program(session, principal, program_id)
    await allowed(session, principal, program_id, scope)
    return program_id


def me_on(principal: Principal, scope: Scope) -> int | None:
    """Whose row the principal's board pins: its org's (partners), its own on a reps board, none for managers."""
    if principal.role in (Role.RESELLER_MANAGER, Role.RESELLER_REP):
        return principal.user_id if scope.of_reps else principal.org_id
    return None


async def board_program(session: AsyncSession, principal: Principal, program_id: int | None) -> int:
    """The program whose boards are asked for: the given one if the principal sees it, else the principal's own
    (program roles) or its org's only program; anything else is 404, or 422 when the choice is ambiguous."""
    if principal.acts_for_program:
        if program_id is not None and program_id != principal.program_id:
            raise NotFound()
        assert principal.program_id is not None
        return principal.program_id
    programs = list(await session.scalars(select(Program.id).where(visible_programs(principal)).order_by(Program.id)))
    if program_id is not None:
        if program_id not in programs:
            raise NotFound()
        return program_id
    if len(programs) == 1:
        return programs[0]
    if not programs:
        raise NotFound()
    raise ValidationFailed([FieldError(("query", "program_id"), N_("This field is required."))])


async def scopes_for(session: AsyncSession, principal: Principal, program_id: int) -> list[Scope]:
    """The boards a principal can choose between on the page: a program role every league; a partner its own
    league, regions, distributor and team; a distributor its resellers."""
    if principal.acts_for_program:
        return [Scope("program"), *(Scope("tier", tier) for tier in TIERS)]
    if principal.role is Role.DISTRIBUTOR_MANAGER:
        return [Scope("program"), Scope("distributor", str(principal.org_id))]
    membership = (
        await session.execute(
            select(Membership.tier, Membership.regions, Membership.distributor_id).where(
                Membership.program_id == program_id, Membership.org_id == principal.org_id
            )
        )
    ).first()
    if membership is None:
        return [Scope("program")]
    tier, regions, distributor = membership
    found = [Scope("program"), Scope("tier", tier), *(Scope("region", region) for region in (regions or [])[:3])]
    if distributor is not None:
        found.append(Scope("distributor", str(distributor)))
    return [*found, Scope("reps", str(principal.org_id))]
