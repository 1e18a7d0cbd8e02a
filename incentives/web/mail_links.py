"""The signed links of e-mails: `/a/{token}` (one-click actions on a lead) and `/unsubscribe/{token}`.

GET only shows what the link would do (mail scanners fetch links); the page's one button POSTs, which acts once
through the same services as the pick list and the API. No login: the token is the credential (see web/csrf.py).
A used or expired action link answers 410, a tampered one 404, each with a page saying so and a login link.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from incentives.accounts import queries as accounts_queries
from incentives.accounts.models import User
from incentives.accounts.scope import Principal
from incentives.db import utcnow
from incentives.errors import N_, DomainError, NotFound, ValidationFailed
from incentives.leads import queries, services
from incentives.leads.errors import AlreadyReserved
from incentives.mail import links, preferences
from incentives.rules import preview
from incentives.web.context import current_db
from incentives.web.leads import FEEDBACK_LABELS, TEMPERATURE_LABELS, deal_value_of
from incentives.web.templating import render

ACTION_LABELS = {"reserve": N_("Reserve lead"), **{key: FEEDBACK_LABELS[key] for key in links.ACTIONS[1:]}}
SETTING_LABELS = {
    "email_new_leads": N_("New leads on your pick list"),
    "email_feedback_reminders": N_("Feedback reminders"),
    "email_weekly_report": N_("The weekly report"),
    "email_redemptions": N_("Decisions on your redemptions"),
    "email_achievements": N_("Badges you earn"),
}


def _gone(request: Request, reason: str, status: int) -> Response:
    return render(request, "mail/link_gone.html", {"reason": reason}, status_code=status)


async def _user(request: Request, user_id: int) -> User | None:
    async with current_db(request).reader() as session:
        user = await accounts_queries.active_user(session, user_id)
    if user is not None and user.locale:
        request.state.locale = user.locale  # the page speaks the e-mail's language
    return user


async def action(request: Request) -> Response:
    secret = request.state.settings.secret_key
    try:
        link = links.read_action(secret, request.path_params["token"])
    except links.LinkInvalid:
        return _gone(request, "invalid", 404)
    user = await _user(request, link.user_id)
    if user is None:
        return _gone(request, "invalid", 404)
    now = utcnow()
    async with current_db(request).reader() as session:
        used = await links.was_used(session, link)
    if used or link.expired(now):
        return _gone(request, "used" if used else "expired", 410)
    who = Principal.of(user)
    lead = await _lead(request, who, link.lead_id)
    if lead is None:
        return _gone(request, "invalid", 404)
    if request.method == "GET":
        return _confirm(request, link, lead)
    return await _act(request, who, link, lead)


async def _lead(request: Request, who: Principal, lead_id: int) -> Any:
    """The lead as this user may see it (a teaser when offered, the full lead when its org holds it)."""
    async with current_db(request).reader() as session:
        try:
            lead, full = await services.lead_for(session, who, lead_id)
        except NotFound:
            return None
    return {"lead": lead, "full": full}


def _confirm(
    request: Request,
    link: links.ActionLink,
    seen: dict[str, Any],
    *,
    error: DomainError | None = None,
    status: int = 200,
) -> Response:
    context = {
        "link": link,
        "lead": seen["lead"],
        "full": seen["full"],
        "label": ACTION_LABELS[link.action],
        "temperatures": TEMPERATURE_LABELS,
        "error": error,
        "token": request.path_params["token"],
    }
    return render(request, "mail/action.html", context, status_code=status)


async def _act(request: Request, who: Principal, link: links.ActionLink, seen: dict[str, Any]) -> Response:
    form = await request.form()
    db = current_db(request)
    now = utcnow()
    deal_value: Decimal | None = None
    try:
        if link.action == "won":
            deal_value = deal_value_of(str(form.get("deal_value", "")), request.state.locale)
    except DomainError as exc:  # not a number: asked again, nothing done
        return _confirm(request, link, seen, error=exc, status=422)
    async with db.reader() as session:
        earns = await _earns(session, who, link, now)
    try:
        async with db.transaction() as session:
            # The link is used in the action's transaction: two clicks at once act once, a failed action keeps it.
            await links.use_action(session, link, now)
            if link.action == "reserve":
                await services.reserve_lead(session, who, link.lead_id, now)
            else:
                await services.give_feedback(
                    session,
                    who,
                    link.lead_id,
                    status=link.action,
                    deal_value=deal_value,
                    lost_reason=str(form.get("lost_reason", "")) or None,
                    now=now,
                )
    except links.LinkGone:
        return _gone(request, "used", 410)
    except NotFound:
        return _gone(request, "invalid", 404)
    except ValidationFailed as exc:
        return _confirm(request, link, seen, error=exc, status=422)
    except DomainError as exc:
        status = 409 if isinstance(exc, AlreadyReserved) else exc.status
        return render(request, "mail/action_done.html", {"link": link, "error": exc}, status_code=status)
    context = {"link": link, "error": None, "points": earns, "label": ACTION_LABELS[link.action]}
    return render(request, "mail/action_done.html", context)


async def _earns(session: Any, who: Principal, link: links.ActionLink, now: Any) -> int:
    """What the action earns by the rules in force (the pick list and lead pages say the same)."""
    if link.action == "reserve":
        return (await preview.reserve_preview(session, who.org_id, [link.lead_id], now)).get(link.lead_id, 0)
    own = await queries.lead(session, link.lead_id)
    if own is None or own.reserved_by_org_id != who.org_id:
        return 0
    earnings = await preview.feedback_preview(session, who.org_id, [own], now)
    return int(earnings.get(link.lead_id, {}).get(link.action, 0))


async def unsubscribe(request: Request) -> Response:
    """GET confirms; POST (the page's button, or a mail client's RFC 8058 one-click POST) turns the kind off."""
    try:
        user_id, kind = links.read_unsubscribe(request.state.settings.secret_key, request.path_params["token"])
    except links.LinkInvalid:
        return _gone(request, "invalid", 404)
    user = await _user(request, user_id)
    if user is None:
        return _gone(request, "invalid", 404)
    setting = preferences.SETTING_OF_KIND[kind]
    done = request.method == "POST"
    if done:
        async with current_db(request).transaction() as session:
            await preferences.unsubscribe(session, user_id, kind)
    context = {"label": SETTING_LABELS[setting], "done": done, "token": request.path_params["token"]}
    return render(request, "mail/unsubscribe.html", context)


routes = [
    Route("/a/{token:str}", action, methods=["GET", "POST"]),
    Route("/unsubscribe/{token:str}", unsubscribe, methods=["GET", "POST"]),
]
