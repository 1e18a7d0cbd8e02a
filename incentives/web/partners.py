"""Partner pages (/partners) for a program's admins and partner managers: the member orgs, found by name and
paged; add a partner (its org and membership in one unit of work); a partner's page to change its terms, see its
users, invite one (an e-mail with a single-use set-password link) and deactivate users or the whole partner.

The same services as the API (accounts/services.py, accounts/partners.py, accounts/sessions.py) decide who may do
what: partner managers read, admins change. Anybody else, and any org that is not a member of the program, gets
404. Deactivating a partner turns off every user of its org (the API offers user deactivation, no more)."""

from __future__ import annotations

from typing import Any

from babel import Locale
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from incentives.accounts import partners, services, sessions
from incentives.accounts.choices import program_choices
from incentives.accounts.models import User
from incentives.accounts.roles import KIND_LABELS, TIER_LABELS, Role
from incentives.accounts.scope import Principal
from incentives.db import utcnow
from incentives.errors import N_, DomainError, Duplicate, Forbidden, NotFound
from incentives.invitations.users import invite_user
from incentives.web import nav
from incentives.web.context import current_db, current_principal
from incentives.web.forms import form_errors
from incentives.web.invitations import COUNTRIES
from incentives.web.partner_forms import (
    ORG_FIELDS,
    PARTNER_KINDS,
    ROLE_LABELS,
    TERM_FIELDS,
    USER_FIELDS,
    form_values,
    parse_partner,
    parse_terms,
    parse_user,
    roles_for,
    terms_values,
)
from incentives.web.rewards_base import int_param
from incentives.web.templating import render, see_other

MANAGERS = {Role.ADMIN, Role.PARTNER_MANAGER}
nav.register("/partners", N_("Partners"), MANAGERS, order=34, more_for=MANAGERS)

DONE = {
    "added": N_("The partner is added."),
    "saved": N_("The partner's terms are saved."),
    "invited": N_("The user is added and has an e-mail with a link to set a password."),
    "user_off": N_("The user is deactivated."),
    "partner_off": N_("Every user of the partner is deactivated."),
}


def _manager(request: Request) -> tuple[Principal, int]:
    who = current_principal(request)
    if who.role not in MANAGERS or who.program_id is None:
        raise NotFound()
    return who, who.program_id


def _admin(request: Request) -> tuple[Principal, int]:
    who, program_id = _manager(request)
    if not who.administers(program_id):
        raise Forbidden()
    return who, program_id


async def partner_list(request: Request) -> Response:
    who, program_id = _manager(request)
    search = request.query_params.get("q", "")[:100]
    page = int_param(request.query_params.get("page")) or 1
    async with current_db(request).reader() as session:
        found = await partners.partner_page(session, who, program_id, search=search, page=page)
    context = {
        "found": found,
        "search": search,
        "tiers": TIER_LABELS,
        "kinds": KIND_LABELS,
        "admin": who.administers(program_id),
        "done": DONE.get(request.query_params.get("done", "")),
    }
    return render(request, "partners/list.html", context)


async def _choices(request: Request, who: Principal, program_id: int) -> dict[str, Any]:
    """What the terms form offers: tiers, the program's product lines, its member distributors."""
    async with current_db(request).reader() as session:
        lines = (await program_choices(session, program_id)).product_lines
        distributors = await partners.member_distributors(session, who, program_id)
    return {"tiers": TIER_LABELS, "product_lines": lines, "distributors": distributors}


async def new_partner(request: Request) -> Response:
    who, program_id = _admin(request)
    choices = await _choices(request, who, program_id)
    territories = Locale.parse(request.state.locale).territories
    countries = [(code, territories.get(code, code)) for code in COUNTRIES]
    values: dict[str, Any] = {"kind": "reseller", "country": "DE", "tier": "registered", "competencies": []}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = form_values(await request.form(), (*ORG_FIELDS, *TERM_FIELDS))
        try:
            org_fields, terms = parse_partner(values, program_id, choices["product_lines"], request.state.locale)
            async with current_db(request).transaction() as session:  # the org and its membership, or neither
                org = await services.create_org(session, who, **org_fields)
                await session.flush()
                await services.create_membership(session, who, program_id=program_id, org_id=org.id, **terms)
            return see_other(f"/partners/{org.id}?done=added")
        except DomainError as error:
            errors = form_errors(request, error)
    context = {**choices, "values": values, "errors": errors, "countries": countries, "kinds": KIND_LABELS}
    context["partner_kinds"] = PARTNER_KINDS
    return render(request, "partners/new.html", context, status_code=422 if errors else 200)


async def partner_page(request: Request) -> Response:
    """GET: the partner's terms, users and the invite form. POST: new terms (admins)."""
    who, program_id = _manager(request)
    org_id: int = request.path_params["id"]
    async with current_db(request).reader() as session:
        found = await partners.partner(session, who, program_id, org_id)
    values = terms_values(found.membership)
    errors: dict[str, str] = {}
    if request.method == "POST":
        _admin(request)
        choices = await _choices(request, who, program_id)
        values = form_values(await request.form(), TERM_FIELDS)
        try:
            terms = parse_terms(
                values,
                program_id=program_id,
                org_id=org_id,
                product_lines=choices["product_lines"],
                locale=request.state.locale,
            )
            async with current_db(request).transaction() as session:
                await partners.update_membership(session, who, program_id=program_id, org_id=org_id, **terms)
            return see_other(f"/partners/{org_id}?done=saved")
        except DomainError as error:
            errors = form_errors(request, error)
    return await _show(request, who, program_id, org_id, values=values, errors=errors)


async def _show(
    request: Request,
    who: Principal,
    program_id: int,
    org_id: int,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    invite: dict[str, Any] | None = None,
    invite_errors: dict[str, str] | None = None,
) -> Response:
    async with current_db(request).reader() as session:
        found = await partners.partner(session, who, program_id, org_id)
        users = await partners.partner_users(session, who, program_id, org_id)
        program = await services.get_program(session, who, program_id)
    choices = await _choices(request, who, program_id)
    roles = roles_for(found.org.kind)
    context = {
        **choices,
        "partner": found,
        "users": users,
        "values": values if values is not None else terms_values(found.membership),
        "errors": errors or {},
        "invite": invite or {"role": roles[0], "locale": program.default_locale},
        "invite_errors": invite_errors or {},
        "roles": [(role, ROLE_LABELS[role]) for role in roles],
        "kinds": KIND_LABELS,
        "admin": who.administers(program_id),
        "me": who.user_id,
        "done": DONE.get(request.query_params.get("done", "")),
    }
    failed = bool(errors or invite_errors)
    return render(request, "partners/detail.html", context, status_code=422 if failed else 200)


async def invite(request: Request) -> Response:
    who, program_id = _manager(request)
    org_id: int = request.path_params["id"]
    async with current_db(request).reader() as session:
        found = await partners.partner(session, who, program_id, org_id)
    _admin(request)
    values = form_values(await request.form(), USER_FIELDS)
    try:
        fields = parse_user(values, org_id=org_id, kind=found.org.kind)
        async with current_db(request).transaction() as session:
            await invite_user(session, who, org_id=org_id, now=utcnow(), **fields)
    except Duplicate as error:  # the address has an account: said at the e-mail field
        return await _show(
            request, who, program_id, org_id, invite=values, invite_errors={"email": _message(request, error)}
        )
    except DomainError as error:
        problems = form_errors(request, error)
        return await _show(request, who, program_id, org_id, invite=values, invite_errors=problems)
    return see_other(f"/partners/{org_id}?done=invited#users")


def _message(request: Request, error: DomainError) -> str:
    return form_errors(request, error).get("", "")


async def _partner_user(request: Request, who: Principal, program_id: int, org_id: int, user_id: int) -> User:
    async with current_db(request).reader() as session:
        users = await partners.partner_users(session, who, program_id, org_id)
    user = next((user for user in users if user.id == user_id), None)
    if user is None:
        raise NotFound()
    return user


async def deactivate_user(request: Request) -> Response:
    who, program_id = _manager(request)
    org_id: int = request.path_params["id"]
    user = await _partner_user(request, who, program_id, org_id, request.path_params["user_id"])
    async with current_db(request).transaction() as session:
        await sessions.deactivate_user(session, who, user.id)  # admins only; a repeat changes nothing more
    return see_other(f"/partners/{org_id}?done=user_off#users")


async def deactivate_partner(request: Request) -> Response:
    """Every active user of the partner off, in one unit of work (each as the API's user deactivation)."""
    who, program_id = _manager(request)
    org_id: int = request.path_params["id"]
    async with current_db(request).reader() as session:
        users = await partners.partner_users(session, who, program_id, org_id)
    _admin(request)
    async with current_db(request).transaction() as session:
        for user in users:
            if user.active:
                await sessions.deactivate_user(session, who, user.id)
    return see_other(f"/partners/{org_id}?done=partner_off")


routes = [
    Route("/partners", partner_list),
    Route("/partners/new", new_partner, methods=["GET", "POST"]),
    Route("/partners/{id:id}", partner_page, methods=["GET", "POST"]),
    Route("/partners/{id:id}/users", invite, methods=["POST"]),
    Route("/partners/{id:id}/users/{user_id:id}/deactivate", deactivate_user, methods=["POST"]),
    Route("/partners/{id:id}/deactivate", deactivate_partner, methods=["POST"]),
]
