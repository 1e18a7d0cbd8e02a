"""Idempotency-Key records: the first response to a key is kept and replayed for the same request."""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from incentives.db import Base, Database, UTCDateTime, utcnow
from incentives.errors import N_, IdempotencyConflict

MAX_KEY_LENGTH = 200


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    fingerprint: Mapped[str] = mapped_column(String(64))
    # NULL while the first request is still running.
    status_code: Mapped[int | None] = mapped_column(Integer)
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When the request now answering for the key began.
    claimed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, server_default=func.now(), index=True)


def fingerprint(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


async def claim(db: Database, user_id: int, key: str, print_: str) -> tuple[int, bytes] | None:
    """Claim `key` for a new request: None when claimed, or the stored (status, body) to replay.

    Raises IdempotencyConflict when the key was used for another request, or when the first request
    with this key is still running (a concurrent duplicate must not run twice).
    """
    try:
        async with db.transaction() as session:
            session.add(IdempotencyRecord(user_id=user_id, key=key, fingerprint=print_))
        return None
    except IntegrityError:
        pass
    async with db.reader() as session:
        record = await session.scalar(
            select(IdempotencyRecord).where(IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key)
        )
    if record is None:  # released by a failed first attempt in the meantime: claim it again
        return await claim(db, user_id, key, print_)
    if record.fingerprint != print_:
        raise IdempotencyConflict()
    if record.status_code is None or record.body is None:
        raise IdempotencyConflict(N_("A request with this Idempotency-Key is still being processed."))
    return record.status_code, record.body


async def complete(db: Database, user_id: int, key: str, status_code: int, body: bytes) -> None:
    async with db.transaction() as session:
        await session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key)
            .values(status_code=status_code, body=body)
        )


async def release(db: Database, user_id: int, key: str) -> None:
    """Forget a claim whose request failed unexpectedly, so that a retry can run."""
    async with db.transaction() as session:
        await session.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.user_id == user_id,
                IdempotencyRecord.key == key,
                IdempotencyRecord.status_code.is_(None),
            )
        )
