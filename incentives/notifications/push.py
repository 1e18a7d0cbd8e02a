"""Web Push: a browser that allowed it gets new offers and feedback reminders as system notifications.

This module keeps the server's VAPID keys and the browsers' subscriptions; notifications/jobs.py sends.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from py_vapid import Vapid
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts.scope import Principal
from incentives.errors import NotFound
from incentives.notifications.models import PushSubscription

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PushKeys:
    """The VAPID key pair (RFC 8292) that identifies this server to push services."""

    private_key: str  # base64url of the raw 32-byte P-256 private key
    subject: str  # mailto: or https: contact for push services

    @property
    def public_key(self) -> str:
        """The browser's `applicationServerKey`: base64url of the uncompressed public point."""
        point = Vapid.from_string(self.private_key).public_key.public_bytes(
            Encoding.X962, PublicFormat.UncompressedPoint
        )
        return base64.urlsafe_b64encode(point).rstrip(b"=").decode()


def new_private_key() -> str:
    """A fresh VAPID private key for VAPID_PRIVATE_KEY."""
    number = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value
    return base64.urlsafe_b64encode(number.to_bytes(32, "big")).rstrip(b"=").decode()


def keys_from(private_key: str | None, subject: str) -> PushKeys | None:
    return PushKeys(private_key, subject) if private_key else None


async def subscribe(session: AsyncSession, principal: Principal, *, endpoint: str, p256dh: str, auth: str) -> None:
    """Keep this browser's subscription for the user; the same browser logged in as someone else moves over."""
    found = await session.scalar(select(PushSubscription).where(PushSubscription.endpoint == endpoint))
    if found is None:
        session.add(PushSubscription(user_id=principal.user_id, endpoint=endpoint, p256dh=p256dh, auth=auth))
    else:
        found.user_id, found.p256dh, found.auth = principal.user_id, p256dh, auth
    await session.flush()


async def unsubscribe(session: AsyncSession, principal: Principal, endpoint: str) -> None:
    gone = await session.execute(
        delete(PushSubscription).where(
            PushSubscription.user_id == principal.user_id, PushSubscription.endpoint == endpoint
        )
    )
    if not getattr(gone, "rowcount", 0):
        raise NotFound()


async def subscription_count(session: AsyncSession, principal: Principal) -> int:
    rows = await session.scalars(select(PushSubscription.id).where(PushSubscription.user_id == principal.user_id))
    return len(rows.all())
