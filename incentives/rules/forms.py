"""The rule editor's simple fields (temperature, feedback within hours, tier, product line, points, cold
multiplier) turned into the CEL condition and points formula they mean, so the common cases need no CEL."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal

from incentives import i18n
from incentives.accounts.roles import Tier
from incentives.errors import N_
from incentives.rules.describe import TEMPERATURES
from incentives.rules.plain import clauses_of
from incentives.rules.services import MAX_POINTS

TIERS = frozenset(tier.value for tier in Tier)


def parse_number(raw: str, locale: str) -> float | None:
    """A number as the reader types it ("1,5" in German); None when empty or not a number."""
    try:
        value = i18n.parse_number(raw, locale)
    except ValueError:
        return None
    return None if value is None else float(value)


def generate(values: Mapping[str, str], locale: str) -> tuple[str, str, dict[str, str]]:
    """(condition, points, untranslated errors by field) from the editor's simple fields; strings are
    JSON-quoted, which CEL reads as the same string literal."""
    errors: dict[str, str] = {}
    parts: list[str] = []
    if values.get("temperature") in TEMPERATURES:
        parts.append(f"lead.temperature == {json.dumps(values['temperature'])}")
    hours = parse_number(values.get("within_hours", ""), locale)
    if values.get("within_hours", "").strip():
        if hours is None or not 0 < hours <= 24 * 365:
            errors["within_hours"] = N_("Please enter a number of hours between 1 and 8760.")
        elif values.get("event") == "lead.feedback":
            parts.append(f"feedback.hours_since_reserved <= {hours!r}")
        else:
            errors["within_hours"] = N_("Only feedback rules can ask for feedback within a time.")
    if values.get("tier") in TIERS:
        parts.append(f"partner.tier == {json.dumps(values['tier'])}")
    product_line = values.get("product_line", "").strip()
    if product_line:
        parts.append(f"lead.product_line == {json.dumps(product_line, ensure_ascii=False)}")
    base = parse_number(values.get("base_points", ""), locale)
    if base is None or base != int(base) or not 0 < base <= MAX_POINTS:
        errors["base_points"] = N_("Please enter whole points between 1 and 100,000.")
        base = 0
    multiplier = parse_number(values.get("cold_multiplier", ""), locale) or 1.0
    if not 1 <= multiplier <= 10:
        errors["cold_multiplier"] = N_("Please enter a multiplier between 1 and 10.")
        multiplier = 1.0
    points = str(int(base))
    cold = int(base * multiplier)
    if cold != int(base) and values.get("temperature") != "cold":
        points = f'lead.temperature == "cold" ? {cold} : {int(base)}'
    elif values.get("temperature") == "cold":
        points = str(cold)
    return " && ".join(parts) or "true", points, errors


# The two points formulas `generate` writes: a constant, or more for cold leads.
_POINTS = re.compile(r'(?:lead\.temperature == "cold" \? (\d+) : )?(\d+)')
HELPER_CLAUSES = frozenset({"temperature", "within_hours", "tier", "product_line"})


def helpers_of(event: str, condition: str, points: str, locale: str) -> dict[str, str] | None:
    """The simple fields that write exactly this condition and points formula, formatted for the reader; None
    when no simple fields do (an advanced rule). Checked by generating again: the fields and the CEL text
    never disagree."""
    clauses = clauses_of(condition)
    found = _POINTS.fullmatch(points.strip())
    if clauses is None or found is None or any(c.kind not in HELPER_CLAUSES for c in clauses):
        return None
    base = int(found.group(2))
    cold = int(found.group(1)) if found.group(1) else base
    values = {"event": event, **{c.kind: _shown(c.value, locale) for c in clauses}}
    values["base_points"] = str(base)
    if cold != base and base:
        values["cold_multiplier"] = i18n.format_number(Decimal(cold) / Decimal(base), locale)
    generated_condition, generated_points, errors = generate(values, locale)
    if errors or (generated_condition, generated_points) != (condition.strip(), points.strip()):
        return None
    return values


def _shown(value: str | float | None, locale: str) -> str:
    if isinstance(value, float):
        return i18n.format_number(value, locale)
    return value or ""
