"""Per-request context: who is asking (session or bearer token), in which language, and body limits."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from incentives.accounts.scope import Principal
from incentives.accounts.services import load_user, program_default_locale
from incentives.accounts.token_check import TOKEN_PREFIX, token_holder
from incentives.config import Settings
from incentives.db import Database
from incentives.errors import N_, PayloadTooLarge, Unauthorized
from incentives.i18n import negotiate_locale, parse_accept_language


def is_api(scope: Scope) -> bool:
    return str(scope.get("path", "")).startswith("/api/")


def current_principal(request: Request) -> Principal:
    """Who is asking; a page without a login redirects to it, the API answers 401 asking for a token."""
    found: Principal | None = request.state.principal
    if found is None:
        api = is_api(request.scope)
        raise Unauthorized(N_("A valid bearer token is required (Authorization: Bearer <token>).") if api else None)
    return found


def current_db(request: Request) -> Database:
    db: Database = request.state.db
    return db


class RequestContextMiddleware:
    """Loads who is asking (the signed session cookie on pages, a bearer token on /api) and picks the locale.

    Sets `request.state.principal` and `.locale`, and on pages `.user` (the API has no page user: None).
    The API follows Accept-Language first, as API.md promises, then the default language of the token's program
    (the same for every caller, whatever their own setting); pages follow the user's setting, then their
    explicit choice, then the browser, then the program.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        if is_api(scope):
            await self._api(scope, state)
        else:
            await self._page(scope, state)
        await self.app(scope, receive, send)

    async def _api(self, scope: Scope, state: dict[str, Any]) -> None:
        """The token's holder, checked in the database on every request: one statement, no ORM session."""
        headers = Headers(scope=scope)
        auth = headers.get("authorization", "")
        holder = None
        if auth[:7].lower() == "bearer " and auth[7:].strip().startswith(TOKEN_PREFIX):
            holder = await token_holder(state["db"].engine, auth[7:].strip())
            if holder is not None and holder.note_use is not None:
                async with state["db"].engine.begin() as conn:  # its own short write, not the request's
                    await conn.execute(holder.note_use)
        settings: Settings = state["settings"]
        state["user"] = None
        state["principal"] = holder.principal if holder else None
        state["locale"] = (
            parse_accept_language(headers.get("accept-language"))
            or (holder.program_locale if holder else None)
            or settings.default_locale
        )

    async def _page(self, scope: Scope, state: dict[str, Any]) -> None:
        db: Database = state["db"]
        settings: Settings = state["settings"]
        session: dict[str, Any] = scope.get("session", {})
        user = None
        program_locale = None
        async with db.reader() as dbs:
            if isinstance(session.get("uid"), int):
                epoch = session.get("epoch", 0)
                user = await load_user(dbs, session["uid"], epoch if isinstance(epoch, int) else -1)
                if user is None:  # logged out (maybe on a copy of this cookie) or deactivated
                    session.pop("uid", None)
                    session.pop("epoch", None)
            # The program's default language matters only for a page whose reader has chosen none.
            if user is not None and user.locale is None and not session.get("locale"):
                program_locale = await program_default_locale(dbs, Principal.of(user))
        state["user"] = user
        state["principal"] = Principal.of(user) if user is not None else None
        state["locale"] = negotiate_locale(
            user_setting=user.locale if user else None,
            explicit_choice=session.get("locale"),
            accept_language=Headers(scope=scope).get("accept-language"),
            program_default=program_locale,
            fallback=settings.default_locale,
        )


class BodyLimitMiddleware:
    """Refuses bodies above the configured size, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (not (declared.isascii() and declared.isdigit()) or int(declared) > self.max_bytes):
            await self._reject(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise PayloadTooLarge()
            return message

        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except PayloadTooLarge:
            if started:
                raise
            await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        from incentives.web.errors import error_response  # the page renderer lives with the handlers

        response: Response = await error_response(Request(scope, receive), PayloadTooLarge())
        await response(scope, receive, send)
