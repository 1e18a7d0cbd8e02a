"""API tokens as their holders manage them: list (with name and last use), revoke, and noting a token's use.

A user manages its own tokens; an admin also those of its program's staff. Others' tokens are not found (404).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Update, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts.models import ApiToken, User
from incentives.accounts.roles import Role
from incentives.accounts.scope import Principal
from incentives.db import utcnow
from incentives.errors import NotFound

# Last use is kept to the hour: one write per token and hour, not one per API request.
USE_PRECISION = dt.timedelta(hours=1)
# A token may live 1 to 365 days; the tokens page offers these, 90 days first (the API's default is no expiry,
# as before expiry existed: scripts that ask for none keep working).
MAX_DAYS = 365
PAGE_CHOICES = (30, 90, 365)
PAGE_DEFAULT_DAYS = 90


def expiry(days: int | None, now: dt.datetime) -> dt.datetime | None:
    return now + dt.timedelta(days=days) if days is not None else None


@dataclass(frozen=True)
class TokenRow:
    id: int
    name: str | None
    prefix: str
    user_id: int
    user_email: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None
    expires_at: dt.datetime | None


def _manageable(principal: Principal) -> ColumnElement[bool]:
    own = ApiToken.user_id == principal.user_id
    if principal.role is Role.ADMIN and principal.program_id is not None:
        return or_(own, User.program_id == principal.program_id)
    return own


async def list_tokens(session: AsyncSession, principal: Principal) -> list[TokenRow]:
    rows = await session.execute(
        select(ApiToken, User.email)
        .join(User, User.id == ApiToken.user_id)
        .where(_manageable(principal))
        .order_by(ApiToken.revoked_at.is_not(None), ApiToken.id.desc())
    )
    return [
        TokenRow(t.id, t.name, t.prefix, t.user_id, email, t.created_at, t.last_used_at, t.revoked_at, t.expires_at)
        for t, email in rows
    ]


async def revoke_token(
    session: AsyncSession, principal: Principal, token_id: int, now: dt.datetime | None = None
) -> None:
    """Revoke a token the principal manages; it stops working at once (every request checks the database)."""
    found = await session.scalar(
        select(ApiToken).join(User, User.id == ApiToken.user_id).where(ApiToken.id == token_id, _manageable(principal))
    )
    if found is None:
        raise NotFound()
    if found.revoked_at is None:
        found.revoked_at = now or utcnow()


def use_to_note(token_id: int, last_used_at: dt.datetime | None, now: dt.datetime) -> Update | None:
    """The statement that remembers a token's use, or None when the noted use is recent enough. The caller
    runs it as a unit of work of its own, never in the request's."""
    if last_used_at is not None and now - last_used_at < USE_PRECISION:
        return None
    return update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now)


async def token_users(session: AsyncSession, principal: Principal) -> list[tuple[int, str]]:
    """Whom an admin may issue a token for: its program's own active users; for anybody else, nobody but itself
    (an empty list: the page offers no choice)."""
    if principal.role is not Role.ADMIN or principal.program_id is None:
        return []
    rows = await session.execute(
        select(User.id, User.email)
        .where(User.program_id == principal.program_id, User.active.is_(True))
        .order_by(User.email)
    )
    return [(row.id, row.email) for row in rows]
