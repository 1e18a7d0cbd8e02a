"""The Starlette application factory: every area's page routes and APIs, the middleware, the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.orm import configure_mappers
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from incentives import i18n, live
from incentives.accounts.token_check import TOKEN_CHECK_WARM_UP
from incentives.config import Settings
from incentives.db import Database
from incentives.engagement.jobs import process_outbox
from incentives.errors import N_, DomainError, Forbidden
from incentives.jobs import OutboxWaker, sweep_forever
from incentives.leads.services import OFFER_READ_WARM_UP
from incentives.mail.jobs import mail_sender
from incentives.notifications.jobs import push_sender
from incentives.notifications.push import keys_from as push_keys
from incentives.web import achievements as achievement_pages
from incentives.web import adjustments as adjustment_pages
from incentives.web import campaigns as campaign_pages
from incentives.web import earn as earn_pages
from incentives.web import events as live_events
from incentives.web import invitations as invitation_pages
from incentives.web import kpis as kpi_pages
from incentives.web import lead_management as lead_management_pages
from incentives.web import leaderboard as leaderboard_pages
from incentives.web import leads as leads_pages
from incentives.web import mail_links, mail_settings, pages, pwa
from incentives.web import mdf as mdf_pages
from incentives.web import network as network_pages
from incentives.web import notifications as notification_pages
from incentives.web import partners as partner_pages
from incentives.web import password_reset as password_reset_pages
from incentives.web import program_settings as program_setting_pages
from incentives.web import pulse as pulse_pages
from incentives.web import redemptions as redemption_pages
from incentives.web import reward_catalog as reward_catalog_pages
from incentives.web import rewards as reward_pages
from incentives.web import rule_reports as rule_report_pages
from incentives.web import rules as rule_pages
from incentives.web import team as team_pages
from incentives.web import wallet as wallet_pages
from incentives.web import webhooks as webhook_pages
from incentives.web.api.achievements import api as achievements_api
from incentives.web.api.campaigns import api as campaigns_api
from incentives.web.api.engagement import api as engagement_api
from incentives.web.api.invitations import api as invitations_api
from incentives.web.api.kpis import api as kpis_api
from incentives.web.api.leaderboard import api as leaderboard_api
from incentives.web.api.leads import api as leads_api
from incentives.web.api.matching import api as matching_api
from incentives.web.api.mdf import api as mdf_api
from incentives.web.api.notifications import api as notifications_api
from incentives.web.api.openapi import build_openapi
from incentives.web.api.points import api as points_api
from incentives.web.api.redemptions import api as redemptions_api
from incentives.web.api.rewards import api as rewards_api
from incentives.web.api.rules import api as rules_api
from incentives.web.api.setup import api as setup_api
from incentives.web.api.webhooks import api as webhooks_api
from incentives.web.context import BodyLimitMiddleware, RequestContextMiddleware
from incentives.web.csrf import CsrfMiddleware
from incentives.web.errors import error_response, on_domain_error, on_http_exception, on_server_error
from incentives.web.guard import NulGuardMiddleware
from incentives.web.headers import SecurityHeadersMiddleware
from incentives.web.static_files import static_app
from incentives.web.templating import make_templates
from incentives.web.unchanged import UnchangedPollMiddleware
from incentives.webhooks.jobs import webhook_sender

APIS = [
    setup_api,
    invitations_api,
    matching_api,
    points_api,
    rewards_api,
    redemptions_api,
    mdf_api,
    notifications_api,
    leads_api,
    rules_api,
    campaigns_api,
    leaderboard_api,
    kpis_api,
    achievements_api,
    engagement_api,
    webhooks_api,
]


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    openapi = build_openapi(APIS)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        db = Database(settings.database_url, redis_url=settings.redis_url)
        for locale in ("de", "en"):
            i18n.translations(locale)  # parse the catalogs once, before the first request
        tasks = []
        if settings.redis_url is None and settings.sweep_interval_seconds > 0:
            tasks.append(asyncio.create_task(sweep_forever(db, settings.sweep_interval_seconds)))
        if settings.redis_url is not None or settings.sweep_interval_seconds > 0:
            # Committed lead events are processed (or enqueued) at once, not at the next sweep.
            waker = OutboxWaker(db, process_outbox, redis_url=settings.redis_url)
            tasks.append(asyncio.create_task(waker.run()))
            tasks.append(asyncio.create_task(webhook_sender(db, settings.redis_url).run()))
            keys = push_keys(settings.vapid_private_key, settings.vapid_subject)
            tasks.append(asyncio.create_task(push_sender(db, settings.redis_url, keys).run()))
            tasks.append(asyncio.create_task(mail_sender(db, settings).run()))
        # Live updates: this process hears every process's notices and sends its own commits' notices.
        hub = live.Hub(db)
        await hub.start()
        live.enable(db)
        state = {"db": db, "settings": settings, "templates": make_templates(), "hub": hub}
        configure_mappers()
        # Connections open, and on each the statements every API request and every reservation runs prepared.
        await db.warm_up(settings.warm_connections, reads=[TOKEN_CHECK_WARM_UP, OFFER_READ_WARM_UP])
        # What start-up made (modules, mappers, templates) lives as long as the app: keep it out of the
        # collector's full collections, which would otherwise traverse all of it in the middle of requests.
        # Objects made later are collected as before; the freeze ends with the app.
        freeze = gc.get_freeze_count() == 0  # unless something else froze objects (e.g. before forking)
        if freeze:
            gc.freeze()
        try:
            yield state
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await hub.stop()
            await live.flush()
            await db.dispose()
            if freeze:
                gc.unfreeze()

    async def openapi_json(request: Request) -> Response:
        return JSONResponse(openapi)

    async def csrf_refused(request: Request) -> Response:
        error = Forbidden(
            N_("The form has expired or was sent from another site. Please reload the page and try again.")
        )
        return await error_response(request, error)

    routes = [
        *pages.routes,
        *live_events.routes,
        *reward_pages.routes,
        *redemption_pages.routes,
        *wallet_pages.routes,
        *mdf_pages.routes,
        *reward_catalog_pages.routes,
        *notification_pages.routes,
        *invitation_pages.routes,
        *password_reset_pages.routes,
        *pulse_pages.routes,
        *leads_pages.routes,
        *lead_management_pages.routes,
        *rule_pages.routes,
        *earn_pages.routes,
        *program_setting_pages.routes,
        *campaign_pages.routes,
        *adjustment_pages.routes,
        *rule_report_pages.routes,
        *leaderboard_pages.routes,
        *kpi_pages.routes,
        *network_pages.routes,
        *partner_pages.routes,
        *team_pages.routes,
        *achievement_pages.routes,
        *webhook_pages.routes,
        *pwa.routes,
        *mail_links.routes,
        *mail_settings.routes,
        Route("/api/v1/openapi.json", openapi_json),
        *[route for api in APIS for route in api.routes()],
        Mount("/static", static_app(), name="static"),
    ]
    middleware = [
        Middleware(SecurityHeadersMiddleware, production=settings.production),
        Middleware(
            SessionMiddleware,
            secret_key=settings.secret_key,
            session_cookie="incentives_session",
            max_age=settings.session_max_age,
            same_site="lax",
            https_only=settings.production,
        ),
        # Before the user is loaded: an unchanged poll costs one look at the live versions.
        Middleware(UnchangedPollMiddleware, secret_key=settings.secret_key),
        Middleware(RequestContextMiddleware),
        Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes),
        Middleware(CsrfMiddleware, trusted_origins=[settings.base_url], on_refused=csrf_refused),
        Middleware(NulGuardMiddleware),
    ]
    return Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={
            DomainError: on_domain_error,
            HTTPException: on_http_exception,
            Exception: on_server_error,
        },
    )
