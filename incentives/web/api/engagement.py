"""GET /api/v1/me/engagement (API.md "Rankings, engagement, KPIs"): a partner's points, level, ranks, streaks and
achievements in one answer, from the same ledger, boards and events the pages show."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from incentives.accounts.roles import Role
from incentives.db import utcnow
from incentives.engagement.levels import level_of
from incentives.engagement.progress import achievements_of
from incentives.errors import NotFound
from incentives.leaderboard import periods, scopes
from incentives.leaderboard.queries import board
from incentives.leads.streaks import streaks_of
from incentives.ledger import queries as ledger_queries
from incentives.web.api.base import Api, database, json_response, principal, query_int

api = Api()

RANKED_PERIODS = ("week", "month", "all")


class PointsOut(BaseModel):
    available: int
    held: int
    lifetime_earned: int


class NextLevelOut(BaseModel):
    key: str
    name: str
    points_needed: int


class LevelOut(BaseModel):
    key: str
    name: str
    threshold: int
    points: int
    next: NextLevelOut | None = None


class RankOut(BaseModel):
    scope: str
    period: str
    rank: int
    of: int
    points: int


class StreakOut(BaseModel):
    key: str
    current: int
    best: int
    at_risk_at: dt.datetime | None = None


class AchievementOut(BaseModel):
    id: int
    name: str
    progress: int
    target: int
    earned_at: dt.datetime | None = None
    times_earned: int
    ends_at: dt.datetime | None = None


class EngagementOut(BaseModel):
    program_id: int
    points: PointsOut
    level: LevelOut
    ranks: list[RankOut]
    streaks: list[StreakOut]
    achievements: list[AchievementOut]


@api.route(
    "GET",
    "/api/v1/me/engagement",
    summary="Your org's points, level, ranks, streaks and achievements in a program (partners)",
    response=EngagementOut,
    errors=(NotFound,),
)
async def get_engagement(request: Request) -> Response:
    who = principal(request)
    if who.role not in (Role.RESELLER_MANAGER, Role.RESELLER_REP):
        raise NotFound()
    locale: str = request.state.locale
    now = utcnow()
    db = database(request)
    async with db.reader() as session:
        program_id = await scopes.board_program(session, who, query_int(request, "program_id"))
        balance = await ledger_queries.balance(session, program_id, who.org_id)
        level = await level_of(session, program_id, who.org_id, now)
        ranks = []
        for scope in (await scopes.scopes_for(session, who, program_id))[:2]:  # the program and its league
            for kind in RANKED_PERIODS:
                found = await board(
                    db, session, program_id, periods.parse(kind, now), scope, limit=1, me=who.org_id, now=now
                )
                if found.me is not None:
                    ranks.append(
                        RankOut(scope=scope.name, period=kind, rank=found.me.rank, of=found.of, points=found.me.points)
                    )
        streaks = await streaks_of(session, program_id, who.org_id, now)
        achievements = await achievements_of(session, program_id, who.org_id, now)
    out = EngagementOut(
        program_id=program_id,
        points=PointsOut(available=balance.available, held=balance.held, lifetime_earned=balance.lifetime_earned),
        level=LevelOut(
            key=level.key,
            name=level.name(locale),
            threshold=level.threshold,
            points=level.points,
            next=None
            if level.next is None
            else NextLevelOut(key=level.next.key, name=level.next.name(locale), points_needed=level.next.points_needed),
        ),
        ranks=ranks,
        streaks=[StreakOut(key=s.key, current=s.current, best=s.best, at_risk_at=s.at_risk_at) for s in streaks],
        achievements=[
            AchievementOut(
                id=a.id,
                name=a.name_de if locale == "de" else a.name_en,
                progress=a.progress,
                target=a.target,
                earned_at=a.earned_at,
                times_earned=a.times_earned,
                ends_at=a.ends_at,
            )
            for a in achievements
        ],
    )
    return json_response(out.model_dump(mode="json"))
