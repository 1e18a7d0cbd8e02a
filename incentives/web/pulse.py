"""GET /me/pulse: the small fragment in every partner page's header (base.html) that htmx polls every 2 s.

It answers the header balance and any award toasts not shown yet (marking them seen), or 304 Not Modified
when the ETag the browser sends says nothing changed. Server-sent events will replace the polling later;
the fragment and this endpoint are all that polling needs.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from incentives.db import utcnow
from incentives.errors import NotFound
from incentives.leads.services import PICKERS
from incentives.notifications import pulse as live
from incentives.notifications.services import show
from incentives.web.context import current_db, current_principal
from incentives.web.templating import render

PULSE_VARY = "HX-Request, Cookie, Accept-Language"


async def pulse(request: Request) -> Response:
    who = current_principal(request)
    if who.role not in PICKERS:
        raise NotFound()
    locale: str = request.state.locale
    async with current_db(request).reader() as session:
        state = await live.pulse(session, who, utcnow())
    etag = state.etag(locale)
    if not state.toasts and etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers={"ETag": etag, "Cache-Control": "no-cache", "Vary": PULSE_VARY})
    if state.toasts:
        async with current_db(request).transaction() as session:
            await live.mark_toasted(session, who.user_id, state.toasts[-1].id)
    response = render(
        request,
        "includes/pulse.html",
        {"balances": state.balances, "unread": state.unread, "toasts": [show(toast, locale) for toast in state.toasts]},
    )
    if state.toasts:
        response.headers["Cache-Control"] = "no-store"  # shown once: never replayed from a cache
    else:
        response.headers["ETag"] = etag
        response.headers["Cache-Control"] = "no-cache"
    return response


routes = [Route("/me/pulse", pulse)]
