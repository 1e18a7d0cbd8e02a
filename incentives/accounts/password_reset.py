"""Password reset by e-mail link: a single-use link, valid for an hour, of which only the SHA-256 is kept.

Asking for a link answers the same whether the address has an account or not, in what it shows and in the
time it takes: the answer only counts the request (`count_request`), and the link is made and queued after it
(`issue_link`, which the web layer runs once the page is sent). Requests are throttled per address and per IP
like logins (accounts/throttle.py), counted for known and unknown addresses alike. Setting the new password
uses the link up, and raises the user's session epoch: every other session of the user ends. Each function
joins the caller's unit of work; none commits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import secrets

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts import throttle
from incentives.accounts.models import PasswordReset, User
from incentives.accounts.passwords import MIN_PASSWORD_LENGTH, hash_password
from incentives.accounts.services import normalize_email
from incentives.errors import N_, FieldError, NotFound, RateLimited, ValidationFailed

LINK_LIFETIME = dt.timedelta(hours=1)
# Requests per address before each further one waits (doubling, at most throttle.MAX_DELAY): a typo or two
# and a retry are free, a flood of e-mails to one inbox is not.
FREE_REQUESTS = 3


class LinkGone(Exception):
    """A reset link that was used already or has expired: answered as 410."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "used" or "expired"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _keys(email: str, client_ip: str) -> dict[str, tuple[int, dt.timedelta]]:
    return {
        f"reset:{email}"[:300]: (FREE_REQUESTS, throttle.MAX_DELAY),
        f"reset-ip:{client_ip}"[:300]: (FREE_REQUESTS * throttle.IP_FREE_FACTOR, throttle.MAX_IP_DELAY),
    }


async def count_request(
    session: AsyncSession, *, email: str, client_ip: str, window: dt.timedelta, now: dt.datetime
) -> None:
    """Count a request for a link under its address and IP; RateLimited while either must wait.

    It does not look at the users: the statements it runs, and so the time the answer takes, are the same
    whether the address has an account or not. The link itself is made by `issue_link`, after the answer."""
    keys = _keys(normalize_email(email), client_ip)
    left = await throttle.keys_wait_left(session, keys, window=window, now=now)
    if left > dt.timedelta(0):
        raise RateLimited(
            N_("Too many requests. Please wait %(seconds)s seconds and try again."),
            params={"seconds": math.ceil(left.total_seconds())},
        )
    throttle.record(session, list(keys), now)
    await session.flush()


async def issue_link(
    session: AsyncSession, *, email: str, now: dt.datetime, lifetime: dt.timedelta = LINK_LIFETIME
) -> tuple[User, str] | None:
    """A new link for the active user of `email` (the user and the token to send), or None for an address
    without one. A new user added by a program's admin gets the same link for its first password, valid
    longer (`lifetime`): it was not waiting for the e-mail."""
    user = await session.scalar(select(User).where(User.email == normalize_email(email), User.active.is_(True)))
    if user is None:
        return None
    token = secrets.token_urlsafe(32)
    session.add(PasswordReset(user_id=user.id, token_hash=_hash(token), expires_at=now + lifetime, created_at=now))
    await session.flush()
    return user, token


async def by_token(session: AsyncSession, token: str, now: dt.datetime) -> PasswordReset:
    """The reset of a link: NotFound when it is not one, LinkGone when it was used or has expired (or its
    user was turned off since)."""
    reset = await session.scalar(select(PasswordReset).where(PasswordReset.token_hash == _hash(token)))
    if reset is None:
        raise NotFound()
    user = await session.get_one(User, reset.user_id)
    if reset.used_at is not None or not user.active:
        raise LinkGone("used")
    if now >= reset.expires_at:
        raise LinkGone("expired")
    return reset


async def reset_password(session: AsyncSession, token: str, password: str, now: dt.datetime) -> User:
    """Set the new password through the link, once; every session of the user ends (the caller logs in the
    one that asked, with the new epoch)."""
    reset = await by_token(session, token, now)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            [FieldError(("password",), N_("Must be at least %(min)d characters long."), min=MIN_PASSWORD_LENGTH)]
        )
    used = await session.execute(
        update(PasswordReset)
        .where(PasswordReset.id == reset.id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(used, "rowcount", 0) != 1:  # a second click at the same time
        raise LinkGone("used")
    password_hash = await hash_password(password)
    await session.execute(
        update(User)
        .where(User.id == reset.user_id)
        .values(password_hash=password_hash, session_epoch=User.session_epoch + 1)
        .execution_options(synchronize_session=False)
    )
    user = await session.get_one(User, reset.user_id)
    await session.refresh(user)
    return user
