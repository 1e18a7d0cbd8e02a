"""Achievement endpoints of API.md ("Rankings, engagement, KPIs"): define one; list them with earned-by counts
(managers) or the caller's own progress (partners)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints
from starlette.requests import Request
from starlette.responses import Response

from incentives.db import utcnow
from incentives.engagement import definitions, progress
from incentives.engagement.models import Achievement
from incentives.errors import Forbidden, NotFound, ValidationFailed
from incentives.rules.errors import InvalidExpression
from incentives.validation import Strict
from incentives.web.api.base import Api, database, json_response, parse_body, principal
from incentives.web.api.campaigns import SegmentIn
from incentives.web.api.rules import Expression, NameIn, When, program_id_param

api = Api()

Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]


class DescriptionIn(Strict):
    de: Description = ""
    en: Description = ""


class AchievementIn(Strict):
    program_id: int
    name: NameIn
    description: DescriptionIn | None = None
    event: str
    condition: Expression
    target: int
    kind: str = "count"
    streak: str | None = None
    period: str = "all"
    starts_at: When | None = None
    ends_at: When | None = None
    repeatable: bool = False
    points: int | None = None
    segment: Annotated[SegmentIn, Field(default_factory=SegmentIn)]

    def to_input(self) -> definitions.AchievementInput:
        description = self.description or DescriptionIn()
        return definitions.AchievementInput(
            program_id=self.program_id,
            name_de=self.name.de,
            name_en=self.name.en,
            description_de=description.de,
            description_en=description.en,
            event=self.event,
            condition=self.condition,
            target=self.target,
            kind=self.kind,
            streak=self.streak,
            period=self.period,
            starts_at=self.starts_at,
            ends_at=self.ends_at,
            repeatable=self.repeatable,
            points=self.points,
            tiers=tuple(self.segment.tiers),
            regions=tuple(self.segment.regions),
            product_lines=tuple(self.segment.product_lines),
        )


def achievement_out(achievement: Achievement) -> dict[str, Any]:
    return {
        "id": achievement.id,
        "program_id": achievement.program_id,
        "name": {"de": achievement.name_de, "en": achievement.name_en},
        "description": {"de": achievement.description_de, "en": achievement.description_en},
        "event": achievement.event,
        "condition": achievement.condition,
        "kind": achievement.kind,
        "streak": achievement.streak,
        "target": achievement.target,
        "period": achievement.period,
        "starts_at": achievement.starts_at,
        "ends_at": achievement.ends_at,
        "repeatable": achievement.repeatable,
        "points": achievement.points,
        "segment": {
            "tiers": achievement.tiers,
            "regions": achievement.regions,
            "product_lines": achievement.product_lines,
        },
    }


def progress_out(item: progress.AchievementProgress) -> dict[str, Any]:
    return {
        "id": item.id,
        "name": {"de": item.name_de, "en": item.name_en},
        "description": {"de": item.description_de, "en": item.description_en},
        "progress": item.progress,
        "target": item.target,
        "earned_at": item.earned_at,
        "times_earned": item.times_earned,
        "ends_at": item.ends_at,
        "points": item.points,
    }


ERRORS = (Forbidden, NotFound, ValidationFailed, InvalidExpression)


@api.route(
    "POST", "/api/v1/achievements", summary="Define an achievement", body=AchievementIn, status=201, errors=ERRORS
)
async def post_achievement(request: Request) -> Response:
    who = principal(request)
    body = await parse_body(request, AchievementIn)
    async with database(request).transaction() as session:
        achievement = await definitions.create_achievement(session, who, body.to_input())
    return json_response({"id": achievement.id}, 201)


@api.route(
    "GET",
    "/api/v1/achievements",
    summary="Achievements of a program: earned-by counts (managers) or the caller's progress (partners)",
    errors=(Forbidden, NotFound, ValidationFailed),
)
async def get_achievements(request: Request) -> Response:
    who = principal(request)
    program_id = program_id_param(request, who)
    async with database(request).reader() as session:
        if who.role in progress.PARTNERS:
            org_id = await progress.partner_program(session, who, program_id)
            items = [
                progress_out(item) for item in await progress.achievements_of(session, program_id, org_id, utcnow())
            ]
        else:
            found = await progress.definitions(session, who, program_id)
            items = [{**achievement_out(d.achievement), "earned_by": d.earned_by} for d in found]
    return json_response({"items": items, "next_cursor": None})  # API.md: every list has both
