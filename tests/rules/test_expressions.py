"""Expressions: type-checked against the event's variables, errors with positions, evaluation."""

from __future__ import annotations

import datetime as dt

import pytest

from incentives.rules.expressions import EvaluationError, ExpressionError, compile_expression
from incentives.rules.variables import BOOL, INT
from tests.rules import payload

AT = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
ENV = payload("lead.feedback", 7, AT)


@pytest.mark.parametrize(
    ("text", "expected", "value"),
    [
        ("feedback.is_first && feedback.hours_since_reserved <= 24.0", BOOL, True),
        ("feedback.hours_since_reserved <= 24", BOOL, True),  # int and double compare
        ('lead.temperature == "cold" ? 30 : 10', INT, 30),
        ("int(lead.estimated_value / 100.0) + 5", INT, 125),
        ('lead.temperature in ["cold", "warm"] && !("x" in partner.competencies)', BOOL, True),
        ("-7 / 2 == -3 && -7 % 3 == -1 && 0x10 == 16", BOOL, True),
        ("event.at.getHours() == 9 && event.at > timestamp('2026-01-01T00:00:00Z')", BOOL, True),
        ('has(lead.industry) || lead.product_line.startsWith("heat")', BOOL, True),
        ("size(partner.certifications) == 0 && partner.org_id == 7", BOOL, True),
    ],
)
def test_valid_expressions_evaluate(text: str, expected: str, value: object) -> None:
    assert compile_expression(text, "lead.feedback", expected)(ENV) == value


@pytest.mark.parametrize(
    ("text", "expected", "line", "column", "message"),
    [
        ("feedback.is_first && feedback.hour > 1", BOOL, 1, 22, "unknown field feedback.hour"),
        ("deal.value > 1.0", BOOL, 1, 1, "deal is not available for event lead.feedback"),
        ("lead.wave + 1.0 > 2.0", BOOL, 1, 1, "cannot compute int + double"),
        ("lead.wave", BOOL, 1, 1, "must be of type bool, but is int"),
        ("lead.temperature == 'cold'", INT, 1, 1, "must be of type int, but is bool"),
        ("true &&\n  lead.x", BOOL, 2, 3, "unknown field lead.x"),
        ("1 +", INT, 1, 3, "syntax error"),
        ("[1, 2].exists(x, x > 1)", BOOL, 1, 1, "exists() is not supported"),
        ("foo(1) == 1", BOOL, 1, 1, "unknown function foo()"),
        ("lead.temperature == 1", BOOL, 1, 1, "cannot compare string == int"),
        ("x" * 1001, BOOL, 1, 1, "longer than"),
        ("lead.wave > 99999999999999999999", BOOL, 1, 13, "integer overflow"),
        ("lead.wave > 1 / 0", BOOL, 1, 13, "by zero"),
        ("(" * 300 + "true" + ")" * 300, BOOL, 1, 1, "nested too deeply"),
    ],
)
def test_invalid_expressions_name_the_position(text: str, expected: str, line: int, column: int, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(text, "lead.feedback", expected)
    assert (caught.value.line, caught.value.column) == (line, column)
    assert message in str(caught.value.message)  # the English text; translated where it is shown


def test_constant_parts_are_folded_and_cached() -> None:
    first = compile_expression("2 * 3 + 1", "lead.won", INT)
    assert first.constant and first({}) == 7
    assert compile_expression("2 * 3 + 1", "lead.won", INT) is first


def test_evaluation_errors_are_reported_not_raised_raw() -> None:
    division = compile_expression("100 / (lead.wave - 1)", "lead.feedback", INT)
    with pytest.raises(EvaluationError, match="division by zero"):
        division(ENV)
    missing = compile_expression("feedback.on_time", "lead.feedback", BOOL)
    with pytest.raises(EvaluationError, match="missing value"):
        missing({"lead": {}})
