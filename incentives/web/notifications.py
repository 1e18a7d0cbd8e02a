"""The in-app notifications page: newest first, in the reader's language; mark one or all read."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from incentives.accounts.roles import Role
from incentives.errors import N_
from incentives.notifications import services
from incentives.notifications.grouping import group_notifications
from incentives.web import nav
from incentives.web.context import current_db, current_principal
from incentives.web.pwa import push_key
from incentives.web.templating import is_htmx, render, see_other

# Resellers see the unread count beside their balance (includes/pulse.html), which links here.
nav.register(
    "/notifications", N_("Notifications"), set(Role), order=90, more_for={Role.RESELLER_MANAGER, Role.RESELLER_REP}
)


async def notifications(request: Request) -> Response:
    principal = current_principal(request)
    locale: str = request.state.locale
    async with current_db(request).reader() as session:
        found = await services.list_notifications(session, principal, limit=100)
        unread = await services.unread_count(session, principal)
    groups = group_notifications(found, locale)
    return render(
        request,
        "notifications/list.html",
        {"groups": groups, "unread": unread, "css": "/static/rewards-1.css", "push_key": push_key(request)},
        block="list",
    )


async def mark_read(request: Request) -> Response:
    principal = current_principal(request)
    form = await request.form()
    # A group is marked read as a whole: its form sends the ids of all its notices. No id: all of them.
    raw = [value for value in form.getlist("id") if isinstance(value, str)]
    ids = [int(value) for value in raw if value.isascii() and value.isdigit()] if raw else None
    async with current_db(request).transaction() as session:
        await services.mark_read(session, principal, ids)
    if not is_htmx(request):
        return see_other("/notifications")
    response = await notifications(request)
    response.headers["HX-Trigger"] = "notifications-read"  # this page's header count refreshes at once
    return response


routes = [
    Route("/notifications", notifications),
    Route("/notifications/read", mark_read, methods=["POST"]),
]
