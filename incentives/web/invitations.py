"""Invitation pages: a partner's managers answer invitations (/invitations); a new address follows its
set-password link (/join/{token}) to create its org, its first user and the membership."""

from __future__ import annotations

from babel import Locale
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from incentives import i18n
from incentives.accounts.passwords import MIN_PASSWORD_LENGTH
from incentives.accounts.roles import TIER_LABELS, Role
from incentives.db import utcnow
from incentives.errors import N_, Duplicate, NotFound
from incentives.invitations import services
from incentives.web import nav
from incentives.web.context import current_db, current_principal
from incentives.web.templating import render, see_other

INVITED = {Role.RESELLER_MANAGER, Role.DISTRIBUTOR_MANAGER}
nav.register("/invitations", N_("Invitations"), INVITED, order=85, more_for=INVITED)

COUNTRIES = ("DE", "AT", "CH", "NL", "BE", "LU", "FR", "IT", "PL", "CZ", "DK")
DONE = {
    "accepted": N_("Invitation accepted: the program is now on your pick list."),
    "declined": N_("Invitation declined."),
}


async def invitations(request: Request) -> Response:
    principal = current_principal(request)
    async with current_db(request).reader() as session:
        offers = await services.pending_for(session, principal)
    done = DONE.get(request.query_params.get("done", ""))
    return render(request, "accounts/invitations.html", {"offers": offers, "tiers": TIER_LABELS, "done": done})


async def answer(request: Request) -> Response:
    principal = current_principal(request)
    invitation_id: int = request.path_params["id"]
    accepting = request.url.path.endswith("/accept")
    async with current_db(request).transaction() as session:
        if accepting:
            await services.accept(session, principal, invitation_id, utcnow())
        else:
            await services.decline(session, principal, invitation_id, utcnow())
    return see_other(f"/invitations?done={'accepted' if accepting else 'declined'}")


def _gone(request: Request, reason: str, status: int) -> Response:
    return render(request, "mail/link_gone.html", {"reason": reason}, status_code=status)


async def join(request: Request) -> Response:
    token: str = request.path_params["token"]
    now = utcnow()
    try:
        async with current_db(request).reader() as session:
            invitation, program = await services.by_link(session, token, now)
    except NotFound:
        return _gone(request, "invalid", 404)
    except services.LinkGone as gone:
        return _gone(request, gone.reason, 410)
    territories = Locale.parse(request.state.locale).territories
    countries = [(code, territories.get(code, code)) for code in COUNTRIES]
    context = {"program": program, "email": invitation.email, "countries": countries, "min": MIN_PASSWORD_LENGTH}
    if request.method == "GET":
        return render(request, "accounts/join.html", {**context, "values": {"country": "DE"}, "errors": {}})
    form = await request.form()
    values = {key: str(form.get(key, "")).strip() for key in ("org_name", "name", "country")}
    password = str(form.get("password", ""))
    errors = {}
    if not values["org_name"] or len(values["org_name"]) > 200:
        errors["org_name"] = N_("Please enter your company's name.")
    if not values["name"] or len(values["name"]) > 200:
        errors["name"] = N_("Please enter your name.")
    if values["country"] not in COUNTRIES:
        errors["country"] = N_("Please choose a country.")
    if len(password) < MIN_PASSWORD_LENGTH:
        errors["password"] = N_("Must be at least %(min)d characters long.")
    if errors:
        locale = request.state.locale
        shown = {key: i18n.gettext(locale, message, min=MIN_PASSWORD_LENGTH) for key, message in errors.items()}
        return render(request, "accounts/join.html", {**context, "values": values, "errors": shown}, status_code=422)
    try:
        async with current_db(request).transaction() as session:
            user = await services.join(
                session,
                token,
                org_name=values["org_name"],
                country=values["country"],
                name=values["name"],
                password=password,
                locale=request.state.locale,
                now=now,
            )
    except services.LinkGone as gone:
        return _gone(request, gone.reason, 410)
    except Duplicate:  # the address became a user since the invitation: it logs in and answers there
        return see_other("/login?next=/invitations")
    request.session.clear()
    request.session["uid"] = user.id
    request.session["epoch"] = user.session_epoch
    return see_other("/dashboard")


routes = [
    Route("/invitations", invitations),
    Route("/invitations/{id:id}/accept", answer, methods=["POST"]),
    Route("/invitations/{id:id}/decline", answer, methods=["POST"]),
    Route("/join/{token:str}", join, methods=["GET", "POST"]),
]
