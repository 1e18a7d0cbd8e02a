"""Account services: programs, orgs, memberships, users, login, and issuing API tokens (accounts/token_check.py
checks them).

Each function takes an AsyncSession and joins the caller's unit of work (`db.transaction()`); none begins or commits.
"""

from __future__ import annotations

import datetime as dt
import math
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from incentives import live
from incentives.accounts import throttle
from incentives.accounts.models import ApiToken, Membership, Org, Program, User
from incentives.accounts.passwords import MIN_PASSWORD_LENGTH, hash_password, verify_password
from incentives.accounts.roles import ORG_KIND_OF_ROLE, PROGRAM_ROLES, OrgKind, Role
from incentives.accounts.scope import Principal, visible_memberships, visible_orgs, visible_programs, visible_users
from incentives.accounts.token_check import TOKEN_PREFIX, hash_token
from incentives.db import utcnow
from incentives.errors import N_, Duplicate, FieldError, Forbidden, NotFound, RateLimited, ValidationFailed

PROGRAM_SETTINGS = (
    "escalation_hours",
    "offer_wave_size",
    "max_waves",
    "feedback_due_hours",
    "max_overdue_leads",
    "points_expiry_months",
    "default_locale",
    "levels",
    "matching_weights",
    "capacity_mode",
    "qualification_checklist",
    "product_lines",
    "industries",
)


@dataclass(frozen=True)
class Bootstrap:
    program_id: int
    user_id: int
    token: str


def normalize_email(email: str) -> str:
    return email.strip().lower()


# --- programs -------------------------------------------------------------------------------------


async def bootstrap_program(
    session: AsyncSession,
    *,
    program: str,
    email: str,
    name: str | None = None,
    password: str | None = None,
    manufacturer: str | None = None,
) -> Bootstrap:
    """A new program with its manufacturer org and a first admin holding an API token."""
    if await session.scalar(select(Program.id).where(Program.name == program)) is not None:
        raise Duplicate(N_("A program with this name already exists."))
    manufacturer_org = Org(name=manufacturer or program, kind=OrgKind.MANUFACTURER, country="DE")
    session.add(manufacturer_org)
    await session.flush()
    prog = Program(name=program, manufacturer_id=manufacturer_org.id)
    session.add(prog)
    await session.flush()
    manufacturer_org.registered_by_program_id = prog.id
    user = await _new_user(
        session,
        email=email,
        name=name or email.split("@")[0],
        org=manufacturer_org,
        role=Role.ADMIN,
        program_id=prog.id,
        locale=None,
        password=password,
    )
    token = await _new_token(session, user.id, created_by_id=user.id)
    return Bootstrap(program_id=prog.id, user_id=user.id, token=token)


async def get_program(session: AsyncSession, principal: Principal, program_id: int) -> Program:
    program = await session.scalar(select(Program).where(Program.id == program_id, visible_programs(principal)))
    if program is None:
        raise NotFound()
    return program


async def update_program_settings(
    session: AsyncSession, principal: Principal, program_id: int, changes: dict[str, Any]
) -> Program:
    program = await get_program(session, principal, program_id)
    if not principal.administers(program_id):
        raise Forbidden()
    for key, value in changes.items():
        if key not in PROGRAM_SETTINGS:
            raise ValidationFailed([FieldError((key,), N_("Unknown setting."))])
        if key == "matching_weights":  # the parts given change; the others keep their weight
            value = {**(program.matching_weights or {}), **value}
        setattr(program, key, value)
    live.pick_lists_changed(session, program_id)
    return program


# --- orgs and memberships ---------------------------------------------------------------------------


async def create_org(
    session: AsyncSession,
    principal: Principal,
    *,
    name: str,
    kind: str,
    country: str,
    city: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
) -> Org:
    _require_admin(principal)
    org = Org(
        name=name,
        kind=kind,
        country=country.upper(),
        city=city,
        lat=lat,
        lon=lon,
        registered_by_program_id=principal.program_id,
    )
    session.add(org)
    return org


async def get_org(session: AsyncSession, principal: Principal, org_id: int) -> Org:
    org = await session.scalar(select(Org).where(Org.id == org_id, visible_orgs(principal)))
    if org is None:
        raise NotFound()
    return org


async def create_membership(
    session: AsyncSession,
    principal: Principal,
    *,
    program_id: int,
    org_id: int,
    tier: str,
    competencies: list[str],
    certifications: list[str],
    regions: list[str],
    capacity: int | None = None,
    distributor_id: int | None = None,
) -> Membership:
    await get_program(session, principal, program_id)
    if not principal.administers(program_id):
        raise Forbidden()
    org = await _visible_org_or_field_error(session, principal, org_id, "org_id", ENROL_BY_INVITATION)
    if org.kind not in (OrgKind.RESELLER, OrgKind.DISTRIBUTOR):
        raise ValidationFailed([FieldError(("org_id",), N_("Only resellers and distributors can be members."))])
    if distributor_id is not None:
        await check_distributor(session, principal, program_id=program_id, distributor_id=distributor_id, org_id=org_id)
    return await enrol(
        session,
        program_id=program_id,
        org_id=org_id,
        tier=tier,
        competencies=competencies,
        certifications=certifications,
        regions=regions,
        capacity=capacity,
        distributor_id=distributor_id,
    )


NOT_A_MEMBER_DISTRIBUTOR = N_("Must be a distributor that is a member of this program.")


async def check_distributor(
    session: AsyncSession, principal: Principal, *, program_id: int, distributor_id: int, org_id: int | None = None
) -> None:
    """A 422 on `distributor_id` unless it is a distributor the principal sees that is a member of the program
    (and not `org_id` itself, the org it is to serve)."""
    if distributor_id == org_id:
        raise ValidationFailed([FieldError(("distributor_id",), NOT_A_MEMBER_DISTRIBUTOR)])
    distributor = await _visible_org_or_field_error(session, principal, distributor_id, "distributor_id")
    is_member = await session.scalar(
        select(Membership.id).where(Membership.program_id == program_id, Membership.org_id == distributor_id)
    )
    if distributor.kind != OrgKind.DISTRIBUTOR or is_member is None:
        raise ValidationFailed([FieldError(("distributor_id",), NOT_A_MEMBER_DISTRIBUTOR)])


async def enrol(
    session: AsyncSession,
    *,
    program_id: int,
    org_id: int,
    tier: str,
    competencies: list[str],
    certifications: list[str],
    regions: list[str],
    capacity: int | None = None,
    distributor_id: int | None = None,
) -> Membership:
    """The membership itself, for a caller that checked who may enrol whom (create_membership, an accepted
    invitation); Duplicate when the org is a member already."""
    membership = Membership(
        program_id=program_id,
        org_id=org_id,
        tier=tier,
        competencies=sorted(set(competencies)),
        certifications=sorted(set(certifications)),
        regions=sorted(set(regions)),
        capacity=capacity,
        distributor_id=distributor_id,
    )
    session.add(membership)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Duplicate(N_("This org is already a member of the program.")) from exc
    return membership


# --- users, login, tokens ---------------------------------------------------------------------------


async def create_user(
    session: AsyncSession,
    principal: Principal,
    *,
    email: str,
    name: str,
    org_id: int,
    role: str,
    locale: str | None = None,
    password: str | None = None,
) -> User:
    _require_admin(principal)
    org = await _visible_org_or_field_error(session, principal, org_id, "org_id")
    role_ = Role(role)
    if ORG_KIND_OF_ROLE[role_] != org.kind:
        raise ValidationFailed([FieldError(("role",), N_("This role does not fit the kind of the org."))])
    if role_ in (Role.ADMIN, Role.PARTNER_MANAGER):
        manufacturer_id = await session.scalar(
            select(Program.manufacturer_id).where(Program.id == principal.program_id)
        )
        if org.id != manufacturer_id:
            raise ValidationFailed([FieldError(("org_id",), N_("Must be the manufacturer of your program."))])
    program_id = principal.program_id if role_ in PROGRAM_ROLES else None
    return await _new_user(
        session,
        email=email,
        name=name,
        org=org,
        role=role_,
        program_id=program_id,
        locale=locale,
        password=password,
    )


async def create_partner_with_manager(
    session: AsyncSession,
    *,
    org_name: str,
    country: str,
    email: str,
    name: str,
    password: str,
    locale: str | None,
) -> User:
    """A reseller org of its own (no program registered it) and its first user, a reseller manager: what a
    person invited by e-mail creates when it follows its set-password link."""
    org = Org(name=org_name, kind=OrgKind.RESELLER, country=country.upper())
    session.add(org)
    await session.flush()
    return await _new_user(
        session,
        email=email,
        name=name,
        org=org,
        role=Role.RESELLER_MANAGER,
        program_id=None,
        locale=locale,
        password=password,
    )


async def _new_user(
    session: AsyncSession,
    *,
    email: str,
    name: str,
    org: Org,
    role: Role,
    program_id: int | None,
    locale: str | None,
    password: str | None,
) -> User:
    email = normalize_email(email)
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            [FieldError(("password",), N_("Must be at least %(min)d characters long."), min=MIN_PASSWORD_LENGTH)]
        )
    if await session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Duplicate(N_("A user with this e-mail address already exists."))
    user = User(
        email=email,
        name=name,
        org_id=org.id,
        role=role,
        program_id=program_id,
        locale=locale,
        password_hash=await hash_password(password) if password else None,
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent request took the e-mail between check and insert
        raise Duplicate(N_("A user with this e-mail address already exists.")) from exc
    return user


async def get_user(session: AsyncSession, principal: Principal, user_id: int) -> User:
    user = await session.scalar(select(User).where(User.id == user_id, visible_users(principal)))
    if user is None:
        raise NotFound()
    return user


async def create_token(
    session: AsyncSession,
    principal: Principal,
    *,
    user_id: int,
    name: str | None = None,
    expires_at: dt.datetime | None = None,
) -> str:
    """A new API token acting as `user_id`, refused from `expires_at` on (None: never): for yourself, or, as
    admin, for a user of your program."""
    user = await get_user(session, principal, user_id)
    if user.id != principal.user_id:
        _require_admin(principal)
        org = await session.get_one(Org, user.org_id)
        own_program_staff = user.program_id == principal.program_id
        if not (own_program_staff or org.registered_by_program_id == principal.program_id):
            # A shared reseller registered by another program: its users issue their own tokens.
            raise Forbidden()
    return await _new_token(session, user.id, created_by_id=principal.user_id, name=name, expires_at=expires_at)


async def _new_token(
    session: AsyncSession,
    user_id: int,
    *,
    created_by_id: int,
    name: str | None = None,
    expires_at: dt.datetime | None = None,
) -> str:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            user_id=user_id,
            token_hash=hash_token(token),
            prefix=token[:12],
            created_by_id=created_by_id,
            name=name,
            expires_at=expires_at,
        )
    )
    await session.flush()
    return token


async def authenticate(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    client_ip: str,
    max_attempts: int,
    window_seconds: int,
    now: dt.datetime | None = None,
) -> User | None:
    """The user for these credentials, or None. After `max_attempts` failures of one (e-mail, IP) pair each
    further attempt waits longer (accounts/throttle.py); while it must wait, RateLimited, unchecked."""
    now = now or utcnow()
    email = normalize_email(email)
    left = await throttle.wait_left(
        session, email, client_ip, free=max_attempts, window=dt.timedelta(seconds=window_seconds), now=now
    )
    if left > dt.timedelta(0):
        raise RateLimited(
            N_("Too many failed attempts. Please wait %(seconds)s seconds and try again."),
            params={"seconds": math.ceil(left.total_seconds())},
        )
    user = await session.scalar(select(User).where(User.email == email, User.active.is_(True)))
    if user is not None and await verify_password(user.password_hash, password):
        await throttle.forget_failures(session, email, client_ip)
        return user
    # A miss still verifies against a dummy hash (passwords.py), so timing tells nothing.
    if user is None:
        await verify_password(None, password)
    throttle.record_failure(session, email, client_ip, now)
    return None


async def set_user_locale(session: AsyncSession, user_id: int, locale: str) -> None:
    await session.execute(update(User).where(User.id == user_id).values(locale=locale))


async def load_user(session: AsyncSession, user_id: int, epoch: int = 0) -> User | None:
    """The active user of a web session that carries `epoch`; None once logout or deactivation ended it."""
    return await session.scalar(
        select(User).where(User.id == user_id, User.active.is_(True), User.session_epoch == epoch)
    )


async def program_default_locale(session: AsyncSession, principal: Principal) -> str | None:
    return await session.scalar(select(Program.default_locale).where(visible_programs(principal)).limit(1))


def _require_admin(principal: Principal) -> None:
    if principal.role is not Role.ADMIN:
        raise Forbidden()


# Memberships are for orgs this program registered; a partner another program registered joins by invitation.
# Said for every org id the program cannot see, so it tells nothing of whether the org exists.
ENROL_BY_INVITATION = N_(
    "This program registered no org with this id. To enrol a partner that works with another program, "
    "invite it by its manager's e-mail (POST /api/v1/invitations)."
)


async def _visible_org_or_field_error(
    session: AsyncSession, principal: Principal, org_id: int, field: str, message: str = N_("No such org.")
) -> Org:
    org = await session.scalar(select(Org).where(Org.id == org_id, visible_orgs(principal)))
    if org is None:
        raise ValidationFailed([FieldError((field,), message)])
    return org


@dataclass(frozen=True)
class PartnerRow:
    program: str
    org_id: int
    org: str
    kind: str
    tier: str
    city: str | None
    regions: list[str]
    capacity: int | None


async def partner_overview(session: AsyncSession, principal: Principal) -> list[PartnerRow]:
    """The memberships the principal may see, best tier first."""
    tier_order = {"platinum": 0, "gold": 1, "silver": 2, "registered": 3}
    rows = await session.execute(
        select(Program.name, Org, Membership)
        .join(Membership, Membership.program_id == Program.id)
        .join(Org, Org.id == Membership.org_id)
        .where(visible_memberships(principal))
    )
    result = [
        PartnerRow(program, org.id, org.name, org.kind, m.tier, org.city, list(m.regions), m.capacity)
        for program, org, m in rows.all()
    ]
    return sorted(result, key=lambda row: (row.program, tier_order.get(row.tier, 9), row.org))
