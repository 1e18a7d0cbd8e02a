"""The rule set a new program starts with: what DESIGN.md wants rewarded, editable like any other rule."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from incentives.rules.models import CapPeriod, Effect, RuleVersion
from incentives.rules.services import RuleInput, add_rule

# Cold leads are the ones nobody wants to work: they pay about three times a hot lead's points.
_BY_TEMPERATURE = 'lead.temperature == "cold" ? {cold} : (lead.temperature == "warm" ? {warm} : {hot})'

DEFAULT_RULES: tuple[dict[str, object], ...] = (
    {
        "name_de": "Lead reserviert (kalte Leads zählen dreifach)",
        "name_en": "Lead reserved (cold leads count three times)",
        "event": "lead.reserved",
        "condition": "true",
        "points": _BY_TEMPERATURE.format(cold=30, warm=15, hot=10),
        # Against pick-and-return farming: reserving pays at most this much a day (returns reverse it anyway).
        "cap_per": CapPeriod.DAY.value,
        "cap_max_points": 300,
    },
    {
        "name_de": "Schnelle erste Rückmeldung (innerhalb von 24 Stunden)",
        "name_en": "Fast first feedback (within 24 hours)",
        "event": "lead.feedback",
        "condition": "feedback.is_first && feedback.hours_since_reserved <= 24.0",
        "points": _BY_TEMPERATURE.format(cold=40, warm=25, hot=20),
    },
    {
        "name_de": "Rückmeldung pünktlich",
        "name_en": "Feedback on time",
        "event": "lead.feedback",
        "condition": "feedback.on_time",
        "points": _BY_TEMPERATURE.format(cold=6, warm=4, hot=3),
    },
    {
        "name_de": "Auftrag gewonnen (nach Auftragswert)",
        "name_en": "Deal won (by deal value)",
        "event": "lead.won",
        "condition": "true",
        # One point per 100 EUR up to 500,000 EUR, doubled for cold leads, plus 50 for closing at all.
        "points": (
            '(deal.value >= 500000.0 ? 5000 : int(deal.value / 100.0)) * (lead.temperature == "cold" ? 2 : 1) + 50'
        ),
    },
    {
        "name_de": "Zurückgegebener Lead: Reservierungspunkte werden zurückgebucht",
        "name_en": "Returned lead: reservation points are reversed",
        "event": "lead.returned",
        "effect": Effect.REVERSE.value,
        "condition": "true",
        "points": "0",
    },
)


async def install_default_rules(session: AsyncSession, program_id: int) -> list[RuleVersion]:
    """Add the default rules to a program, in the caller's transaction."""
    installed = []
    for spec in DEFAULT_RULES:
        data = RuleInput(program_id=program_id, **spec)  # type: ignore[arg-type]
        installed.append(await add_rule(session, data))
    return installed
