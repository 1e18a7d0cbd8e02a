"""Invitations (API.md "Program set-up"): a program invites a partner by e-mail; the partner accepts or declines."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from incentives.db import utcnow
from incentives.errors import Duplicate, Forbidden, InvalidState, NotFound
from incentives.invitations import services
from incentives.validation import Email, Label, Strict, regions
from incentives.web.api.base import Api, database, json_response, parse_body, path_id, principal

api = Api()


class InvitationIn(Strict):
    program_id: int
    email: Email
    tier: Literal["platinum", "gold", "silver", "registered"]
    competencies: Annotated[list[Label], Field(max_length=50, default_factory=list)]
    certifications: Annotated[list[Label], Field(max_length=50, default_factory=list)]
    regions: Annotated[list[str], Field(max_length=200, default_factory=list), AfterValidator(regions)]
    capacity: Annotated[int, Field(ge=0, le=100_000)] | None = None
    distributor_id: int | None = None


class InvitationOut(BaseModel):
    id: int
    status: Literal["pending", "accepted", "declined"]
    # The membership an accepted invitation created.
    membership_id: int | None = None


@api.route(
    "POST",
    "/api/v1/invitations",
    summary="Invite a partner by e-mail (admin, partner manager); the same answer whether the address is known",
    body=InvitationIn,
    response=InvitationOut,
    status=201,
    errors=(Forbidden, NotFound, Duplicate),
)
async def post_invitation(request: Request) -> Response:
    body = await parse_body(request, InvitationIn)
    terms = services.Terms(
        tier=body.tier,
        competencies=body.competencies,
        certifications=body.certifications,
        regions=body.regions,
        capacity=body.capacity,
        distributor_id=body.distributor_id,
    )
    async with database(request).transaction() as session:
        invitation = await services.invite(
            session, principal(request), program_id=body.program_id, email=body.email, terms=terms, now=utcnow()
        )
    # Never the org: until the partner accepts, the program knows only what it typed.
    return json_response(InvitationOut(id=invitation.id, status="pending").model_dump(), 201)


@api.route(
    "POST",
    "/api/v1/invitations/{id:id}/accept",
    summary="Accept an invitation to your org (its manager): the membership exists",
    response=InvitationOut,
    errors=(NotFound, InvalidState, Duplicate),
)
async def post_accept(request: Request) -> Response:
    invitation_id = path_id(request)
    async with database(request).transaction() as session:
        membership = await services.accept(session, principal(request), invitation_id, utcnow())
    return json_response(InvitationOut(id=invitation_id, status="accepted", membership_id=membership.id).model_dump())


@api.route(
    "POST",
    "/api/v1/invitations/{id:id}/decline",
    summary="Decline an invitation to your org (its manager)",
    response=InvitationOut,
    errors=(NotFound, InvalidState),
)
async def post_decline(request: Request) -> Response:
    async with database(request).transaction() as session:
        invitation = await services.decline(session, principal(request), path_id(request), utcnow())
    return json_response(InvitationOut(id=invitation.id, status="declined").model_dump())
