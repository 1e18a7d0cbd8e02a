"""Password reset pages: /password/forgot asks for the e-mail address and always answers the same;
/password/reset/{token} sets the new password through the link of the e-mail and logs the user in."""

from __future__ import annotations

import datetime as dt
import logging

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from incentives import db as clock
from incentives import i18n
from incentives.accounts import password_reset as resets
from incentives.accounts.passwords import MIN_PASSWORD_LENGTH
from incentives.config import Settings
from incentives.db import Database
from incentives.errors import N_, NotFound, RateLimited, ValidationFailed
from incentives.mail import outbox
from incentives.web.context import current_db
from incentives.web.templating import render, see_other

TEMPLATE = "password_reset"
log = logging.getLogger(__name__)


async def forgot(request: Request) -> Response:
    if request.method == "GET":
        return render(request, "accounts/password_forgot.html", {"email": "", "sent": False, "error": None})
    form = await request.form()
    email = str(form.get("email", "")).strip()[:254]
    if not email or "@" not in email:
        error = N_("Please enter your e-mail address.")
        context = {"email": email, "sent": False, "error": error}
        return render(request, "accounts/password_forgot.html", context, status_code=422)
    settings: Settings = request.state.settings
    now = clock.utcnow()
    try:
        async with current_db(request).transaction() as session:
            await resets.count_request(
                session,
                email=email,
                client_ip=request.client.host if request.client else "unknown",
                window=dt.timedelta(seconds=settings.login_window_seconds),
                now=now,
            )
    except RateLimited as exc:
        message = i18n.gettext(request.state.locale, exc.detail, **exc.params)
        context = {"email": email, "sent": False, "error": message}
        response = render(request, "accounts/password_forgot.html", context, status_code=429)
        response.headers["Retry-After"] = str(exc.params.get("seconds", 60))
        return response
    # The same page, after the same statements, whether the address has an account or not: neither what the
    # form shows nor how long it takes tells anybody which addresses exist. The link is made after the answer.
    response = render(request, "accounts/password_forgot.html", {"email": email, "sent": True, "error": None})
    response.background = BackgroundTask(_send_link, current_db(request), email, now)
    return response


async def _send_link(db: Database, email: str, now: dt.datetime) -> None:
    """Make the link for the address's user, if it has one, and queue its e-mail (after the answer was sent).
    A failure here (the database gone for a moment) loses this one link; the person asks again."""
    try:
        async with db.transaction() as session:
            found = await resets.issue_link(session, email=email, now=now)
            if found is not None:
                user, token = found
                await outbox.queue(
                    session,
                    user_id=user.id,
                    kind="password_reset",
                    key=token[:16],
                    template=TEMPLATE,
                    context={"path": f"/password/reset/{token}"},
                )
    except Exception:
        log.exception("password reset: the link could not be made")


def _gone(request: Request, reason: str, status: int) -> Response:
    return render(request, "accounts/password_link_gone.html", {"reason": reason}, status_code=status)


async def reset(request: Request) -> Response:
    token: str = request.path_params["token"]
    now = clock.utcnow()
    context: dict[str, object] = {"min": MIN_PASSWORD_LENGTH, "values": {}, "errors": {}}
    try:
        if request.method == "GET":
            async with current_db(request).reader() as session:
                await resets.by_token(session, token, now)
            return render(request, "accounts/password_reset.html", context)
        form = await request.form()
        password = str(form.get("password", ""))
        async with current_db(request).transaction() as session:
            user = await resets.reset_password(session, token, password, now)
    except NotFound:
        return _gone(request, "invalid", 404)
    except resets.LinkGone as gone:
        return _gone(request, gone.reason, 410)
    except ValidationFailed as failed:
        locale = request.state.locale
        errors = {str(e.loc[-1]): i18n.gettext(locale, e.msg, **e.params) for e in failed.errors}
        return render(request, "accounts/password_reset.html", {**context, "errors": errors}, status_code=422)
    request.session.clear()
    request.session["uid"] = user.id
    request.session["epoch"] = user.session_epoch
    return see_other("/dashboard")


routes = [
    Route("/password/forgot", forgot, methods=["GET", "POST"]),
    Route("/password/reset/{token:str}", reset, methods=["GET", "POST"]),
]
