"""Webhook endpoints of API.md ("Channels"): subscribe a URL (the secret is shown once), list, remove, read the
delivery log and send a delivery again now. A program's admins only; everyone else finds nothing (404)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints
from starlette.requests import Request
from starlette.responses import Response

from incentives.errors import InvalidState, NotFound, ValidationFailed
from incentives.web.api.base import Api, database, json_response, page_limit, parse_body, path_id, principal, query_int
from incentives.web.api.schemas import Strict
from incentives.webhooks import services
from incentives.webhooks.models import WebhookDelivery
from incentives.webhooks.outbox import iso

api = Api()
SCOPED = (NotFound,)  # outside the caller's program, or not its admin: 404


class WebhookIn(Strict):
    program_id: int
    url: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=services.MAX_URL)]
    events: Annotated[list[str], Field(max_length=50)]
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""


class WebhookCreated(BaseModel):
    id: int
    secret: str


class DeliveryOut(BaseModel):
    id: int
    event_type: str
    status: str
    attempts: int
    last_status_code: int | None = None
    next_attempt_at: str | None = None


class DeliveriesOut(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None = None


def webhook_out(subscription: services.Subscription) -> dict[str, Any]:
    endpoint = subscription.endpoint
    return {
        "id": endpoint.id,
        "program_id": endpoint.program_id,
        "url": endpoint.url,
        "events": subscription.events,
        "description": endpoint.description,
        "enabled": endpoint.disabled_at is None,
        "disabled_at": iso(endpoint.disabled_at),
        "failing_since": iso(endpoint.failing_since),
        "created_at": iso(endpoint.created_at),
    }


def delivery_out(delivery: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "event_type": delivery.event_type,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "last_status_code": delivery.last_status_code,
        "next_attempt_at": iso(delivery.next_attempt_at) if delivery.status == "pending" else None,
        "last_attempt_at": iso(delivery.last_attempt_at),
        "delivered_at": iso(delivery.delivered_at),
        "created_at": iso(delivery.created_at),
        "webhook_id": delivery.message_id,
    }


def allow_private(request: Request) -> bool:
    """Loopback and private addresses are for development and tests, never in production."""
    return not request.state.settings.production


@api.route(
    "POST",
    "/api/v1/webhooks",
    summary="Subscribe a URL to a program's events (the secret is shown only in this answer)",
    body=WebhookIn,
    response=WebhookCreated,
    status=201,
    errors=(*SCOPED, ValidationFailed),
)
async def post_webhook(request: Request) -> Response:
    who = principal(request)
    body = await parse_body(request, WebhookIn)
    async with database(request).transaction() as session:
        endpoint, secret = await services.create_endpoint(
            session,
            who,
            program_id=body.program_id,
            url=body.url,
            events=body.events,
            description=body.description,
            allow_private=allow_private(request),
        )
    return json_response({"id": endpoint.id, "secret": secret}, 201)


@api.route("GET", "/api/v1/webhooks", summary="The program's webhooks (admins)", errors=(*SCOPED, ValidationFailed))
async def get_webhooks(request: Request) -> Response:
    who = principal(request)
    async with database(request).reader() as session:
        found = await services.endpoints_of(session, who, query_int(request, "program_id"))
    return json_response({"items": [webhook_out(s) for s in found], "next_cursor": None})


@api.route("DELETE", "/api/v1/webhooks/{id:id}", summary="Remove a webhook and its delivery log", errors=SCOPED)
async def delete_webhook(request: Request) -> Response:
    async with database(request).transaction() as session:
        await services.delete_endpoint(session, principal(request), path_id(request))
    return Response(status_code=204)


@api.route(
    "GET",
    "/api/v1/webhooks/{id:id}/deliveries",
    summary="A webhook's deliveries, newest first",
    response=DeliveriesOut,
    errors=(*SCOPED, ValidationFailed),
)
async def get_deliveries(request: Request) -> Response:
    limit = page_limit(request)
    before = query_int(request, "cursor")
    async with database(request).reader() as session:
        found = await services.deliveries_of(
            session, principal(request), path_id(request), limit=limit + 1, before=before
        )
    more = len(found) > limit
    items = found[:limit]
    cursor = str(items[-1].id) if more and items else None
    return json_response({"items": [delivery_out(d) for d in items], "next_cursor": cursor})


@api.route(
    "POST",
    "/api/v1/webhooks/{id:id}/deliveries/{delivery_id:id}/retry",
    summary="Send a delivery again now (the same webhook-id)",
    status=202,
    errors=(*SCOPED, InvalidState),
)
async def retry_delivery(request: Request) -> Response:
    async with database(request).transaction() as session:
        delivery = await services.retry_delivery(
            session, principal(request), path_id(request), path_id(request, "delivery_id")
        )
        answer = delivery_out(delivery)
    return json_response(answer, 202)
