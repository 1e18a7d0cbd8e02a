"""Achievement definitions: checked like rules (the same CEL, the same translated errors), created by managers.

An achievement listens to one rule event; `condition` is CEL over that event's variables. A `count` one counts
matching events in its period; a `streak` one reads the partner's streak (`partner.streak.<streak>`) at a
matching event. Start and end make it a challenge. Services join the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts.roles import Tier
from incentives.accounts.scope import Principal
from incentives.engagement.models import Achievement, Kind, Period
from incentives.errors import N_, FieldError, ValidationFailed
from incentives.leads.models import StreakKey
from incentives.rules.errors import InvalidExpression
from incentives.rules.expressions import Compiled, ExpressionError, compile_expression
from incentives.rules.services import MAX_POINTS, ensure_manager
from incentives.rules.variables import BOOL, EVENTS

MAX_TARGET = 1_000_000


@dataclass(frozen=True)
class AchievementInput:
    program_id: int
    name_de: str
    name_en: str
    event: str
    condition: str
    target: int
    kind: str = Kind.COUNT
    period: str = Period.ALL
    streak: str | None = None
    description_de: str = ""
    description_en: str = ""
    starts_at: dt.datetime | None = None
    ends_at: dt.datetime | None = None
    repeatable: bool = False
    points: int | None = None
    tiers: tuple[str, ...] = field(default=())
    regions: tuple[str, ...] = field(default=())
    product_lines: tuple[str, ...] = field(default=())


def _one_of(loc: str, values: tuple[str, ...]) -> FieldError:
    return FieldError((loc,), N_("Must be one of: %(expected)s."), expected=", ".join(values))


def check_condition(event: str, condition: str) -> Compiled:
    """The compiled condition for `event`, or a 422 naming the event or the expression's position."""
    if event not in EVENTS:
        raise ValidationFailed([_one_of("event", EVENTS)])
    try:
        return compile_expression(condition, event, BOOL)
    except ExpressionError as error:
        raise InvalidExpression("condition", error) from error


def check_achievement(data: AchievementInput) -> None:
    errors: list[FieldError] = []
    for name in ("name_de", "name_en"):
        if not 1 <= len(getattr(data, name).strip()) <= 200:
            errors.append(FieldError((name,), N_("This field is required.")))
    if data.kind not in tuple(Kind):
        errors.append(_one_of("kind", tuple(Kind)))
    elif data.kind == Kind.STREAK and data.streak not in tuple(StreakKey):
        errors.append(_one_of("streak", tuple(StreakKey)))
    elif data.kind == Kind.COUNT and data.streak is not None:
        errors.append(FieldError(("streak",), N_("Only a streak achievement names a streak.")))
    if data.period not in tuple(Period):
        errors.append(_one_of("period", tuple(Period)))
    if not 1 <= data.target <= MAX_TARGET:
        errors.append(FieldError(("target",), N_("Must be between %(ge)s and %(le)s."), ge=1, le=MAX_TARGET))
    if data.starts_at and data.ends_at and data.ends_at <= data.starts_at:
        errors.append(FieldError(("ends_at",), N_("Must be later than the start.")))
    if data.points is not None and not 1 <= data.points <= MAX_POINTS:
        errors.append(FieldError(("points",), N_("Must be between %(ge)s and %(le)s."), ge=1, le=MAX_POINTS))
    if any(tier not in tuple(Tier) for tier in data.tiers):
        errors.append(FieldError(("segment", "tiers"), N_("Must be one of: %(expected)s."), expected=", ".join(Tier)))
    if data.event not in EVENTS:
        errors.append(_one_of("event", EVENTS))
    if errors:
        raise ValidationFailed(errors)
    check_condition(data.event, data.condition)


async def add_achievement(session: AsyncSession, data: AchievementInput, user_id: int | None = None) -> Achievement:
    """Insert a checked achievement, in the caller's transaction (defaults, demo, the API)."""
    check_achievement(data)
    achievement = Achievement(
        program_id=data.program_id,
        name_de=data.name_de.strip(),
        name_en=data.name_en.strip(),
        description_de=data.description_de.strip(),
        description_en=data.description_en.strip(),
        event=data.event,
        condition=data.condition,
        kind=data.kind,
        streak=data.streak if data.kind == Kind.STREAK else None,
        target=data.target,
        period=data.period,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        repeatable=data.repeatable,
        points=data.points,
        tiers=list(data.tiers),
        regions=list(data.regions),
        product_lines=list(data.product_lines),
        created_by_id=user_id,
    )
    session.add(achievement)
    await session.flush()
    return achievement


async def create_achievement(session: AsyncSession, principal: Principal, data: AchievementInput) -> Achievement:
    """A manager's new achievement (admins and partner managers of the program), in the caller's transaction."""
    ensure_manager(principal, data.program_id)
    return await add_achievement(session, data, principal.user_id)


async def program_achievements(session: AsyncSession, program_id: int) -> list[Achievement]:
    """Every active achievement of a program, oldest first."""
    rows = await session.scalars(
        select(Achievement)
        .where(Achievement.program_id == program_id, Achievement.active.is_(True))
        .order_by(Achievement.id)
    )
    return list(rows)


async def names_by_reason(session: AsyncSession, reasons: Iterable[str | None], locale: str) -> dict[str, str]:
    """The achievement named by each ledger reason `achievement:{id}` (engagement/paying.py writes them)."""
    ids = {
        int(reason.split(":", 1)[1])
        for reason in reasons
        if reason and reason.startswith("achievement:") and reason.split(":", 1)[1].isdigit()
    }
    if not ids:
        return {}
    rows = await session.execute(
        select(Achievement.id, Achievement.name_de, Achievement.name_en).where(Achievement.id.in_(ids))
    )
    return {f"achievement:{row.id}": row.name_de if locale == "de" else row.name_en for row in rows}
