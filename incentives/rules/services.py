"""Rule services: validate, create, edit (a new version each time) and list the rules of a program."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from incentives import live
from incentives.accounts.scope import Principal
from incentives.errors import N_, FieldError, Forbidden, NotFound, ValidationFailed
from incentives.rules import queries
from incentives.rules.errors import InvalidExpression
from incentives.rules.expressions import Compiled, ExpressionError, compile_expression
from incentives.rules.models import Campaign, CapPeriod, Effect, Rule, RuleVersion
from incentives.rules.variables import BOOL, EVENTS, INT

# Larger constant awards are typos (an extra zero) far more often than intent.
MAX_POINTS = 100_000
MAX_CAP = 10_000_000


@dataclass(frozen=True)
class RuleInput:
    program_id: int
    name_de: str
    name_en: str
    event: str
    condition: str
    points: str
    cap_per: str | None = None
    cap_max_points: int | None = None
    valid_from: dt.datetime | None = None
    valid_to: dt.datetime | None = None
    active: bool = True
    campaign_id: int | None = None
    effect: str = Effect.AWARD


@dataclass(frozen=True)
class Checked:
    condition: Compiled
    points: Compiled


def check_expressions(event: str, condition: str, points: str, effect: str = Effect.AWARD) -> Checked:
    """Compile and type-check both expressions for `event`, or raise naming the field and position."""
    if event not in EVENTS:
        raise ValidationFailed(
            [FieldError(("event",), N_("Must be one of: %(expected)s."), expected=", ".join(EVENTS))]
        )
    if effect == Effect.REVERSE and event != "lead.returned":
        raise ValidationFailed([FieldError(("effect",), N_("Only a rule on lead.returned can reverse points."))])
    try:
        compiled_condition = compile_expression(condition, event, BOOL)
    except ExpressionError as error:
        raise InvalidExpression("condition", error) from error
    try:
        compiled_points = compile_expression(points, event, INT)
    except ExpressionError as error:
        raise InvalidExpression("points", error) from error
    if compiled_points.constant:
        value = compiled_points({})
        if value < 0:
            raise ValidationFailed([FieldError(("points",), N_("Points must not be negative."))])
        if value > MAX_POINTS:
            raise ValidationFailed([FieldError(("points",), N_("Must be at most %(le)s."), le=MAX_POINTS)])
        if value == 0 and effect == Effect.AWARD:
            raise ValidationFailed([FieldError(("points",), N_("Must be a positive whole number of points."))])
    return Checked(compiled_condition, compiled_points)


def check_rule(data: RuleInput) -> None:
    errors: list[FieldError] = []
    if (data.cap_per is None) != (data.cap_max_points is None):
        errors.append(FieldError(("cap",), N_("A cap needs both a period and a maximum.")))
    if data.cap_per is not None and data.cap_per not in tuple(CapPeriod):
        errors.append(FieldError(("cap", "per"), N_("Must be one of: %(expected)s."), expected="day, week, month"))
    if data.cap_max_points is not None and not 0 < data.cap_max_points <= MAX_CAP:
        errors.append(FieldError(("cap", "max_points"), N_("Must be at least %(ge)s."), ge=1))
    if data.valid_from and data.valid_to and data.valid_to <= data.valid_from:
        errors.append(FieldError(("valid_to",), N_("Must be later than the start.")))
    if data.effect not in tuple(Effect):
        errors.append(FieldError(("effect",), N_("Must be one of: %(expected)s."), expected="award, reverse"))
    if errors:
        raise ValidationFailed(errors)
    check_expressions(data.event, data.condition, data.points, data.effect)


def ensure_manager(principal: Principal, program_id: int) -> None:
    """Admins and partner managers of the program; another program's staff get 404, everybody else 403."""
    if principal.manages(program_id):
        return
    if principal.acts_for_program and principal.program_id != program_id:
        raise NotFound()
    raise Forbidden()


def ensure_manages_found(principal: Principal, program_id: int) -> None:
    """For a rule or campaign found by its id: its program's admins and partner managers pass, the program's
    other staff (agency) get 403, and everybody else 404, as if it did not exist (no existence oracle)."""
    if principal.manages(program_id):
        return
    if principal.acts_for_program and principal.program_id == program_id:
        raise Forbidden()
    raise NotFound()


def _version_of(rule: Rule, version: int, data: RuleInput, user_id: int | None) -> RuleVersion:
    return RuleVersion(
        rule_id=rule.id,
        version=version,
        program_id=rule.program_id,
        name_de=data.name_de,
        name_en=data.name_en,
        event=data.event,
        effect=data.effect,
        condition=data.condition,
        points=data.points,
        cap_per=data.cap_per,
        cap_max_points=data.cap_max_points,
        valid_from=data.valid_from,
        valid_to=data.valid_to,
        active=data.active,
        campaign_id=data.campaign_id,
        created_by_id=user_id,
    )


async def check_rule_campaign(session: AsyncSession, data: RuleInput) -> None:
    """A campaign-only rule must name a campaign of its own program."""
    if data.campaign_id is None:
        return
    owner = await session.scalar(select(Campaign.program_id).where(Campaign.id == data.campaign_id))
    if owner != data.program_id:
        raise ValidationFailed([FieldError(("campaign_id",), N_("No such campaign in this program."))])


async def add_rule(session: AsyncSession, data: RuleInput, user_id: int | None = None) -> RuleVersion:
    """Insert a checked rule with its first version, in the caller's transaction (defaults, demo)."""
    check_rule(data)
    await check_rule_campaign(session, data)
    rule = Rule(program_id=data.program_id, current_version=1)
    session.add(rule)
    await session.flush()
    version = _version_of(rule, 1, data, user_id)
    session.add(version)
    await session.flush()
    return version


async def create_rule(session: AsyncSession, principal: Principal, data: RuleInput) -> RuleVersion:
    ensure_manager(principal, data.program_id)
    check_rule(data)
    live.pick_lists_changed(session, data.program_id)
    return await add_rule(session, data, principal.user_id)


async def update_rule(session: AsyncSession, principal: Principal, rule_id: int, data: RuleInput) -> RuleVersion:
    """A new version; the old ones stay as they were, so past awards keep naming what paid them."""
    check_rule(data)
    # The row lock makes concurrent edits take turns (SQLite writers are serialized already).
    rule = await session.scalar(select(Rule).where(Rule.id == rule_id).with_for_update())
    if rule is None:
        raise NotFound()
    ensure_manages_found(principal, rule.program_id)
    if data.program_id != rule.program_id:
        raise ValidationFailed([FieldError(("program_id",), N_("A rule cannot move to another program."))])
    await check_rule_campaign(session, data)
    live.pick_lists_changed(session, rule.program_id)
    version = rule.current_version + 1
    session.add(_version_of(rule, version, data, principal.user_id))
    await session.execute(update(Rule).where(Rule.id == rule.id).values(current_version=version))
    await session.flush()
    found = await session.scalar(
        select(RuleVersion).where(RuleVersion.rule_id == rule.id, RuleVersion.version == version)
    )
    assert found is not None
    return found


async def list_rules(session: AsyncSession, principal: Principal, program_id: int) -> list[RuleVersion]:
    ensure_manager(principal, program_id)
    return await queries.program_rules(session, program_id)


async def rule_history(session: AsyncSession, principal: Principal, rule_id: int) -> list[RuleVersion]:
    """Every version of a rule, newest first."""
    program_id = await session.scalar(select(Rule.program_id).where(Rule.id == rule_id))
    if program_id is None:
        raise NotFound()
    ensure_manages_found(principal, program_id)
    rows = await session.scalars(
        select(RuleVersion).where(RuleVersion.rule_id == rule_id).order_by(RuleVersion.version.desc())
    )
    return list(rows)
