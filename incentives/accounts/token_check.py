"""The API token check: which user, org and program an unrevoked, unexpired token of an active user stands for.

Every API request runs it, so its statements are built once; accounts/services.py issues the tokens.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from sqlalchemy import Update, bindparam, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from incentives import db as clock
from incentives.accounts import tokens
from incentives.accounts.models import ApiToken, Membership, Org, Program, User
from incentives.accounts.roles import Role
from incentives.accounts.scope import Principal
from incentives.db import fetch_one

TOKEN_PREFIX = "inc_"  # noqa: S105 - a public marker, not a secret


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# A token in force: not revoked and not expired (an expired one is refused exactly like a revoked one).
_IN_FORCE = (
    ApiToken.token_hash == bindparam("token_hash"),
    ApiToken.revoked_at.is_(None),
    or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > bindparam("now")),
)
# Built once: every API request runs it, and building a statement costs more than running this one.
_USER_FOR_TOKEN = select(User).join(ApiToken, ApiToken.user_id == User.id).where(*_IN_FORCE, User.active.is_(True))


async def user_for_token(session: AsyncSession, token: str) -> User | None:
    """The active user of an unrevoked, unexpired token."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    return await session.scalar(_USER_FOR_TOKEN, {"token_hash": hash_token(token), "now": clock.utcnow()})


@dataclass(frozen=True, slots=True)
class TokenHolder:
    """Who an API request acts as: what the API needs of the token's user, without loading the user."""

    principal: Principal
    # The default language of the token's program, for API answers that ask for none (Accept-Language).
    program_locale: str | None
    # The update that notes the token's use (at most hourly), for the request's owner to run; None: noted.
    note_use: Update | None = None


# A token belongs to its user's program: a program role's own, else (partners act through their org) the
# program that registered the org, else the first program the org is a member of.
_TOKEN_PROGRAM = func.coalesce(
    User.program_id,
    Org.registered_by_program_id,
    select(func.min(Membership.program_id)).where(Membership.org_id == User.org_id).scalar_subquery(),
)
_TOKEN_HOLDER = (
    select(
        User.id,
        User.org_id,
        User.role,
        User.program_id,
        select(Program.default_locale).where(Program.id == _TOKEN_PROGRAM).scalar_subquery(),
        ApiToken.id,
        ApiToken.last_used_at,
    )
    .join(ApiToken, ApiToken.user_id == User.id)
    .join(Org, Org.id == User.org_id)
    .where(*_IN_FORCE, User.active.is_(True))
)


# For the web processes' start-up (Database.warm_up): the check with a hash no token has.
TOKEN_CHECK_WARM_UP = (_TOKEN_HOLDER, {"token_hash": "", "now": dt.datetime(2000, 1, 1, tzinfo=dt.UTC)})


async def token_holder(engine: AsyncEngine, token: str) -> TokenHolder | None:
    """The principal of an unrevoked, unexpired token of an active user, or None; checked in the database on
    every API request (a revoked token stops working at once, in every process). One statement on the unique
    token hash, as a transaction of its own: no ORM session or object.
    """
    if not token.startswith(TOKEN_PREFIX):
        return None
    now = clock.utcnow()
    row = await fetch_one(engine, _TOKEN_HOLDER, {"token_hash": hash_token(token), "now": now})
    if row is None:
        return None
    user_id, org_id, role, program_id, program_locale, token_id, last_used_at = tuple(row)
    return TokenHolder(
        Principal(user_id=user_id, org_id=org_id, role=Role(role), program_id=program_id),
        program_locale,
        tokens.use_to_note(token_id, last_used_at, now),
    )
