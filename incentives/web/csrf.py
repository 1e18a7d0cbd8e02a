"""Lets asgi-csrf check multipart forms (file uploads) too.

asgi-csrf 0.11 parses multipart bodies with an API that python-multipart 0.0.3x no longer has, but it
also accepts the token in the `x-csrftoken` header. For a multipart POST without that header this
middleware reads the body (already capped by BodyLimitMiddleware), takes the form's `csrftoken` field
with Starlette's own parser, passes it on as the header and replays the body unchanged; asgi-csrf then
compares it with the signed cookie as for any other form.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from asgi_csrf import asgi_csrf
from starlette.datastructures import Headers
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from incentives.web.context import is_api

_ORIGINAL = "incentives.multipart_content_type"
_MASK = b"application/x-multipart-masked"


class PageCsrf:
    """CSRF protection for pages: asgi-csrf, with multipart forms checked too (see below).

    The API authenticates with bearer tokens only, never with the session cookie, so there is nothing to
    forge: API requests go straight on, without a CSRF token minted and signed for each of them.
    """

    def __init__(self, app: ASGIApp, /, **options: Any) -> None:
        self.app = app
        self.protected: ASGIApp = MultipartCsrfHeader(asgi_csrf(RestoreContentType(app), **options))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_api(scope):
            await self.app(scope, receive, send)
        else:
            await self.protected(scope, receive, send)


class MultipartCsrfHeader:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if (
            scope["method"] in ("GET", "HEAD", "OPTIONS")
            or not headers.get("content-type", "").startswith("multipart/form-data")
            or "x-csrftoken" in headers
        ):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)

        async def stream() -> AsyncGenerator[bytes, None]:
            yield body

        token = ""
        try:
            form = await MultiPartParser(headers, stream()).parse()
            value = form.get("csrftoken")
            token = value if isinstance(value, str) else ""
            await form.close()
        except MultiPartException:
            token = ""  # a broken body: asgi-csrf refuses it for the missing token
        original = headers["content-type"].encode("latin-1")
        scope = dict(scope)
        scope[_ORIGINAL] = original
        scope["headers"] = [
            *[(k, v) for k, v in scope["headers"] if k != b"content-type"],
            (b"content-type", _MASK),
            (b"x-csrftoken", token.encode("latin-1", "replace")),
        ]
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class RestoreContentType:
    """Undoes MultipartCsrfHeader's mask once asgi-csrf has accepted the request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        original = scope.get(_ORIGINAL)
        if original is not None:
            scope = dict(scope)
            scope["headers"] = [
                *[(k, v) for k, v in scope["headers"] if k not in (b"content-type", b"x-csrftoken")],
                (b"content-type", original),
            ]
        await self.app(scope, receive, send)
