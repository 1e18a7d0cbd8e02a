"""A rule's points formula described in terms a partner reads: a constant, an amount per lead temperature,
or "it depends on the deal value"; found by evaluating the compiled formula, never by parsing it."""

from __future__ import annotations

from dataclasses import dataclass

from incentives.rules.expressions import EvaluationError, compile_expression
from incentives.rules.models import RuleVersion
from incentives.rules.variables import INT

TEMPERATURES = ("cold", "warm", "hot")


@dataclass(frozen=True)
class PointsShape:
    """What a points formula pays: a constant, per lead temperature, or "it depends"."""

    constant: int | None = None
    by_temperature: dict[str, int] | None = None
    by_deal_value: bool = False


def describe_points(version: RuleVersion) -> PointsShape:
    compiled = compile_expression(version.points, version.event, INT)
    by_temperature: dict[str, int] = {}
    for temperature in TEMPERATURES:
        try:
            by_temperature[temperature] = compiled({"lead": {"temperature": temperature}})
        except (EvaluationError, KeyError, TypeError):
            return PointsShape(by_deal_value="deal.value" in version.points)
    if len(set(by_temperature.values())) == 1:
        return PointsShape(constant=by_temperature["cold"])
    return PointsShape(by_temperature=by_temperature)
