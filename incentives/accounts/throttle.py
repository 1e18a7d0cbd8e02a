"""Login throttling: growing delays per (e-mail, IP) instead of locking an account.

A lockout per e-mail let anyone lock out any known user with a few wrong passwords, and one per IP every
user behind an office's address. Here failures count per (e-mail, IP) pair: the first `free` ones cost
nothing, then each further one makes the pair wait twice as long as the last (1 s, 2 s, 4 s, … at most
MAX_DELAY). The rightful user from another address is never slowed by an attacker. One IP spraying many
e-mails is slowed too, but only far beyond any office's typos (IP_FREE_FACTOR × `free` failures) and for
at most MAX_IP_DELAY. Failures are rows of `login_attempts`, so every web process sees the same state;
they are forgotten `window` after they happened, and a pair's failures when it logs in.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts.models import LoginAttempt

MAX_DELAY = dt.timedelta(minutes=5)
MAX_IP_DELAY = dt.timedelta(minutes=1)
IP_FREE_FACTOR = 20


def pair_key(email: str, client_ip: str) -> str:
    return f"pair:{client_ip}|{email}"[:300]


def ip_key(client_ip: str) -> str:
    return f"ip:{client_ip}"[:300]


def delay_after(failures: int, free: int, cap: dt.timedelta) -> dt.timedelta:
    """How long to wait after the last of `failures`: nothing for the first `free`, then doubling to `cap`."""
    if failures < free:
        return dt.timedelta(0)
    exponent = min(failures - free, 30)
    return min(dt.timedelta(seconds=2**exponent), cap)


async def wait_left(
    session: AsyncSession, email: str, client_ip: str, *, free: int, window: dt.timedelta, now: dt.datetime
) -> dt.timedelta:
    """How long this pair must still wait before its next attempt is even checked (0: go ahead)."""
    await session.execute(delete(LoginAttempt).where(LoginAttempt.at < now - window))
    keys = {pair_key(email, client_ip): (free, MAX_DELAY), ip_key(client_ip): (free * IP_FREE_FACTOR, MAX_IP_DELAY)}
    return await keys_wait_left(session, keys, window=window, now=now)


async def keys_wait_left(
    session: AsyncSession, keys: dict[str, tuple[int, dt.timedelta]], *, window: dt.timedelta, now: dt.datetime
) -> dt.timedelta:
    """How long the longest of these counters must still wait; each key maps to (free attempts, cap)."""
    rows = await session.execute(
        select(LoginAttempt.key, func.count(), func.max(LoginAttempt.at))
        .where(LoginAttempt.key.in_(keys), LoginAttempt.at >= now - window)
        .group_by(LoginAttempt.key)
    )
    left = dt.timedelta(0)
    for key, failures, last in rows.all():
        allowed, cap = keys[key]
        left = max(left, last + delay_after(failures, allowed, cap) - now)
    return left


def record(session: AsyncSession, keys: list[str], now: dt.datetime) -> None:
    """Count one attempt under each key (a password-reset request counts per address and per IP)."""
    session.add_all([LoginAttempt(key=key[:300], at=now) for key in keys])


def record_failure(session: AsyncSession, email: str, client_ip: str, now: dt.datetime) -> None:
    session.add_all([LoginAttempt(key=pair_key(email, client_ip), at=now), LoginAttempt(key=ip_key(client_ip), at=now)])


async def forget_failures(session: AsyncSession, email: str, client_ip: str) -> None:
    """A successful login clears its pair (the IP's count stays: one good account does not excuse spraying)."""
    await session.execute(delete(LoginAttempt).where(LoginAttempt.key == pair_key(email, client_ip)))
