"""Notification endpoints: the caller's in-app notifications and how many are unread."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from incentives.errors import ValidationFailed
from incentives.notifications import services as notifications
from incentives.web.api.base import Api, database, json_response, page_limit, principal

api = Api()


class NotificationOut(BaseModel):
    id: int
    kind: str
    text: str
    link: str | None
    created_at: dt.datetime
    read: bool


class NotificationsOut(BaseModel):
    items: list[NotificationOut]
    unread: int


@api.route(
    "GET",
    "/api/v1/notifications",
    summary="Your in-app notifications",
    response=NotificationsOut,
    errors=(ValidationFailed,),
)
async def get_notifications(request: Request) -> Response:
    who = principal(request)
    locale: str = request.state.locale
    async with database(request).reader() as session:
        found = await notifications.list_notifications(session, who, limit=page_limit(request))
        unread = await notifications.unread_count(session, who)
    items = [NotificationOut(**vars(notifications.show(n, locale))).model_dump(mode="json") for n in found]
    return json_response({"items": items, "unread": unread})
