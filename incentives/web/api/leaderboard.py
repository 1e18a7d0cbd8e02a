"""The leaderboard endpoint of API.md ("Rankings, engagement, KPIs"): points earned in a period, per board."""

from __future__ import annotations

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from incentives.db import utcnow
from incentives.errors import NotFound, ValidationFailed
from incentives.leaderboard import periods, scopes
from incentives.leaderboard.queries import Board, Row, board
from incentives.web.api.base import Api, database, json_response, page_limit, principal, query_int

api = Api()


class RankOut(BaseModel):
    rank: int
    org_id: int
    name: str
    points: int
    user_id: int | None = None  # on a reseller's reps board: the rep
    movement: int | None = None  # places gained (+) or lost (−) since the week began


class MeOut(BaseModel):
    rank: int
    points: int


class LeaderboardOut(BaseModel):
    program_id: int
    period: str
    scope: str
    of: int
    items: list[RankOut]
    me: MeOut | None = None


def _out(found: Board, row: Row) -> RankOut:
    if found.scope.of_reps:
        org_id, user_id = int(found.scope.value), row.subject_id
    else:
        org_id, user_id = row.subject_id, None
    return RankOut(
        rank=row.rank, org_id=org_id, name=row.name, points=row.points, user_id=user_id, movement=row.movement
    )


@api.route(
    "GET",
    "/api/v1/leaderboard",
    summary="Points earned in a period, ranked (equal points share a rank)",
    response=LeaderboardOut,
    errors=(NotFound, ValidationFailed),
)
async def get_leaderboard(request: Request) -> Response:
    who = principal(request)
    now = utcnow()
    period = periods.parse(request.query_params.get("period"), now)
    scope = scopes.parse(request.query_params.get("scope"))
    limit = page_limit(request)
    db = database(request)
    async with db.reader() as session:
        program_id = await scopes.visible_board(session, who, query_int(request, "program_id"), scope)
        me = scopes.me_on(who, scope)
        found = await board(db, session, program_id, period, scope, limit=limit, me=me, now=now)
    out = LeaderboardOut(
        program_id=program_id,
        period=period.name,
        scope=scope.name,
        of=found.of,
        items=[_out(found, row) for row in found.rows],
        me=None if found.me is None else MeOut(rank=found.me.rank, points=found.me.points),
    )
    return json_response(out.model_dump(mode="json"))
