"""A program's admin adds a user to a partner org: the user, without a password, and an e-mail with a single-use
set-password link. The link is the password reset's (accounts/password_reset.py: only its SHA-256 is kept, the
first use spends it), valid as long as an invitation's link. Joins the caller's transaction; never commits."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts import password_reset
from incentives.accounts import services as accounts
from incentives.accounts.models import Org, User
from incentives.accounts.roles import PARTNER_ROLES, Role
from incentives.accounts.scope import Principal
from incentives.errors import N_, FieldError, ValidationFailed
from incentives.invitations.services import LINK_LIFETIME
from incentives.mail import outbox

TEMPLATE = "incentives.invitations:new_user"


async def invite_user(
    session: AsyncSession,
    principal: Principal,
    *,
    org_id: int,
    email: str,
    name: str,
    role: str,
    locale: str | None,
    now: dt.datetime,
) -> User:
    """A partner user (reseller manager or rep, distributor manager) of an org the admin's program sees, and the
    e-mail with its set-password link; the rules of `accounts.create_user` hold (admin only, the role fits the
    org's kind, one user per address)."""
    if role not in {str(partner_role) for partner_role in PARTNER_ROLES}:
        raise ValidationFailed([FieldError(("role",), N_("This role does not fit the kind of the org."))])
    user = await accounts.create_user(
        session, principal, email=email, name=name, org_id=org_id, role=Role(role), locale=locale
    )
    found = await password_reset.issue_link(session, email=user.email, now=now, lifetime=LINK_LIFETIME)
    assert found is not None  # the user was made active just now
    _, token = found
    assert principal.program_id is not None
    program = await accounts.get_program(session, principal, principal.program_id)
    org = await session.get_one(Org, org_id)
    await outbox.queue(
        session,
        user_id=user.id,
        kind="invitation",
        key=f"user:{user.id}",
        template=TEMPLATE,
        context={
            "program": program.name,
            "org": org.name,
            "path": f"/password/reset/{token}",
            "days": LINK_LIFETIME.days,
        },
    )
    return user
