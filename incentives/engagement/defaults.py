"""The achievements a new program (and the demo) starts with: badges for what DESIGN.md wants, and a challenge."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from incentives.engagement.definitions import AchievementInput, add_achievement
from incentives.engagement.models import Achievement, Kind, Period
from incentives.leads.models import StreakKey

DEFAULT_ACHIEVEMENTS: tuple[dict[str, object], ...] = (
    {
        "name_de": "Erster Auftrag",
        "name_en": "First deal won",
        "description_de": "Gewinnen Sie Ihren ersten Auftrag aus einem Lead.",
        "description_en": "Win your first deal from a lead.",
        "event": "lead.won",
        "condition": "true",
        "target": 1,
        "points": 100,
    },
    {
        "name_de": "Held der kalten Leads",
        "name_en": "Cold-lead hero",
        "description_de": "Gewinnen Sie drei Aufträge aus kalten Leads.",
        "description_en": "Win three deals from cold leads.",
        "event": "lead.won",
        "condition": 'lead.temperature == "cold"',
        "target": 3,
        "points": 250,
    },
    {
        "name_de": "Zuverlässig: 10 pünktliche Rückmeldungen",
        "name_en": "Reliable: 10 on-time feedbacks",
        "description_de": "Geben Sie zehnmal Rückmeldung, bevor sie fällig ist.",
        "description_en": "Give feedback ten times before it is due.",
        "event": "lead.feedback",
        "condition": "feedback.on_time",
        "target": 10,
        "points": 50,
    },
    {
        "name_de": "Vier aktive Wochen in Folge",
        "name_en": "Four active weeks in a row",
        "description_de": "Reservieren Sie Leads oder geben Sie Rückmeldung, vier Wochen hintereinander.",
        "description_en": "Reserve leads or give feedback four weeks in a row.",
        "event": "lead.feedback",
        "condition": "true",
        "kind": Kind.STREAK.value,
        "streak": StreakKey.ACTIVE_WEEKS.value,
        "target": 4,
        "points": 40,
    },
    {
        "name_de": "Wochen-Challenge: 5 schnelle Rückmeldungen",
        "name_en": "Weekly challenge: 5 fast feedbacks",
        "description_de": "Geben Sie diese Woche auf fünf Leads innerhalb von 24 Stunden die erste Rückmeldung.",
        "description_en": "This week, give the first feedback within 24 hours on five leads.",
        "event": "lead.feedback",
        "condition": "feedback.is_first && feedback.hours_since_reserved <= 24.0",
        "target": 5,
        "period": Period.WEEK.value,
        "repeatable": True,
        "points": 30,
    },
)


async def install_default_achievements(session: AsyncSession, program_id: int) -> list[Achievement]:
    """Add the default achievements to a program, in the caller's transaction."""
    return [
        await add_achievement(session, AchievementInput(program_id=program_id, **spec))  # type: ignore[arg-type]
        for spec in DEFAULT_ACHIEVEMENTS
    ]
