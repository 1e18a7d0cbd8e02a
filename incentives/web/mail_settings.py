"""The e-mail settings page (in the "More" menu of every header): the same settings as the API's
`/api/v1/me/notifications`, as a form."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from incentives.accounts.roles import Role
from incentives.errors import N_, FieldError, ValidationFailed
from incentives.mail import preferences
from incentives.web import nav
from incentives.web.context import current_db, current_principal
from incentives.web.mail_links import SETTING_LABELS
from incentives.web.templating import render, see_other

nav.register("/settings/notifications", N_("E-mail settings"), set(Role), order=97, more_for=set(Role))

NEW_LEADS_LABELS = {
    "instant": N_("At once, one e-mail per lead"),
    "daily": N_("Once a day, in one e-mail"),
    "off": N_("Never"),
}
SWITCHES = ("email_feedback_reminders", "email_weekly_report", "email_redemptions", "email_achievements")


async def settings_page(request: Request) -> Response:
    who = current_principal(request)
    errors: list[FieldError] = []
    saved = request.query_params.get("saved") == "1"
    async with current_db(request).reader() as session:
        current: dict[str, Any] = (await preferences.preferences_of(session, who.user_id)).as_dict()
    if request.method == "POST":
        form = await request.form()
        choice = str(form.get("email_new_leads", ""))
        if choice not in preferences.NEW_LEADS_CHOICES:
            errors.append(FieldError(("email_new_leads",), N_("Please choose one of the options.")))
        changes: dict[str, Any] = {"email_new_leads": choice, **{name: form.get(name) == "on" for name in SWITCHES}}
        if not errors:
            async with current_db(request).transaction() as session:
                await preferences.change_preferences(session, who.user_id, changes)
            return see_other("/settings/notifications?saved=1")
        current.update(changes)
    context = {
        "current": current,
        "choices": NEW_LEADS_LABELS,
        "switches": [(name, SETTING_LABELS[name]) for name in SWITCHES],
        "new_leads_label": SETTING_LABELS["email_new_leads"],
        "error": ValidationFailed(errors) if errors else None,
        "saved": saved,
    }
    return render(request, "mail/settings.html", context, status_code=422 if errors else 200)


routes = [Route("/settings/notifications", settings_page, methods=["GET", "POST"])]
