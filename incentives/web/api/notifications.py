"""Notification endpoints: the caller's in-app notifications, how many are unread, and its e-mail settings."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, StrictBool
from starlette.requests import Request
from starlette.responses import Response

from incentives.errors import ValidationFailed
from incentives.mail import preferences
from incentives.notifications import services as notifications
from incentives.validation import Patch
from incentives.web.api.base import Api, database, json_response, page_limit, parse_body, principal

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


NewLeads = Literal["instant", "daily", "off"]


class NotificationSettingsOut(BaseModel):
    email_new_leads: NewLeads
    email_feedback_reminders: bool
    email_weekly_report: bool
    email_redemptions: bool
    email_achievements: bool


class NotificationSettingsPatch(Patch):
    email_new_leads: NewLeads | None = None
    email_feedback_reminders: StrictBool | None = None
    email_weekly_report: StrictBool | None = None
    email_redemptions: StrictBool | None = None
    email_achievements: StrictBool | None = None


@api.route(
    "GET",
    "/api/v1/me/notifications",
    summary="Your e-mail settings",
    response=NotificationSettingsOut,
)
async def get_settings(request: Request) -> Response:
    who = principal(request)
    async with database(request).reader() as session:
        found = await preferences.preferences_of(session, who.user_id)
    return json_response(found.as_dict())


@api.route(
    "PATCH",
    "/api/v1/me/notifications",
    summary="Change your e-mail settings",
    body=NotificationSettingsPatch,
    response=NotificationSettingsOut,
    errors=(ValidationFailed,),
)
async def patch_settings(request: Request) -> Response:
    who = principal(request)
    body = await parse_body(request, NotificationSettingsPatch)
    async with database(request).transaction() as session:
        changed = await preferences.change_preferences(session, who.user_id, body.model_dump(exclude_unset=True))
    return json_response(changed.as_dict())
