"""Inviting a partner into a program, and the partner's answer.

A program's admin or partner manager invites by e-mail. An address of an existing partner user invites that
user's org: its managers see the invitation on /invitations and as a notification, the user gets an e-mail, and a
manager accepts or declines. A new address gets an e-mail with a single-use set-password link (7 days); following
it creates the org and its first user, then the membership. The inviter gets the same answer either way, and sees
nothing of the partner until the membership exists. Every function joins the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts import services as accounts
from incentives.accounts.models import Membership, Org, Program, User
from incentives.accounts.roles import OrgKind, Role
from incentives.accounts.scope import Principal
from incentives.errors import N_, Duplicate, Forbidden, InvalidState, NotFound
from incentives.invitations.models import Invitation
from incentives.mail import outbox
from incentives.notifications import services as notifications

LINK_LIFETIME = dt.timedelta(days=7)
TEMPLATE = "incentives.invitations:invitation"
MANAGER_ROLES = (Role.RESELLER_MANAGER, Role.DISTRIBUTOR_MANAGER)
PENDING, ACCEPTED, DECLINED = "pending", "accepted", "declined"


class LinkGone(Exception):
    """A set-password link that was used already or has expired: answered as 410."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "used" or "expired"


@dataclass(frozen=True)
class Terms:
    """What the inviting program offers: the membership's fields."""

    tier: str
    competencies: list[str]
    certifications: list[str]
    regions: list[str]
    capacity: int | None = None
    distributor_id: int | None = None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def invite(
    session: AsyncSession, principal: Principal, *, program_id: int, email: str, terms: Terms, now: dt.datetime
) -> Invitation:
    program = await accounts.get_program(session, principal, program_id)
    if not principal.manages(program_id):
        raise Forbidden()
    if terms.distributor_id is not None:
        await accounts.check_distributor(session, principal, program_id=program_id, distributor_id=terms.distributor_id)
    email = accounts.normalize_email(email)
    user = await session.scalar(select(User).where(User.email == email))
    org = await session.get(Org, user.org_id) if user is not None else None
    if org is not None and await _is_member(session, program_id, org.id):
        raise Duplicate(N_("This address is already enrolled in this program."))
    pending = await session.scalar(
        select(Invitation.id).where(
            Invitation.program_id == program_id, Invitation.email == email, Invitation.status == PENDING
        )
    )
    if pending is not None:
        raise Duplicate(N_("This address is already invited to this program."))
    invitation = Invitation(
        program_id=program_id,
        email=email,
        tier=terms.tier,
        competencies=sorted(set(terms.competencies)),
        certifications=sorted(set(terms.certifications)),
        regions=sorted(set(terms.regions)),
        capacity=terms.capacity,
        distributor_id=terms.distributor_id,
        status=PENDING,
        invited_by_id=principal.user_id,
        created_at=now,
    )
    session.add(invitation)
    if user is None:
        token = secrets.token_urlsafe(32)
        invitation.link_hash = _hash(token)
        invitation.link_expires_at = now + LINK_LIFETIME
        await session.flush()
        await outbox.queue_to_address(
            session,
            address=email,
            locale=program.default_locale,
            kind="invitation",
            key=f"invitation:{invitation.id}",
            template=TEMPLATE,
            context=_mail_context(program, invitation, f"/join/{token}", new=True),
        )
    elif org is not None and user.active and org.kind in (OrgKind.RESELLER, OrgKind.DISTRIBUTOR):
        invitation.org_id = org.id
        await session.flush()
        await _tell_partner(session, program, invitation, user)
    else:
        # A manufacturer's or an agency's address cannot become a member; the inviter is told nothing different,
        # so an invitation never says whether an address exists elsewhere. Nothing is sent.
        await session.flush()
    return invitation


async def _is_member(session: AsyncSession, program_id: int, org_id: int) -> bool:
    found = await session.scalar(
        select(Membership.id).where(Membership.program_id == program_id, Membership.org_id == org_id)
    )
    return found is not None


def _mail_context(program: Program, invitation: Invitation, path: str, *, new: bool) -> dict[str, Any]:
    return {"program": program.name, "tier": invitation.tier, "path": path, "new": new, "days": LINK_LIFETIME.days}


async def _tell_partner(session: AsyncSession, program: Program, invitation: Invitation, user: User) -> None:
    """The invited org's managers get a notification; the invited address gets an e-mail."""
    managers = await session.scalars(
        select(User.id).where(User.org_id == user.org_id, User.role.in_(MANAGER_ROLES), User.active.is_(True))
    )
    rows = [
        notifications.notification_row(
            program_id=program.id,
            org_id=user.org_id,
            user_id=manager_id,
            kind="invitation",
            message=N_("%(program)s invites you to its partner program."),
            params={"program": program.name},
            link="/invitations",
        )
        for manager_id in managers
    ]
    await notifications.add_notifications(session, rows)
    await outbox.queue(
        session,
        user_id=user.id,
        kind="invitation",
        key=f"invitation:{invitation.id}",
        template=TEMPLATE,
        context=_mail_context(program, invitation, "/invitations", new=False),
    )


# --- the invited partner ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Offer:
    """A pending invitation as the invited org's managers see it."""

    id: int
    program: str
    tier: str
    competencies: list[str]
    regions: list[str]
    created_at: dt.datetime


async def pending_for(session: AsyncSession, principal: Principal) -> list[Offer]:
    """The pending invitations of the principal's org, newest first; only its managers see them."""
    if principal.role not in MANAGER_ROLES:
        return []
    rows = await session.execute(
        select(Invitation, Program.name)
        .join(Program, Program.id == Invitation.program_id)
        .where(Invitation.org_id == principal.org_id, Invitation.status == PENDING)
        .order_by(Invitation.id.desc())
    )
    return [
        Offer(inv.id, name, inv.tier, list(inv.competencies), list(inv.regions), inv.created_at)
        for inv, name in rows.all()
    ]


async def _own(session: AsyncSession, principal: Principal, invitation_id: int) -> Invitation:
    """An invitation to the principal's org, for its managers; anyone else's answers 404."""
    invitation = await session.scalar(
        select(Invitation).where(Invitation.id == invitation_id, Invitation.org_id == principal.org_id)
    )
    if invitation is None or principal.role not in MANAGER_ROLES:
        raise NotFound()
    return invitation


async def accept(session: AsyncSession, principal: Principal, invitation_id: int, now: dt.datetime) -> Membership:
    invitation = await _own(session, principal, invitation_id)
    return await _accept(session, invitation, principal.org_id, principal.user_id, now)


async def decline(session: AsyncSession, principal: Principal, invitation_id: int, now: dt.datetime) -> Invitation:
    invitation = await _own(session, principal, invitation_id)
    await _decide(session, invitation, DECLINED, principal.user_id, now)
    await _tell_program(session, invitation, principal.org_id, N_("%(org)s declined the invitation to %(program)s."))
    return invitation


async def _accept(
    session: AsyncSession, invitation: Invitation, org_id: int, user_id: int, now: dt.datetime
) -> Membership:
    await _decide(session, invitation, ACCEPTED, user_id, now)
    membership = await accounts.enrol(
        session,
        program_id=invitation.program_id,
        org_id=org_id,
        tier=invitation.tier,
        competencies=list(invitation.competencies),
        certifications=list(invitation.certifications),
        regions=list(invitation.regions),
        capacity=invitation.capacity,
        distributor_id=invitation.distributor_id if invitation.distributor_id != org_id else None,
    )
    await _tell_program(session, invitation, org_id, N_("%(org)s accepted the invitation to %(program)s."))
    return membership


async def _decide(session: AsyncSession, invitation: Invitation, status: str, user_id: int, now: dt.datetime) -> None:
    """Pending to `status`, once: a conditional update, so of two answers at once exactly one counts."""
    done = await session.execute(
        update(Invitation)
        .where(Invitation.id == invitation.id, Invitation.status == PENDING)
        .values(status=status, decided_by_id=user_id, decided_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(done, "rowcount", 0) != 1:
        raise InvalidState(N_("This invitation was answered already."))
    await session.refresh(invitation)


async def _tell_program(session: AsyncSession, invitation: Invitation, org_id: int, message: str) -> None:
    """The inviting program's staff (they act for its manufacturer org) hear the answer."""
    program = await session.get_one(Program, invitation.program_id)
    org = await session.get_one(Org, org_id)
    if program.manufacturer_id is not None:
        await notifications.notify(
            session,
            program_id=program.id,
            org_id=program.manufacturer_id,
            kind="invitation_answered",
            message=message,
            params={"org": org.name, "program": program.name},
        )


# --- the set-password link of a new address -------------------------------------------------------------


async def by_link(session: AsyncSession, token: str, now: dt.datetime) -> tuple[Invitation, str]:
    """The invitation of a set-password link and its program's name; NotFound for a link that is not one,
    LinkGone when it was used or has expired."""
    invitation = await session.scalar(select(Invitation).where(Invitation.link_hash == _hash(token)))
    if invitation is None or invitation.link_expires_at is None:
        raise NotFound()
    if invitation.link_used_at is not None or invitation.status != PENDING:
        raise LinkGone("used")
    if now >= invitation.link_expires_at:
        raise LinkGone("expired")
    program = await session.get_one(Program, invitation.program_id)
    return invitation, program.name


async def join(
    session: AsyncSession,
    token: str,
    *,
    org_name: str,
    country: str,
    name: str,
    password: str,
    locale: str | None,
    now: dt.datetime,
) -> User:
    """Follow a set-password link: the org, its first user (a reseller manager) and the membership, at once."""
    invitation, _ = await by_link(session, token, now)
    used = await session.execute(
        update(Invitation)
        .where(Invitation.id == invitation.id, Invitation.link_used_at.is_(None))
        .values(link_used_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(used, "rowcount", 0) != 1:  # a second click at the same time
        raise LinkGone("used")
    user = await accounts.create_partner_with_manager(
        session,
        org_name=org_name,
        country=country,
        email=invitation.email,
        name=name,
        password=password,
        locale=locale,
    )
    invitation.org_id = user.org_id
    await session.flush()
    await _accept(session, invitation, user.org_id, user.id, now)
    return user
