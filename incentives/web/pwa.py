"""The installable app: web app manifest, service worker (app shell and offline page) and Web Push subscriptions.

The service worker caches only the fingerprinted static files and the offline page, never a page or an API
answer: those are private and live. Its script is served from the root so that its scope is the whole site.
"""

from __future__ import annotations

import hashlib
from functools import cache

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from incentives import i18n
from incentives.config import Settings
from incentives.errors import N_, FieldError, ValidationFailed
from incentives.notifications import push
from incentives.web.api.base import parse_body
from incentives.web.context import current_db, current_principal
from incentives.web.static_files import static_url
from incentives.web.templating import render
from incentives.webhooks.sending import resolves_private

THEME = "#0b5cad"
BACKGROUND = "#ffffff"
SHELL_FILES = ("app.css", "htmx-2.0.11.min.js", "htmx-ext-sse-2.2.4.min.js", "pwa.js", "icon-192.png")
BASE64URL = r"^[A-Za-z0-9_-]+=*$"


def push_key(request: Request) -> str | None:
    """The VAPID public key browsers subscribe with; None when Web Push is not configured."""
    settings: Settings = request.state.settings
    keys = push.keys_from(settings.vapid_private_key, settings.vapid_subject)
    return keys.public_key if keys else None


def shell() -> list[str]:
    """What the service worker keeps for offline use: the app's fingerprinted static files and the offline page."""
    return [static_url(name) for name in SHELL_FILES] + ["/offline"]


@cache
def shell_version() -> str:
    """Changes whenever a shell file does: a new worker then replaces the old cache."""
    return hashlib.sha256(" ".join(shell()).encode()).hexdigest()[:12]


async def manifest(request: Request) -> Response:
    locale: str = request.state.locale
    body = {
        "name": i18n.gettext(locale, N_("Partner incentives")),
        "short_name": "incentives",
        "description": i18n.gettext(locale, N_("Pick leads, give feedback, earn points.")),
        "lang": locale,
        "start_url": "/?source=app",
        "scope": "/",
        "display": "standalone",
        "background_color": BACKGROUND,
        "theme_color": THEME,
        "icons": [
            {"src": static_url("icon-192.png"), "sizes": "192x192", "type": "image/png"},
            {"src": static_url("icon-512.png"), "sizes": "512x512", "type": "image/png"},
            {"src": static_url("icon-512.png"), "sizes": "512x512", "type": "image/png", "purpose": "maskable"},
        ],
    }
    return JSONResponse(body, media_type="application/manifest+json", headers={"Cache-Control": "no-cache"})


async def service_worker(request: Request) -> Response:
    script = request.state.templates.get_template("pwa/sw.js").render(
        version=shell_version(), shell=shell(), offline="/offline", icon=static_url("icon-192.png")
    )
    return Response(script, media_type="text/javascript", headers={"Cache-Control": "no-cache"})


async def offline(request: Request) -> Response:
    return render(request, "pwa/offline.html")


class Keys(BaseModel):
    p256dh: str = Field(min_length=20, max_length=200, pattern=BASE64URL)
    auth: str = Field(min_length=8, max_length=100, pattern=BASE64URL)


class SubscriptionIn(BaseModel):
    """What the browser's `PushSubscription.toJSON()` gives."""

    endpoint: str = Field(min_length=10, max_length=1000)
    keys: Keys


class EndpointIn(BaseModel):
    endpoint: str = Field(min_length=10, max_length=1000)


async def _checked_endpoint(settings: Settings, endpoint: str) -> str:
    """A push service's URL: https in production and never a private address (we POST to it)."""
    if settings.production and (not endpoint.startswith("https://") or await resolves_private(endpoint)):
        raise ValidationFailed([FieldError(("endpoint",), N_("Must be a public https address."))])
    if not endpoint.startswith(("https://", "http://")):
        raise ValidationFailed([FieldError(("endpoint",), N_("Must be a public https address."))])
    return endpoint


async def add_subscription(request: Request) -> Response:
    principal = current_principal(request)
    body = await parse_body(request, SubscriptionIn)
    endpoint = await _checked_endpoint(request.state.settings, body.endpoint)
    async with current_db(request).transaction() as session:
        await push.subscribe(session, principal, endpoint=endpoint, p256dh=body.keys.p256dh, auth=body.keys.auth)
    return JSONResponse({"subscribed": True}, status_code=201)


async def remove_subscription(request: Request) -> Response:
    principal = current_principal(request)
    body = await parse_body(request, EndpointIn)
    async with current_db(request).transaction() as session:
        await push.unsubscribe(session, principal, body.endpoint)
    return JSONResponse({"subscribed": False})


routes = [
    Route("/manifest.webmanifest", manifest),
    Route("/sw.js", service_worker),
    Route("/offline", offline),
    Route("/push/subscriptions", add_subscription, methods=["POST"]),
    Route("/push/subscriptions/delete", remove_subscription, methods=["POST"]),
]
