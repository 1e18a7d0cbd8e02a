"""CSRF protection for the pages: an unsafe request must come from our own site and carry the session's token.

Pages authenticate with the session cookie, which a browser also sends when another site makes it post to
us. So a POST, PUT, PATCH or DELETE to a page must (1) come from this site: `Sec-Fetch-Site` same-origin or
none, or, from a browser that does not send it, an `Origin` (failing that, a `Referer`) of BASE_URL or of the
request's own host; and (2) carry the random token kept in the signed session: htmx sends it in the
`X-CSRFToken` header (`hx-headers` on `<body>`), plain forms and file uploads as the `csrftoken` field.

The API (/api/...) authenticates with bearer tokens only, which no other site can make a browser send, and
never with the session, so it needs no token. Which of the two a request is follows from its path alone, as
in RequestContextMiddleware: no header turns a page request into an API one.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from incentives.web.context import is_api

SESSION_KEY = "csrf"
HEADER = "x-csrftoken"
FORM_FIELD = "csrftoken"
# Signed e-mail links (web/mail_links.py): the token in the path is the credential, not the session cookie, so a
# POST from a mail client (RFC 8058 one-click unsubscribe) or a page opened from an e-mail needs no CSRF token; a
# forged request cannot act without a token signed for its user.
SIGNED_LINK_PREFIXES = ("/a/", "/unsubscribe/")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def csrf_token(request: Request) -> str:
    """This session's token, made on first use; login and logout clear the session and so renew it."""
    if "session" not in request.scope:  # an error page for a request that failed before its session was read
        return ""
    token = request.session.get(SESSION_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[SESSION_KEY] = token
    return token


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class CsrfMiddleware:
    """Refuses unsafe page requests from other sites or without the session's token, with `on_refused`."""

    def __init__(
        self, app: ASGIApp, *, trusted_origins: Iterable[str], on_refused: Callable[[Request], Awaitable[Response]]
    ) -> None:
        self.app = app
        self.trusted_origins = {origin_of(url) for url in trusted_origins}
        self.on_refused = on_refused

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] in SAFE_METHODS
            or is_api(scope)
            or scope["path"].startswith(SIGNED_LINK_PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        if not self.from_this_site(request):
            await self.refuse(request, send)
            return
        sent = request.headers.get(HEADER)
        if sent is None and request.headers.get("content-type", "").startswith(FORM_TYPES):
            # A plain form or an upload: the token is a field. Read it with Starlette's own parser, then hand
            # the app the same body again (already capped by BodyLimitMiddleware) for its handler to read.
            body = await request.body()
            sent = await form_field(Request(scope, replaying(body, receive)), FORM_FIELD)
            receive = replaying(body, receive)
        if not matches(sent, request.session.get(SESSION_KEY)):
            await self.refuse(request, send)
            return
        await self.app(scope, receive, send)

    def from_this_site(self, request: Request) -> bool:
        site = request.headers.get("sec-fetch-site")
        if site is not None:
            return site in ("same-origin", "none")
        origin = request.headers.get("origin") or request.headers.get("referer")
        if not origin:
            return False
        own = f"{request.url.scheme}://{request.url.netloc}".lower()
        return origin_of(origin) in (*self.trusted_origins, own)

    async def refuse(self, request: Request, send: Send) -> None:
        response = await self.on_refused(request)
        await response(request.scope, request.receive, send)


def matches(sent: str | None, expected: object) -> bool:
    if not (isinstance(sent, str) and isinstance(expected, str) and sent.isascii()):
        return False
    return secrets.compare_digest(sent, expected)


async def form_field(request: Request, name: str) -> str | None:
    try:
        async with request.form() as form:
            value = form.get(name)
    except (HTTPException, MultiPartException):  # a broken body carries no token
        return None
    return value if isinstance(value, str) else None


def replaying(body: bytes, receive: Receive) -> Receive:
    """A receive that gives `body` once, then whatever comes next (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
