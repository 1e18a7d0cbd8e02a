"""Idempotency-Key records: the first response to a key is kept and replayed for the same request.

A request claims its key before it runs and stores its response afterwards. A claim that never got a
response (its process died) is taken over by a retry once it is CLAIM_TIMEOUT old; a sweep forgets
records after KEEP_FOR, so the table does not grow for ever.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any, cast

from sqlalchemy import (
    CursorResult,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from incentives.db import Base, Database, UTCDateTime, utcnow
from incentives.errors import N_, IdempotencyConflict
from incentives.jobs import sweep

MAX_KEY_LENGTH = 200
# Far above any request's run time (proxies give up after 60 s): a claim this old belongs to a dead process.
CLAIM_TIMEOUT = dt.timedelta(minutes=5)
# How long a response is replayed; a client retrying later than this runs its request anew.
KEEP_FOR = dt.timedelta(hours=72)
# A claim released between our INSERT and our SELECT is tried again; more than a few means a busy key.
ATTEMPTS = 3
STILL_RUNNING = N_("A request with this Idempotency-Key is still being processed.")


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
    # When the request now answering for the key began: set by the claim, renewed by a takeover.
    claimed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, server_default=func.now(), index=True)


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What makes two requests the same one: method, path and body, a JSON body by its meaning (re-indented or
    with its keys in another order it is the same request)."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), canonical_json(body)):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def canonical_json(body: bytes) -> bytes:
    """A JSON body in one normal form (keys sorted, no spaces), or the body as it is when it is no JSON."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, or JSON no handler reads either (web/jsonbody.py)
        return body
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


async def claim(
    db: Database, user_id: int, key: str, print_: str, now: dt.datetime | None = None
) -> tuple[int, bytes] | None:
    """Claim `key` for a new request: None when claimed, or the stored (status, body) to replay.

    Raises IdempotencyConflict when the key was used for another request, or when the first request
    with this key is still running (a concurrent duplicate must not run twice). A claim older than
    CLAIM_TIMEOUT without a response is taken over: this request runs in place of the lost one.
    """
    now = now or utcnow()
    for _ in range(ATTEMPTS):
        try:
            async with db.transaction() as session:
                session.add(
                    IdempotencyRecord(user_id=user_id, key=key, fingerprint=print_, created_at=now, claimed_at=now)
                )
            return None
        except IntegrityError:
            pass
        async with db.reader() as session:
            record = await session.scalar(
                select(IdempotencyRecord).where(IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key)
            )
        if record is None:  # released by a failed first attempt in the meantime: claim it again
            continue
        if record.fingerprint != print_:
            raise IdempotencyConflict()
        if record.status_code is not None and record.body is not None:
            return record.status_code, record.body
        if record.claimed_at < now - CLAIM_TIMEOUT and await _take_over(db, record.id, now):
            return None
        break
    raise IdempotencyConflict(STILL_RUNNING)


async def _take_over(db: Database, record_id: int, now: dt.datetime) -> bool:
    """Claim a stale record for this request; among concurrent takers exactly one gets True.

    The UPDATE's condition is checked again on the row it writes (PostgreSQL re-reads a row a
    concurrent writer changed; SQLite runs one writer at a time), so a second taker finds it fresh.
    """
    async with db.transaction() as session:
        taken = await session.scalar(
            update(IdempotencyRecord)
            .where(
                IdempotencyRecord.id == record_id,
                IdempotencyRecord.status_code.is_(None),
                IdempotencyRecord.claimed_at < now - CLAIM_TIMEOUT,
            )
            .values(claimed_at=now)
            .returning(IdempotencyRecord.id)
        )
    return taken is not None


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


@sweep("idempotency.forget")
async def forget_old_keys(db: Database, now: dt.datetime) -> int:
    """Delete the records claimed more than KEEP_FOR before `now`; how many."""
    async with db.transaction() as session:
        result = await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.claimed_at < now - KEEP_FOR))
    return cast(CursorResult[Any], result).rowcount
