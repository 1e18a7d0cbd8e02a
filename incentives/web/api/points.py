"""Points endpoints (API.md "Points, rules, campaigns"): balances, transfer history, manual adjustments."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from incentives.accounts import queries as accounts
from incentives.accounts.roles import Role
from incentives.accounts.scope import Principal
from incentives.errors import N_, FieldError, Forbidden, NotFound, ValidationFailed
from incentives.ledger import queries
from incentives.ledger.errors import InsufficientPoints
from incentives.ledger.services import Cause
from incentives.rules import payouts
from incentives.rules.names import rule_names
from incentives.web.api.base import Api, database, json_response, page_limit, parse_body, principal, query_int
from incentives.web.api.schemas import Strict

api = Api()

# Roles that may look at another org's points: within their program, or the resellers below a distributor.
_MANAGERS = frozenset({Role.ADMIN, Role.PARTNER_MANAGER, Role.DISTRIBUTOR_MANAGER})


def _not_zero(value: int) -> int:
    if value == 0:
        raise ValueError(N_("Must be a whole number of points other than zero."))
    return value


class AdjustmentIn(Strict):
    program_id: int
    org_id: int
    points: Annotated[int, Field(ge=-1_000_000_000, le=1_000_000_000), AfterValidator(_not_zero)]
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class ExpiringOut(BaseModel):
    points: int
    expires_at: dt.datetime


class PointsItemOut(BaseModel):
    program_id: int
    org_id: int
    available: int
    held: int
    lifetime_earned: int
    expiring: list[ExpiringOut]


class PointsOut(BaseModel):
    items: list[PointsItemOut]


class RuleRefOut(BaseModel):
    id: int
    version: int | None
    # The ledger keeps rule ids only; the name comes from the rule version, in the reader's language.
    name: str | None = None


class TransferOut(BaseModel):
    id: int
    kind: str
    points: int
    at: dt.datetime
    rule: RuleRefOut | None = None
    lead_id: int | None = None
    redemption_id: int | None = None
    reason: str | None = None


class TransfersOut(BaseModel):
    items: list[TransferOut]
    next_cursor: str | None


class AdjustmentOut(BaseModel):
    id: int
    program_id: int
    org_id: int
    kind: str
    points: int
    reason: str
    at: dt.datetime


# --- scope ---------------------------------------------------------------------------------------------


async def _target_org(session: AsyncSession, who: Principal, org_id: int | None) -> int:
    """The org whose points are asked for: the caller's own, or one it manages; anything else is 404."""
    if org_id is None or org_id == who.org_id:
        return who.org_id
    if who.role not in _MANAGERS:
        raise NotFound()
    if not await accounts.sees_org(session, who, org_id):
        raise NotFound()
    return org_id


# --- endpoints -----------------------------------------------------------------------------------------


@api.route(
    "GET",
    "/api/v1/points",
    summary="Points of your org (a manager may pass ?org_id=)",
    response=PointsOut,
    errors=(NotFound, ValidationFailed),
)
async def get_points(request: Request) -> Response:
    who = principal(request)
    async with database(request).reader() as session:
        org_id = await _target_org(session, who, query_int(request, "org_id"))
        programs = await accounts.visible_member_programs(session, who, org_id, query_int(request, "program_id"))
        if not programs and query_int(request, "program_id") is not None:
            raise NotFound()
        items = []
        for program_id in programs:
            balance = await queries.balance(session, program_id, org_id)
            expiring = await queries.expiring(session, program_id, org_id)
            items.append(
                PointsItemOut(
                    program_id=program_id,
                    org_id=org_id,
                    available=balance.available,
                    held=balance.held,
                    lifetime_earned=balance.lifetime_earned,
                    expiring=[ExpiringOut(points=e.points, expires_at=e.expires_at) for e in expiring],
                )
            )
    return json_response(PointsOut(items=items).model_dump(mode="json"))


@api.route(
    "GET",
    "/api/v1/points/transfers",
    summary="Transfer history of your org's points, newest first (?program_id=&org_id=&limit=&cursor=)",
    response=TransfersOut,
    errors=(NotFound, ValidationFailed),
)
async def get_transfers(request: Request) -> Response:
    who = principal(request)
    limit = page_limit(request)
    cursor = query_int(request, "cursor")
    requested_program = query_int(request, "program_id")
    async with database(request).reader() as session:
        org_id = await _target_org(session, who, query_int(request, "org_id"))
        programs = await accounts.visible_member_programs(session, who, org_id, requested_program)
        if not programs:
            raise NotFound()
        if len(programs) > 1:
            raise ValidationFailed(
                [FieldError(("query", "program_id"), N_("Required: this org takes part in several programs."))]
            )
        entries, next_id = await queries.history(session, programs[0], org_id, limit=limit, before=cursor)
        names = await rule_names(
            session, ((e.transfer.rule_id, e.transfer.rule_version) for e in entries), request.state.locale
        )
    items = [
        TransferOut(
            id=entry.transfer.id,
            kind=entry.transfer.kind,
            points=entry.points,
            at=entry.transfer.at,
            rule=None
            if entry.transfer.rule_id is None
            else RuleRefOut(
                id=entry.transfer.rule_id,
                version=entry.transfer.rule_version,
                name=names.get((entry.transfer.rule_id, entry.transfer.rule_version or 0)),
            ),
            lead_id=entry.transfer.lead_id,
            redemption_id=entry.transfer.redemption_id,
            reason=entry.transfer.reason,
        )
        for entry in entries
    ]
    body = TransfersOut(items=items, next_cursor=None if next_id is None else str(next_id))
    return json_response(body.model_dump(mode="json"))


@api.route(
    "POST",
    "/api/v1/points/adjustments",
    summary="Adjust an org's points by hand, with a reason (admin; audited)",
    body=AdjustmentIn,
    response=AdjustmentOut,
    status=201,
    errors=(Forbidden, NotFound, InsufficientPoints),
)
async def post_adjustment(request: Request) -> Response:
    who = principal(request)
    body = await parse_body(request, AdjustmentIn)
    db = database(request)
    async with db.reader() as session:
        if not await accounts.sees_program(session, who, body.program_id):
            raise NotFound()
        org_id = await _target_org(session, who, body.org_id)
        if not await accounts.visible_member_programs(session, who, org_id, body.program_id):
            raise NotFound()
    if not who.administers(body.program_id):
        raise Forbidden()
    # With an Idempotency-Key the ledger's own key derives from it, so a retry after a lost response
    # books nothing twice even if the HTTP-level record was lost; without one, every call is new.
    header = request.headers.get("idempotency-key")
    key = f"api:{who.user_id}:{hashlib.sha256(header.encode()).hexdigest()}" if header else f"api:{uuid.uuid4()}"
    async with db.transaction() as session:
        transfer = await payouts.adjust(
            session,
            program_id=body.program_id,
            org_id=org_id,
            points=body.points,
            key=key,
            cause=Cause(user_id=who.user_id, reason=body.reason),
        )
    out = AdjustmentOut(
        id=transfer.id,
        program_id=body.program_id,
        org_id=org_id,
        kind=transfer.kind,
        points=body.points,
        reason=body.reason,
        at=transfer.at,
    )
    return json_response(out.model_dump(mode="json"), 201)
