"""Pages: login, logout, language switch, the dashboard and program settings."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from incentives import i18n
from incentives.accounts import services, sessions
from incentives.accounts.roles import KIND_LABELS, TIER_LABELS, Role
from incentives.config import SUPPORTED_LOCALES, Settings
from incentives.errors import N_, RateLimited
from incentives.web import home as partner_home
from incentives.web import nav
from incentives.web.context import current_db, current_principal
from incentives.web.templating import render, see_other

nav.register("/dashboard", N_("Overview"), set(Role), order=0)


def _safe_next(target: str | None) -> str:
    """Only local paths: an open redirect after login would be a phishing tool."""
    if not target:
        return "/dashboard"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/dashboard"
    return target


async def home(request: Request) -> Response:
    return see_other("/dashboard" if request.state.user else "/login")


async def login(request: Request) -> Response:
    next_url = _safe_next(request.query_params.get("next"))
    if request.method == "GET":
        if request.state.user is not None:
            return see_other(next_url)
        return render(request, "accounts/login.html", {"next": next_url})
    form = await request.form()
    email = str(form.get("email", "")).strip()
    password = str(form.get("password", ""))
    next_url = _safe_next(str(form.get("next", "")))
    settings: Settings = request.state.settings
    error = None
    if not email or not password:
        error = N_("Please enter your e-mail address and password.")
    else:
        try:
            async with current_db(request).transaction() as session:
                user = await services.authenticate(
                    session,
                    email=email,
                    password=password,
                    client_ip=request.client.host if request.client else "unknown",
                    max_attempts=settings.login_attempts_per_window,
                    window_seconds=settings.login_window_seconds,
                )
        except RateLimited as exc:
            message = i18n.gettext(request.state.locale, exc.detail, **exc.params)
            context = {"next": next_url, "email": email, "error": message}
            response = render(request, "accounts/login.html", context, status_code=429)
            response.headers["Retry-After"] = str(exc.params.get("seconds", 60))
            return response
        if user is None:
            error = N_("E-mail address or password is wrong.")
        else:
            request.session.clear()
            request.session["uid"] = user.id
            request.session["epoch"] = user.session_epoch
            return see_other(next_url)
    return render(request, "accounts/login.html", {"next": next_url, "email": email, "error": error}, status_code=400)


async def logout(request: Request) -> Response:
    """Ends the session on the server too: a copy of the cookie (taken from this browser) stops working."""
    if request.state.user is not None:
        async with current_db(request).transaction() as session:
            await sessions.end_sessions(session, request.state.user.id)
    locale = request.session.get("locale")
    request.session.clear()
    if locale:
        request.session["locale"] = locale
    return see_other("/login")


async def set_language(request: Request) -> Response:
    form = await request.form()
    locale = str(form.get("locale", ""))
    if locale in SUPPORTED_LOCALES:
        request.session["locale"] = locale
        if request.state.user is not None:
            async with current_db(request).transaction() as session:
                await services.set_user_locale(session, request.state.user.id, locale)
    return see_other(_safe_next(str(form.get("next", ""))))


async def dashboard(request: Request) -> Response:
    """The partner home for partners (web/home.py); the program's settings and partners for program roles."""
    principal = current_principal(request)
    if not principal.acts_for_program:
        return await partner_home.partner_dashboard(request, principal)
    async with current_db(request).reader() as session:
        org = await services.get_org(session, principal, principal.org_id)
        partners = await services.partner_overview(session, principal)
        program = (
            await services.get_program(session, principal, principal.program_id)
            if principal.program_id is not None
            else None
        )
    return render(
        request,
        "accounts/dashboard.html",
        {
            "org": org,
            "partners": partners,
            "program": program,
            "role": principal.role,
            "Role": Role,
            "tiers": TIER_LABELS,
            "kinds": KIND_LABELS,
        },
    )


routes = [
    Route("/", home),
    Route("/login", login, methods=["GET", "POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/language", set_language, methods=["POST"]),
    Route("/dashboard", dashboard),
]
