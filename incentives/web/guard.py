"""Refuses text no column can hold before any handler sees it: NUL characters in a query string or a form.

PostgreSQL's text types cannot store U+0000, and a query with one fails in the driver. JSON bodies are checked
where they are parsed (web/jsonbody.py); this middleware covers query parameters everywhere and the url-encoded
forms of the pages, answering 422 naming the field, as a problem (API) or a translated page.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from incentives.errors import N_, FieldError, ValidationFailed
from incentives.web.csrf import replaying

NUL = N_("Must not contain NUL characters.")
FORM = "application/x-www-form-urlencoded"


def nul_fields(encoded: str, where: str) -> list[FieldError]:
    pairs = parse_qsl(encoded, keep_blank_values=True, errors="replace")
    return [FieldError((where, name.replace("\x00", "")), NUL) for name, value in pairs if "\x00" in name + value]


class NulGuardMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        errors = nul_fields(scope.get("query_string", b"").decode("latin-1"), "query")
        if not errors and Headers(scope=scope).get("content-type", "").startswith(FORM):
            body = await Request(scope, receive).body()
            errors = nul_fields(body.decode("latin-1"), "form")
            receive = replaying(body, receive)
        if errors:
            from incentives.web.errors import error_response  # the page renderer lives with the handlers

            response = await error_response(Request(scope, receive), ValidationFailed(errors))
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
