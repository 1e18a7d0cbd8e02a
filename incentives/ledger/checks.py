"""What every ledger operation checks first: its unit of work, its points and key, and a replayed key's payload."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from incentives.errors import N_, FieldError, IdempotencyConflict, ValidationFailed
from incentives.ledger.book import Cause, Transfer, find_keyed
from incentives.ledger.models import SINK_KINDS, AccountKind

NO_CAUSE = Cause()


def positive(points: int, field: str = "points") -> None:
    if isinstance(points, bool) or not isinstance(points, int) or points <= 0:
        raise ValidationFailed([FieldError((field,), N_("Must be a positive whole number of points."))])


def check_key(key: str) -> None:
    if not key or len(key) > 200:
        raise ValidationFailed([FieldError(("idempotency_key",), N_("Must be 1 to 200 characters long."))])


def sink(kind: AccountKind | str) -> AccountKind:
    try:
        sink = AccountKind(kind)
    except ValueError:
        sink = AccountKind.PARTNER
    if sink not in SINK_KINDS:
        raise ValidationFailed(
            [FieldError(("kind",), N_("Must be one of: %(expected)s."), expected="mdf, discount, bonus")]
        )
    return sink


class OutsideTransaction(RuntimeError):
    """A ledger operation was called without a unit of work: its caller must open one."""


async def joined(session: AsyncSession) -> AsyncConnection:
    """The connection of the caller's open transaction; the ledger never opens or commits one itself."""
    if not session.in_transaction():
        raise OutsideTransaction("ledger operations join the caller's transaction: open one with session.begin()")
    return await session.connection()


def replay(found: tuple[Transfer, str | None], expected: str) -> Transfer:
    transfer, stored = found
    if stored != expected:
        raise IdempotencyConflict()
    return transfer


async def replayed(conn: AsyncConnection, program_id: int, key: str, print_: str) -> Transfer:
    """The transfer booked under `key` (found under the account lock, or skipped as a conflict), checked
    against the payload."""
    found = await find_keyed(conn, program_id, key)
    assert found is not None, "a key seen booked stays booked"
    return replay(found, print_)
