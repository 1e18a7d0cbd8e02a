"""GET /events: one server-sent event stream per open page of a logged-in user (htmx's SSE extension).

The stream carries what `incentives.live` hears for the user's org and programs, as events the page listens
for: `picklist`, `pulse` and `leaderboard` make a part of the page refetch itself (the fragments answer 304
when nothing changed for this user); `lead-{id}` replaces a card of a lead another partner has just taken with
a note saying so, rendered here in the user's language. A reconnect (the browser sends Last-Event-ID) may have
missed notices, so every live part refetches once. Polling stays as the slow fallback.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from typing import Any

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.routing import Route

from incentives import live
from incentives.accounts import queries as accounts_queries
from incentives.accounts.scope import Principal
from incentives.leads.errors import AlreadyReserved
from incentives.web.context import current_db, current_principal

PING_SECONDS = 15  # a comment line now and then keeps proxies from closing an idle stream
SEND_TIMEOUT_SECONDS = 10  # a client that does not read for this long is dropped
REFRESH = ("picklist", "pulse", "leaderboard")
_IDS = itertools.count()


async def page_topics(request: Request, who: Principal) -> set[str]:
    """The live topics of what `who`'s pages show: its org and its programs, or the program it works for."""
    if who.acts_for_program:
        assert who.program_id is not None
        return {live.program_topic(who.program_id)}
    async with current_db(request).reader() as session:
        programs = await accounts_queries.member_program_ids(session, who.org_id)
    return {live.org_topic(who.org_id), *(live.program_topic(program) for program in programs)}


def _event_id() -> str:
    return f"{time.time_ns()}-{next(_IDS)}"


async def events(request: Request) -> EventSourceResponse:
    who = current_principal(request)
    hub: live.Hub = request.state.hub
    topics = await page_topics(request, who)
    card = request.state.templates.env.get_template("leads/includes/card_message.html")
    context: dict[str, Any] = {"locale": request.state.locale, "error": AlreadyReserved()}

    async def stream() -> AsyncIterator[ServerSentEvent]:
        async with hub.subscribe(topics) as queue:
            if request.headers.get("last-event-id"):
                for name in REFRESH:
                    yield ServerSentEvent(data="", event=name, id=_event_id())
            while True:
                notice = await queue.get()
                if notice.event == "lead.taken":
                    if notice.data.get("org") == who.org_id:
                        continue  # the winner's own pages move on to the lead
                    lead_id = int(notice.data["lead"])
                    html = card.render(context, lead_id=lead_id)
                    yield ServerSentEvent(data=html, event=f"lead-{lead_id}", id=_event_id())
                else:
                    yield ServerSentEvent(data="", event=notice.event, id=_event_id())

    return EventSourceResponse(
        stream(), ping=PING_SECONDS, send_timeout=SEND_TIMEOUT_SECONDS, headers={"Cache-Control": "no-store"}
    )


routes = [Route("/events", events)]
