"""Answering an unchanged live fragment (304) without reading the database.

Open pages refetch their live parts on every notice and poll slowly as a fallback; most polls find nothing new.
A fragment rendered here carries an ETag that names the live topics it shows, how long its content stays true
by the clock ("3 hours left" turns into "2" on its own), and a MAC over those, the topics' versions before it
was read (incentives.live), the reader's session, the language inputs and the request. While all of them still
hold, `UnchangedPollMiddleware` answers the next poll with 304 after one look at the versions — before the
session's user is loaded. The body of a 304 is empty, so a cookie ended a moment ago learns nothing from it; its
next real answer (at the latest when the stamp expires) does the full check.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from incentives import live
from incentives.db import Database, utcnow
from incentives.i18n import LOCALES_DIR
from incentives.web.templating import VARY, unless_unchanged

PREFIX = 'W/"u1.'
FRESH_SECONDS = 60  # a stamp is trusted at most this long, whatever the notices say
Seen = tuple[str, str | None]  # the topics a fragment shows and their versions before it read anything
_TEMPLATES = Path(__file__).parent / "templates"


@cache
def _build() -> str:
    """What a deploy changes in a fragment: its templates and catalogs (the same in every process of a release)."""
    digest = hashlib.sha256()
    for folder, pattern in ((_TEMPLATES, "**/*.html"), (LOCALES_DIR, "**/*.mo")):
        for path in sorted(folder.glob(pattern)):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _mac(secret: str, scope: Scope, topics: str, until: int, versions: str) -> str:
    session: dict[str, Any] = scope.get("session", {})
    headers = Headers(scope=scope)
    signed = "|".join(
        (
            _build(),
            str(session.get("uid")),
            str(session.get("epoch")),
            str(session.get("locale")),
            headers.get("accept-language", ""),
            scope["path"],
            scope.get("query_string", b"").decode("latin-1"),
            topics,
            str(until),
            versions,
        )
    )
    return hmac.new(secret.encode(), signed.encode(), hashlib.sha256).hexdigest()[:32]


async def versions_before_reading(request: Request, topics: Iterable[str]) -> Seen:
    """The topics (joined) and their versions, read before the fragment's data so a change in between shows."""
    joined = ",".join(sorted(set(topics)))
    db: Database = request.state.db
    return joined, await live.versions(db, joined.split(","))


def stamp(request: Request, response: Response, seen: Seen, fresh_until: float) -> Response:
    """Give a rendered fragment its ETag (or the plain 304 when the browser has exactly this body already)."""
    topics, versions = seen
    if versions is None or response.status_code != 200 or request.headers.get("HX-Request") != "true":
        return unless_unchanged(request, response)  # the body-hash form, where no versions are kept
    until = int(min(fresh_until, utcnow().timestamp() + FRESH_SECONDS))
    mac = _mac(request.state.settings.secret_key, request.scope, topics, until, versions)
    response.headers["ETag"] = f'{PREFIX}{topics}.{until}.{mac}"'
    response.headers["Cache-Control"] = "no-cache, private"
    return response


class UnchangedPollMiddleware:
    """Answers 304 to a poll of a stamped fragment whose topics, session and clock all say nothing changed."""

    def __init__(self, app: ASGIApp, secret_key: str) -> None:
        self.app = app
        self.secret_key = secret_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and await self._unchanged(scope):
            headers = Headers(scope=scope)
            await Response(
                status_code=304,
                headers={"ETag": headers["if-none-match"], "Vary": VARY, "Cache-Control": "no-cache, private"},
            )(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _unchanged(self, scope: Scope) -> bool:
        headers = Headers(scope=scope)
        etag = headers.get("if-none-match", "")
        if not etag.startswith(PREFIX) or headers.get("hx-request") != "true" or not etag.endswith('"'):
            return False
        parts = etag[len(PREFIX) : -1].rsplit(".", 2)
        if len(parts) != 3 or not parts[1].isdigit() or int(parts[1]) <= utcnow().timestamp():
            return False
        topics, until, mac = parts[0], int(parts[1]), parts[2]
        if "uid" not in scope.get("session", {}):
            return False
        versions = await live.versions(scope["state"]["db"], topics.split(","))
        if versions is None:
            return False
        return hmac.compare_digest(mac, _mac(self.secret_key, scope, topics, until, versions))
