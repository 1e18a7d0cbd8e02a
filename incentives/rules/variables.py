"""The events rules can listen to and the typed variables each offers to expressions (API.md)."""

from __future__ import annotations

BOOL, INT, DOUBLE, STRING, TIMESTAMP = "bool", "int", "double", "string", "timestamp"
LIST_STRING = "list(string)"

COMMON: dict[str, str] = {
    "lead.temperature": STRING,
    "lead.product_line": STRING,
    "lead.industry": STRING,
    "lead.country": STRING,
    "lead.estimated_value": DOUBLE,
    "lead.wave": INT,
    "lead.source": STRING,
    "partner.tier": STRING,
    "partner.org_id": INT,
    "partner.country": STRING,
    "partner.competencies": LIST_STRING,
    "partner.certifications": LIST_STRING,
    # The partner's streaks after the event (incentives.leads.streaks).
    "partner.streak.on_time_feedback": INT,
    "partner.streak.active_weeks": INT,
    "event.at": TIMESTAMP,
}

PER_EVENT: dict[str, dict[str, str]] = {
    "lead.reserved": {"reservation.hours_since_offered": DOUBLE},
    "lead.feedback": {
        "feedback.status": STRING,
        "feedback.is_first": BOOL,
        "feedback.is_new_status": BOOL,
        "feedback.hours_since_reserved": DOUBLE,
        "feedback.on_time": BOOL,
    },
    "lead.won": {"deal.value": DOUBLE, "deal.days_since_reserved": DOUBLE},
    "lead.lost": {"lost.reason": STRING},
    "lead.returned": {"returned.hours_since_reserved": DOUBLE},
}

EVENTS = tuple(PER_EVENT)

# Namespaces of every event, so that `deal.value` in a feedback rule says "not available here".
ALL_NAMESPACES = frozenset(name.split(".")[0] for table in (COMMON, *PER_EVENT.values()) for name in table)


def variables_of(event: str) -> dict[str, str]:
    """Every variable an expression on `event` may use, by dotted name, with its CEL type."""
    return {**COMMON, **PER_EVENT[event]}
