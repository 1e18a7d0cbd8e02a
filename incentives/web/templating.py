"""Jinja2 templates with per-request gettext and Babel filters, and the response helpers: HTMX, redirects."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from jinja2_fragments.starlette import Jinja2Blocks
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from incentives import i18n
from incentives.web import nav
from incentives.web.csrf import csrf_token
from incentives.web.static_files import static_url

TEMPLATES_DIR = Path(__file__).parent / "templates"
MOMENT = "moment"
VARY = "HX-Request, Cookie, Accept-Language"  # what a page's answer depends on besides its address


@pass_context
def _gettext(context: Context, message: str) -> str:
    return i18n.translations(context["locale"]).gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return i18n.translations(context["locale"]).ngettext(singular, plural, n)


@pass_context
def _number(context: Context, value: Any) -> str:
    return i18n.format_number(value, context["locale"])


@pass_context
def _money(context: Context, value: Any, currency: str = "EUR") -> str:
    return i18n.format_money(value, currency, context["locale"])


@pass_context
def _amount(context: Context, value: Any) -> str:
    return i18n.format_amount(value, context["locale"])


@pass_context
def _date(context: Context, value: Any, style: str = "medium") -> str:
    return i18n.format_date(value, context["locale"], style)


@pass_context
def _datetime(context: Context, value: Any, style: str = "medium") -> str:
    return i18n.format_datetime(value, context["locale"], style)


def make_templates() -> Jinja2Blocks:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(number=_number, amount=_amount, money=_money, date=_date, datetime=_datetime)
    env.globals["static"] = static_url
    return Jinja2Blocks(env=env)


def unless_unchanged(request: Request, response: Response) -> Response:
    """A fragment that refetches itself: 304 when the browser has this version already (it keeps it)."""
    if not is_htmx(request) or response.status_code != 200:
        return response
    etag = '"' + hashlib.sha256(bytes(response.body)).hexdigest()[:32] + '"'
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag, "Vary": response.headers["Vary"]})
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = "no-cache, private"
    return response


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    block: str | None = None,
) -> Response:
    """Render a page, or only `block` of it for an HTMX request."""
    templates: Jinja2Blocks = request.state.templates
    user = getattr(request.state, "user", None)
    # A whole page shows (and forgets) the reward moment the last action left; a fragment leaves it be.
    moment = request.session.pop(MOMENT, None) if "session" in request.scope and not is_htmx(request) else None
    full = {
        "moment": moment,
        "request": request,
        "locale": request.state.locale,
        "user": user,
        "nav": nav.items_for(user.role if user else None),
        "csrftoken": csrf_token(request),
        **(context or {}),
    }
    kwargs: dict[str, Any] = {"block_name": block} if block and is_htmx(request) else {}
    response = templates.TemplateResponse(request, template, full, status_code=status_code, **kwargs)
    response.headers["Vary"] = VARY
    response.headers["Content-Language"] = request.state.locale
    return response


def remember_moment(request: Request, kind: str, points: int) -> None:
    """What an action just earned ("reserved", "feedback"), for the next page to say (base.html)."""
    request.session[MOMENT] = {"kind": kind, "points": points}


def see_other(url: str) -> Response:
    """The answer to a successful form post: go (GET) to `url`."""
    return RedirectResponse(url, status_code=303)


def hx_redirect(url: str) -> Response:
    return Response(status_code=204, headers={"HX-Redirect": url})
