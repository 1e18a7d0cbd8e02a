"""The farming report: partners whose pattern looks like pick-and-return farming (many picks, little work).

Computed with SQL aggregates over the lead events (read only) and the reversal decisions of the period.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import and_, case, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from incentives.accounts.models import Org
from incentives.accounts.scope import Principal
from incentives.errors import N_
from incentives.leads.models import LeadEvent
from incentives.rules.models import DecisionKind, RuleAward
from incentives.rules.services import ensure_manager

# Thresholds (shown on the page): a partner needs enough reservations to judge, then either most of them
# come back, or few of them ever get feedback.
MIN_RESERVATIONS = 5
MAX_RETURN_RATE = 0.5  # flagged at or above: half or more of the reservations were returned
MIN_FEEDBACK_RATE = 0.25  # flagged below: fewer than a quarter of the reserved leads ever got feedback

MANY_RETURNS = N_("many returns")
LITTLE_FEEDBACK = N_("little feedback")


@dataclass(frozen=True)
class PartnerPattern:
    org_id: int
    name: str
    reservations: int
    with_feedback: int  # reservations of the period the partner gave feedback on (then or later)
    returns: int
    reversals: int  # reservation awards taken back (returns that had paid)
    flags: list[str] = field(default_factory=list)  # N_() message ids

    @property
    def return_rate(self) -> float:
        return self.returns / self.reservations if self.reservations else 0.0

    @property
    def feedback_rate(self) -> float:
        return self.with_feedback / self.reservations if self.reservations else 0.0


def _flags(reservations: int, with_feedback: int, returns: int) -> list[str]:
    if reservations < MIN_RESERVATIONS:
        return []
    flags = []
    if returns / reservations >= MAX_RETURN_RATE:
        flags.append(MANY_RETURNS)
    if with_feedback / reservations < MIN_FEEDBACK_RATE:
        flags.append(LITTLE_FEEDBACK)
    return flags


async def farming_report(
    session: AsyncSession, principal: Principal, program_id: int, start: dt.datetime, end: dt.datetime
) -> list[PartnerPattern]:
    """Every partner that reserved or returned a lead in [start, end): flagged ones first, then by reservations."""
    ensure_manager(principal, program_id)
    feedback = aliased(LeadEvent)
    reserved = LeadEvent.kind == "reserved"
    answered = exists().where(
        feedback.lead_id == LeadEvent.lead_id,
        feedback.org_id == LeadEvent.org_id,
        feedback.kind == "feedback",
        feedback.at >= LeadEvent.at,
    )
    rows = await session.execute(
        select(
            LeadEvent.org_id,
            func.sum(case((reserved, 1), else_=0)),
            func.sum(case((and_(reserved, answered), 1), else_=0)),
            func.sum(case((LeadEvent.kind == "returned", 1), else_=0)),
        )
        .where(
            LeadEvent.program_id == program_id,
            LeadEvent.kind.in_(("reserved", "returned")),
            LeadEvent.org_id.is_not(None),
            LeadEvent.at >= start,
            LeadEvent.at < end,
        )
        .group_by(LeadEvent.org_id)
    )
    counts = {org_id: (int(r), int(f), int(t)) for org_id, r, f, t in rows.all()}
    reversal_rows = await session.execute(
        select(RuleAward.org_id, func.count())
        .where(
            RuleAward.program_id == program_id,
            RuleAward.kind == DecisionKind.REVERSE.value,
            RuleAward.at >= start,
            RuleAward.at < end,
        )
        .group_by(RuleAward.org_id)
    )
    reversals = {org_id: int(n) for org_id, n in reversal_rows.all()}
    found = await session.execute(select(Org.id, Org.name).where(Org.id.in_(list(counts))))
    names = {org_id: name for org_id, name in found.all()}
    report = [
        PartnerPattern(org_id, names.get(org_id, str(org_id)), r, f, t, reversals.get(org_id, 0), _flags(r, f, t))
        for org_id, (r, f, t) in counts.items()
    ]
    return sorted(report, key=lambda p: (not p.flags, -p.reservations, p.name))
