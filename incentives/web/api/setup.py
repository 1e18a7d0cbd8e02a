"""Program set-up endpoints (API.md "Program set-up"): settings, orgs, memberships, users, tokens."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from incentives import db as clock
from incentives.accounts import services, sessions, tokens
from incentives.accounts.models import Program
from incentives.accounts.qualification import checklist_of
from incentives.errors import Duplicate, Forbidden, NotFound
from incentives.leads import matching
from incentives.web.api.base import Api, database, json_response, parse_body, path_id, principal
from incentives.web.api.schemas import (
    LevelNameItemOut,
    MatchingWeightsOut,
    MembershipIn,
    MembershipOut,
    OrgIn,
    OrgOut,
    ProgramOut,
    ProgramSettingsPatch,
    TokenIn,
    TokenOut,
    UserIn,
    UserOut,
    UserStatusOut,
)

api = Api()


def program_out(program: Program) -> dict[str, Any]:
    """A program's settings; the matching weights with every part, the defaults filled in."""
    special = ("matching_weights", "qualification_checklist")
    fields = {name: getattr(program, name) for name in ProgramOut.model_fields if name not in special}
    return ProgramOut(
        **fields,
        matching_weights=MatchingWeightsOut(**matching.weights_of(program)),
        qualification_checklist=[
            LevelNameItemOut.model_validate(item) for item in checklist_of(program.qualification_checklist)
        ],
    ).model_dump()


@api.route(
    "GET", "/api/v1/programs/{id:id}", summary="A program and its settings", response=ProgramOut, errors=(NotFound,)
)
async def get_program(request: Request) -> Response:
    async with database(request).reader() as session:
        program = await services.get_program(session, principal(request), path_id(request))
    return json_response(program_out(program))


@api.route(
    "PATCH",
    "/api/v1/programs/{id:id}",
    summary="Change program settings (admin)",
    body=ProgramSettingsPatch,
    response=ProgramOut,
    errors=(Forbidden, NotFound),
)
async def patch_program(request: Request) -> Response:
    body = await parse_body(request, ProgramSettingsPatch)
    async with database(request).transaction() as session:
        changes = body.model_dump(exclude_unset=True)
        if body.matching_weights is not None:
            changes["matching_weights"] = body.matching_weights.model_dump(exclude_none=True)
        program = await services.update_program_settings(session, principal(request), path_id(request), changes)
    return json_response(program_out(program))


@api.route(
    "POST",
    "/api/v1/orgs",
    summary="Register an org (admin)",
    body=OrgIn,
    response=OrgOut,
    status=201,
    errors=(Forbidden,),
)
async def post_org(request: Request) -> Response:
    body = await parse_body(request, OrgIn)
    async with database(request).transaction() as session:
        org = await services.create_org(session, principal(request), **body.model_dump())
    return json_response(OrgOut.model_validate(org, from_attributes=True).model_dump(), 201)


@api.route("GET", "/api/v1/orgs/{id:id}", summary="An org in your scope", response=OrgOut, errors=(NotFound,))
async def get_org(request: Request) -> Response:
    async with database(request).reader() as session:
        org = await services.get_org(session, principal(request), path_id(request))
    return json_response(OrgOut.model_validate(org, from_attributes=True).model_dump())


@api.route(
    "POST",
    "/api/v1/memberships",
    summary="Join an org to a program (admin)",
    body=MembershipIn,
    response=MembershipOut,
    status=201,
    errors=(Forbidden, NotFound, Duplicate),
)
async def post_membership(request: Request) -> Response:
    body = await parse_body(request, MembershipIn)
    async with database(request).transaction() as session:
        membership = await services.create_membership(session, principal(request), **body.model_dump())
    return json_response(MembershipOut.model_validate(membership, from_attributes=True).model_dump(), 201)


@api.route(
    "POST",
    "/api/v1/users",
    summary="Create a user (admin)",
    body=UserIn,
    response=UserOut,
    status=201,
    errors=(Forbidden, Duplicate),
)
async def post_user(request: Request) -> Response:
    body = await parse_body(request, UserIn)
    async with database(request).transaction() as session:
        user = await services.create_user(session, principal(request), **body.model_dump())
    return json_response(UserOut.model_validate(user, from_attributes=True).model_dump(), 201)


@api.route(
    "POST",
    "/api/v1/tokens",
    summary="Issue an API token (admin, or for yourself)",
    body=TokenIn,
    response=TokenOut,
    status=201,
    errors=(Forbidden, NotFound),
)
async def post_token(request: Request) -> Response:
    body = await parse_body(request, TokenIn)
    async with database(request).transaction() as session:
        expires_at = tokens.expiry(body.expires_in_days, clock.utcnow())
        token = await services.create_token(
            session, principal(request), user_id=body.user_id, name=body.name, expires_at=expires_at
        )
    return json_response(TokenOut(token=token, user_id=body.user_id, expires_at=expires_at).model_dump(), 201)


@api.route(
    "POST",
    "/api/v1/users/{id:id}/deactivate",
    summary="Deactivate a user of your program (admin): its web sessions and API tokens stop working at once",
    response=UserStatusOut,
    errors=(Forbidden, NotFound),
)
async def post_deactivate_user(request: Request) -> Response:
    async with database(request).transaction() as session:
        user = await sessions.deactivate_user(session, principal(request), path_id(request))
    return json_response(UserStatusOut(id=user.id, active=user.active).model_dump())
