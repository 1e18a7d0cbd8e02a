"""Ending what lets a user in: logout ends every web session of the user (a copy of the cookie too), and
deactivation ends its sessions and API tokens. Sessions carry the user's `session_epoch` (web/context.py).

Each function takes an AsyncSession and joins the caller's unit of work; none begins or commits.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts.models import Org, User
from incentives.accounts.roles import Role
from incentives.accounts.scope import Principal
from incentives.accounts.services import get_user
from incentives.errors import N_, FieldError, Forbidden, ValidationFailed


async def end_sessions(session: AsyncSession, user_id: int) -> None:
    """End every web session of the user, wherever its cookie was copied to (logout)."""
    await session.execute(update(User).where(User.id == user_id).values(session_epoch=User.session_epoch + 1))


async def deactivate_user(session: AsyncSession, principal: Principal, user_id: int) -> User:
    """An admin turns a user of the program off: its web sessions and API tokens stop working at once.

    Users of another program's staff and of orgs the caller cannot see are not found; a shared reseller that
    another program registered keeps its users (403), as for issuing their tokens; nobody turns themselves off.
    """
    if principal.role is not Role.ADMIN:
        raise Forbidden()
    user = await get_user(session, principal, user_id)
    org = await session.get_one(Org, user.org_id)
    if not (user.program_id == principal.program_id or org.registered_by_program_id == principal.program_id):
        raise Forbidden()
    if user.id == principal.user_id:
        raise ValidationFailed([FieldError(("id",), N_("You cannot deactivate yourself."))])
    await session.execute(
        update(User).where(User.id == user.id).values(active=False, session_epoch=User.session_epoch + 1)
    )
    await session.refresh(user)
    return user
