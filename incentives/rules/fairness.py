"""Fair play in event processing: a repeated status pays nothing, a rule pays a lead's partner once, and a
returned, invalid or corrected lead takes back what it paid (through the ledger's reversal, keyed once).
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from sqlalchemy import exists, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from incentives.rules.models import DecisionKind, RuleAward

REPEATED_STATUS = "a repeated status pays nothing"
PAID_FOR_LEAD = "paid once for this lead already"

# Events that take back what a lead paid: a return (the returning partner's awards), an invalid lead (every
# partner's), a manager's status correction (the awards of the events it names).
CLAWBACK_EVENTS = frozenset({"lead.returned", "lead.invalidated", "lead.corrected"})
# No rule listens to these: they exist for the clawback alone and may name no partner.
CLAWBACK_ONLY = frozenset({"lead.invalidated", "lead.corrected"})


class Candidate(Protocol):
    event: Any
    rule: Any
    points: int


C = TypeVar("C", bound=Candidate)


def is_repeat(event: Any) -> bool:
    """A feedback event that only repeats the lead's status (events before the flag existed count as new)."""
    if event.event_type != "lead.feedback":
        return False
    feedback = event.payload.get("feedback") or {}
    return feedback.get("is_new_status", True) is False


async def once_per_lead(session: AsyncSession, candidates: list[C], skips: list[dict[str, Any]], now: Any) -> list[C]:
    """Drop awards of a rule that already paid this partner for this lead (and was not taken back since)."""
    keyed = [c for c in candidates if c.event.lead_id is not None]
    if not keyed:
        return candidates
    reversal = aliased(RuleAward)
    triples = sorted({(c.rule.rule_id, c.event.lead_id, c.event.org_id) for c in keyed})
    paid = {
        (rule_id, lead_id, org_id)
        for rule_id, lead_id, org_id in await session.execute(
            select(RuleAward.rule_id, RuleAward.lead_id, RuleAward.org_id)
            .where(
                tuple_(RuleAward.rule_id, RuleAward.lead_id, RuleAward.org_id).in_(triples),
                RuleAward.kind == DecisionKind.EARN.value,
                ~exists().where(reversal.reverses_key == RuleAward.key),
            )
            .distinct()
        )
    }
    kept: list[C] = []
    for candidate in candidates:
        event = candidate.event
        if event.lead_id is None:
            kept.append(candidate)
            continue
        triple = (candidate.rule.rule_id, event.lead_id, event.org_id)
        if triple in paid:
            skips.append(
                {
                    "event_id": event.id,
                    "rule_id": candidate.rule.rule_id,
                    "rule_version": candidate.rule.version,
                    "reason": PAID_FOR_LEAD,
                    "at": now,
                }
            )
            continue
        paid.add(triple)  # a second event of the batch for the same lead pays nothing either
        kept.append(candidate)
    return kept


async def clawbacks(session: AsyncSession, events: list[Any]) -> list[dict[str, Any]]:
    """Reversal decisions for the clawback events: each earn taken back once (the reversed key is unique)."""
    rows: list[dict[str, Any]] = []
    taken: set[str] = set()
    reversal = aliased(RuleAward)
    for event in events:
        if event.event_type not in CLAWBACK_EVENTS or event.lead_id is None:
            continue
        earned = (
            select(
                RuleAward.key,
                RuleAward.rule_id,
                RuleAward.rule_version,
                RuleAward.org_id,
                RuleAward.user_id,
                RuleAward.points,
                RuleAward.campaign_id,
                RuleAward.campaign_points,
            )
            .where(
                RuleAward.lead_id == event.lead_id,
                RuleAward.kind == DecisionKind.EARN.value,
                RuleAward.event_id < event.id,
                ~exists().where(reversal.reverses_key == RuleAward.key),
            )
            .order_by(RuleAward.id)
        )
        if event.event_type == "lead.returned":
            earned = earned.where(RuleAward.org_id == event.org_id)
        elif event.event_type == "lead.corrected":
            named = (event.payload.get("correction") or {}).get("reverses_events") or []
            earned = earned.where(RuleAward.event_id.in_([int(i) for i in named]))
        for earn in await session.execute(earned):
            if earn.key in taken:
                continue
            taken.add(earn.key)
            rows.append(
                {
                    "key": f"clawback:event:{event.id}:reverses:{earn.key}",
                    "program_id": event.program_id,
                    # The reversal names the rule (and version) that paid the award it takes back.
                    "rule_id": earn.rule_id,
                    "rule_version": earn.rule_version,
                    "event_id": event.id,
                    "event_type": event.event_type,
                    "org_id": earn.org_id,
                    "user_id": earn.user_id,
                    "lead_id": event.lead_id,
                    "kind": DecisionKind.REVERSE.value,
                    "points": earn.points,
                    "reverses_key": earn.key,
                    "campaign_id": earn.campaign_id if earn.campaign_points > 0 else None,
                    "campaign_points": max(0, earn.campaign_points),
                    "at": event.at,
                    "attempts": 0,
                }
            )
    return rows
