"""Webhook subscriptions of a program, managed by its admins: add, list, remove, rotate the secret, enable again;
the delivery log, a retry now and a test event. Everything outside the caller's program answers 404.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts.roles import Role
from incentives.accounts.scope import Principal
from incentives.db import utcnow
from incentives.errors import N_, FieldError, InvalidState, NotFound, ValidationFailed
from incentives.jobs import wake_after_commit
from incentives.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookSubscription
from incentives.webhooks.outbox import EVENT_TYPES, WEBHOOKS, iso
from incentives.webhooks.sending import resolves_private

__all__ = [
    "TEST_EVENT",
    "Subscription",
    "create_endpoint",
    "delete_endpoint",
    "deliveries_of",
    "enable_endpoint",
    "endpoint_of",
    "endpoints_of",
    "retry_delivery",
    "rotate_secret",
    "send_test",
]

TEST_EVENT = "webhook.test"  # sent to one endpoint on an admin's request, never subscribed to
ROTATION_OVERLAP = dt.timedelta(hours=24)
MAX_URL = 2000


@dataclass(frozen=True)
class Subscription:
    endpoint: WebhookEndpoint
    events: list[str]


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and the base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _program_of(principal: Principal, program_id: int | None = None) -> int:
    """The program the principal administers (and asks about); anyone else finds nothing."""
    if principal.role is not Role.ADMIN or principal.program_id is None:
        raise NotFound()
    if program_id is not None and program_id != principal.program_id:
        raise NotFound()
    return principal.program_id


async def check_url(url: str, *, allow_private: bool) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if len(url) > MAX_URL or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValidationFailed([FieldError(("url",), N_("Must be an http or https URL."))])
    if parts.username or parts.password:
        raise ValidationFailed([FieldError(("url",), N_("Must not contain a user name or password."))])
    if not allow_private and await resolves_private(url):
        raise ValidationFailed(
            [FieldError(("url",), N_("Must be a public address: loopback and private networks are refused."))]
        )
    return url


def check_events(events: Sequence[str]) -> list[str]:
    errors = [
        FieldError(("events", index), N_("Unknown event type: %(type)s"), type=str(kind)[:60])
        for index, kind in enumerate(events)
        if kind not in EVENT_TYPES
    ]
    if not events:
        errors.append(FieldError(("events",), N_("Choose at least one event type.")))
    if errors:
        raise ValidationFailed(errors)
    return sorted(set(events), key=EVENT_TYPES.index)


async def create_endpoint(
    session: AsyncSession,
    principal: Principal,
    *,
    program_id: int,
    url: str,
    events: Sequence[str],
    description: str = "",
    allow_private: bool,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its secret (shown once)."""
    program_id = _program_of(principal, program_id)
    errors: list[FieldError] = []
    try:  # every problem at once: the URL's and the events'
        url = await check_url(url, allow_private=allow_private)
    except ValidationFailed as refused:
        errors += refused.errors
    try:
        chosen = check_events(events)
    except ValidationFailed as refused:
        errors += refused.errors
    if errors:
        raise ValidationFailed(errors)
    endpoint = WebhookEndpoint(
        program_id=program_id,
        url=url,
        description=description.strip()[:500],
        secret=new_secret(),
        created_by_id=principal.user_id,
        created_at=utcnow(),
    )
    session.add(endpoint)
    await session.flush()
    session.add_all(
        WebhookSubscription(endpoint_id=endpoint.id, event_type=kind, program_id=program_id) for kind in chosen
    )
    await session.flush()
    return endpoint, endpoint.secret


async def endpoints_of(
    session: AsyncSession, principal: Principal, program_id: int | None = None
) -> list[Subscription]:
    program_id = _program_of(principal, program_id)
    endpoints = list(
        await session.scalars(
            select(WebhookEndpoint).where(WebhookEndpoint.program_id == program_id).order_by(WebhookEndpoint.id)
        )
    )
    events: dict[int, list[str]] = {endpoint.id: [] for endpoint in endpoints}
    for endpoint_id, kind in await session.execute(
        select(WebhookSubscription.endpoint_id, WebhookSubscription.event_type).where(
            WebhookSubscription.program_id == program_id
        )
    ):
        events.setdefault(endpoint_id, []).append(kind)
    return [Subscription(e, sorted(events[e.id], key=EVENT_TYPES.index)) for e in endpoints]


async def endpoint_of(session: AsyncSession, principal: Principal, endpoint_id: int) -> WebhookEndpoint:
    program_id = _program_of(principal)
    endpoint = await session.scalar(
        select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.program_id == program_id)
    )
    if endpoint is None:
        raise NotFound()
    return endpoint


async def delete_endpoint(session: AsyncSession, principal: Principal, endpoint_id: int) -> None:
    """Remove an endpoint with its subscriptions and delivery log."""
    endpoint = await endpoint_of(session, principal, endpoint_id)
    await session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    await session.execute(delete(WebhookSubscription).where(WebhookSubscription.endpoint_id == endpoint.id))
    await session.execute(delete(WebhookEndpoint).where(WebhookEndpoint.id == endpoint.id))


async def rotate_secret(session: AsyncSession, principal: Principal, endpoint_id: int) -> str:
    """A new secret (shown once); the old one signs beside it for a day, so the receiver can switch over."""
    endpoint = await endpoint_of(session, principal, endpoint_id)
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_until = utcnow() + ROTATION_OVERLAP
    endpoint.secret = new_secret()
    return endpoint.secret


async def enable_endpoint(session: AsyncSession, principal: Principal, endpoint_id: int) -> None:
    """Enable a disabled endpoint again: its waiting deliveries go out at once."""
    endpoint = await endpoint_of(session, principal, endpoint_id)
    if endpoint.disabled_at is None:
        return
    endpoint.disabled_at = None
    endpoint.failing_since = None
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.status == DeliveryStatus.PENDING)
        .values(next_attempt_at=utcnow())
    )
    wake_after_commit(session, WEBHOOKS)


async def deliveries_of(
    session: AsyncSession, principal: Principal, endpoint_id: int, *, limit: int = 50, before: int | None = None
) -> list[WebhookDelivery]:
    """The endpoint's deliveries, newest first (`before`: a delivery id, to page on)."""
    endpoint = await endpoint_of(session, principal, endpoint_id)
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    if before is not None:
        query = query.where(WebhookDelivery.id < before)
    return list(await session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit)))


async def retry_delivery(
    session: AsyncSession, principal: Principal, endpoint_id: int, delivery_id: int, now: dt.datetime | None = None
) -> WebhookDelivery:
    """Due now, whatever its state (a delivered one is sent again, with the same webhook-id); the sender is woken
    after the commit. A delivery a sender holds right now keeps its claim and is sent again after it."""
    endpoint = await endpoint_of(session, principal, endpoint_id)
    if endpoint.disabled_at is not None:
        raise InvalidState(N_("This webhook is disabled. Enable it again first."))
    delivery = await session.scalar(
        select(WebhookDelivery).where(WebhookDelivery.id == delivery_id, WebhookDelivery.endpoint_id == endpoint.id)
    )
    if delivery is None:
        raise NotFound()
    delivery.status = DeliveryStatus.PENDING
    delivery.next_attempt_at = now or utcnow()
    wake_after_commit(session, WEBHOOKS)
    return delivery


async def send_test(session: AsyncSession, principal: Principal, endpoint_id: int) -> WebhookDelivery:
    """A test event for one endpoint, sent like any other (signed, retried)."""
    endpoint = await endpoint_of(session, principal, endpoint_id)
    now = utcnow()
    delivery = WebhookDelivery(
        endpoint_id=endpoint.id,
        program_id=endpoint.program_id,
        message_id=f"msg_{uuid.uuid4().hex}",
        event_type=TEST_EVENT,
        event_at=now,
        data={"endpoint_id": endpoint.id, "program_id": endpoint.program_id, "sent_at": iso(now)},
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(delivery)
    await session.flush()
    wake_after_commit(session, WEBHOOKS)
    return delivery
