"""Errors of the rules domain, with the stable codes of API.md."""

from __future__ import annotations

from incentives.errors import N_, DomainError
from incentives.rules.expressions import ExpressionError


class InvalidExpression(DomainError):
    status = 422
    code = "invalid_expression"
    title = N_("The expression is not valid.")

    def __init__(self, field: str, error: ExpressionError) -> None:
        super().__init__(
            N_("%(field)s, line %(line)s, column %(column)s: %(problem)s"),
            params={"field": field, "line": error.line, "column": error.column, "problem": error.message},
            extra={"field": field, "line": error.line, "column": error.column, "problem": error.message},
        )


class BudgetExhausted(DomainError):
    """API.md's code for a campaign budget that cannot pay more. No call answers with it yet: an award that
    would overspend a budget is cut to what is left (rules/campaigns.py), which is not the caller's error."""

    status = 422
    code = "budget_exhausted"
    title = N_("The campaign's points budget is used up.")
