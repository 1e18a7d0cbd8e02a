"""The admins' webhooks page: subscriptions of the program, add one, send a test event, rotate the secret, and
each endpoint's delivery log with retry now. The same services as the API; a secret is shown once."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from incentives.accounts.roles import Role
from incentives.accounts.scope import Principal
from incentives.errors import N_, DomainError, InvalidState, NotFound
from incentives.web import nav
from incentives.web.api.webhooks import allow_private
from incentives.web.context import current_db, current_principal
from incentives.web.forms import error_message, form_errors
from incentives.web.rules import CSS
from incentives.web.templating import render, see_other
from incentives.webhooks import services
from incentives.webhooks.outbox import EVENT_TYPES

nav.register("/webhooks", N_("Webhooks"), {Role.ADMIN}, order=36, more_for={Role.ADMIN})

EVENT_LABELS = {
    "lead.offered": N_("A lead was offered to partners"),
    "lead.reserved": N_("A partner reserved a lead"),
    "lead.feedback": N_("A partner gave feedback on a lead"),
    "lead.won": N_("A lead was won"),
    "lead.lost": N_("A lead was lost"),
    "lead.returned": N_("A partner returned a lead"),
    "lead.unclaimed": N_("Nobody took a lead"),
    "points.awarded": N_("Points were awarded"),
    "points.reversed": N_("Points were taken back"),
    "redemption.requested": N_("A reward was redeemed"),
    "redemption.approved": N_("A redemption was approved"),
    "redemption.rejected": N_("A redemption was rejected"),
    "achievement.earned": N_("A badge was earned"),
    services.TEST_EVENT: N_("Test event"),
}
STATUS_LABELS = {"pending": N_("Pending"), "delivered": N_("Delivered"), "failed": N_("Failed")}
RECENT = 100


def _admin(request: Request) -> Principal:
    who = current_principal(request)
    if who.role is not Role.ADMIN or who.program_id is None:
        raise NotFound()
    return who


async def webhooks_page(request: Request) -> Response:
    """GET: the subscriptions and the form. POST: add one and show its secret, once."""
    who = _admin(request)
    assert who.program_id is not None
    db = current_db(request)
    values: dict[str, object] = {"url": "", "description": "", "events": []}
    errors: dict[str, str] = {}
    created: tuple[int, str] | None = None
    if request.method == "POST":
        form = await request.form()
        chosen = [str(v) for v in form.getlist("events")]
        values = {"url": str(form.get("url", "")), "description": str(form.get("description", "")), "events": chosen}
        try:
            async with db.transaction() as session:
                endpoint, secret = await services.create_endpoint(
                    session,
                    who,
                    program_id=who.program_id,
                    url=str(values["url"]),
                    events=chosen,
                    description=str(values["description"]),
                    allow_private=allow_private(request),
                )
            created = (endpoint.id, secret)
            values = {"url": "", "description": "", "events": []}
        except DomainError as error:
            errors = form_errors(request, error)
    async with db.reader() as session:
        found = await services.endpoints_of(session, who)
    context = {
        "subscriptions": found,
        "values": values,
        "errors": errors,
        "created": created,
        "event_types": EVENT_TYPES,
        "labels": EVENT_LABELS,
        "css": CSS,
    }
    return render(request, "webhooks/list.html", context, status_code=422 if errors else 200)


async def endpoint_page(request: Request, *, secret: str | None = None, error: str | None = None) -> Response:
    """One endpoint and its delivery log (an HTMX request gets the log alone, to refresh it)."""
    who = _admin(request)
    endpoint_id: int = request.path_params["id"]
    async with current_db(request).reader() as session:
        endpoint = await services.endpoint_of(session, who, endpoint_id)
        deliveries = await services.deliveries_of(session, who, endpoint_id, limit=RECENT)
    context = {
        "endpoint": endpoint,
        "deliveries": deliveries,
        "secret": secret,
        "error": error,
        "labels": EVENT_LABELS,
        "statuses": STATUS_LABELS,
        "css": CSS,
    }
    return render(request, "webhooks/endpoint.html", context, block="deliveries")


async def test_send(request: Request) -> Response:
    who = _admin(request)
    async with current_db(request).transaction() as session:
        await services.send_test(session, who, request.path_params["id"])
    return await _after_action(request)


async def rotate(request: Request) -> Response:
    who = _admin(request)
    async with current_db(request).transaction() as session:
        secret = await services.rotate_secret(session, who, request.path_params["id"])
    return await endpoint_page(request, secret=secret)


async def enable(request: Request) -> Response:
    who = _admin(request)
    async with current_db(request).transaction() as session:
        await services.enable_endpoint(session, who, request.path_params["id"])
    return see_other(f"/webhooks/{request.path_params['id']}")


async def remove(request: Request) -> Response:
    who = _admin(request)
    async with current_db(request).transaction() as session:
        await services.delete_endpoint(session, who, request.path_params["id"])
    return see_other("/webhooks")


async def retry(request: Request) -> Response:
    who = _admin(request)
    try:
        async with current_db(request).transaction() as session:
            await services.retry_delivery(session, who, request.path_params["id"], request.path_params["delivery_id"])
    except InvalidState as failure:  # a disabled endpoint: said on the page
        return await endpoint_page(request, error=error_message(request, failure))
    return await _after_action(request)


async def _after_action(request: Request) -> Response:
    """An HTMX form gets the refreshed log in place; a plain form post goes to the endpoint's page."""
    if request.headers.get("HX-Request") == "true":
        return await endpoint_page(request)
    return see_other(f"/webhooks/{request.path_params['id']}")


routes = [
    Route("/webhooks", webhooks_page, methods=["GET", "POST"]),
    Route("/webhooks/{id:id}", endpoint_page, methods=["GET"]),
    Route("/webhooks/{id:id}/test", test_send, methods=["POST"]),
    Route("/webhooks/{id:id}/rotate", rotate, methods=["POST"]),
    Route("/webhooks/{id:id}/enable", enable, methods=["POST"]),
    Route("/webhooks/{id:id}/delete", remove, methods=["POST"]),
    Route("/webhooks/{id:id}/deliveries/{delivery_id:id}/retry", retry, methods=["POST"]),
]
