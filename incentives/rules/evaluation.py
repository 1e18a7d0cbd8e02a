"""One rule against one event: validity window, condition, points, cap periods. Shared by processing and simulation."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from incentives.rules.expressions import Compiled, EvaluationError, compile_expression
from incentives.rules.models import CapPeriod, Effect, RuleVersion
from incentives.rules.services import MAX_POINTS, RuleInput
from incentives.rules.variables import BOOL, INT


@dataclass(frozen=True)
class ActiveRule:
    """A rule version ready to run: both expressions compiled (from the cache)."""

    rule_id: int
    version: int
    program_id: int
    event: str
    effect: str
    condition: Compiled
    points: Compiled
    cap_per: str | None
    cap_max_points: int | None
    valid_from: dt.datetime | None
    valid_to: dt.datetime | None

    @classmethod
    def of(cls, row: RuleVersion | RuleInput, rule_id: int = 0, version: int = 0) -> ActiveRule:
        """A saved version, or a draft (a RuleInput, checked first) for simulation and benchmarks."""
        if isinstance(row, RuleVersion):
            rule_id, version = row.rule_id, row.version
        return cls(
            rule_id=rule_id,
            version=version,
            program_id=row.program_id,
            event=row.event,
            effect=row.effect,
            condition=compile_expression(row.condition, row.event, BOOL),
            points=compile_expression(row.points, row.event, INT),
            cap_per=row.cap_per,
            cap_max_points=row.cap_max_points,
            valid_from=row.valid_from,
            valid_to=row.valid_to,
        )

    def valid_at(self, at: dt.datetime) -> bool:
        return (self.valid_from is None or self.valid_from <= at) and (self.valid_to is None or at < self.valid_to)


@dataclass(frozen=True)
class Verdict:
    """What a rule says about an event before caps: points (0 when the condition is false) or why it skipped."""

    points: int = 0
    skipped: str | None = None


NOTHING = Verdict()
REVERSE = Verdict(points=1)  # a reversal rule matched; what it takes back is looked up when deciding


def evaluate(rule: ActiveRule, payload: Mapping[str, Any]) -> Verdict:
    try:
        if rule.condition(payload) is not True:
            return NOTHING
        if rule.effect == Effect.REVERSE:
            return REVERSE
        points = rule.points(payload)
    except EvaluationError as error:
        return Verdict(skipped=f"evaluation failed: {error}"[:500])
    if points < 0:
        return Verdict(skipped=f"the points expression gave {points}, less than 0")
    if points > MAX_POINTS:
        return Verdict(skipped=f"the points expression gave {points}, more than {MAX_POINTS}")
    return Verdict(points=points)


def period_start(at: dt.datetime, per: str) -> dt.datetime:
    """The start of the UTC day, ISO week (Monday) or month holding `at`."""
    day = at.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if per == CapPeriod.WEEK:
        return day - dt.timedelta(days=day.weekday())
    if per == CapPeriod.MONTH:
        return day.replace(day=1)
    return day


def build(rows: Iterable[RuleVersion]) -> list[ActiveRule]:
    return [ActiveRule.of(row) for row in rows]
