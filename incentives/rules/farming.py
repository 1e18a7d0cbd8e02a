"""The farming report: partners whose pattern looks like farming points rather than working leads.

Three patterns per partner and period: reserve-and-return, instant feedback without a contact step, and status
churn (manager corrections and repeated statuses); a score weighs them per reservation. Computed from the lead
events (read only) and the reversal decisions of the period.
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

# Feedback this soon after reserving, already past "contacted", skipped the contact step: no one meets a
# customer ten minutes after picking the lead.
INSTANT_FEEDBACK = dt.timedelta(minutes=10)
PAST_CONTACT = frozenset({"meeting", "proposal", "won", "lost"})
MIN_INSTANT = 2  # flagged at or above
MIN_CHURN = 3  # flagged at or above
# The score: (returns + 2 × instant feedback + status churn) per reservation, × 100. Instant feedback weighs
# double because it pays for work that did not happen; at least MIN_RESERVATIONS count as the divisor so that a
# newcomer's single return does not top the list.
INSTANT_WEIGHT = 2

MANY_RETURNS = N_("many returns")
LITTLE_FEEDBACK = N_("little feedback")
NO_CONTACT_STEP = N_("feedback without contact")
STATUS_CHURN = N_("status churn")


@dataclass(frozen=True)
class PartnerPattern:
    org_id: int
    name: str
    reservations: int
    with_feedback: int  # reservations of the period the partner gave feedback on (then or later)
    returns: int
    reversals: int  # reservation awards taken back (returns that had paid)
    flags: list[str] = field(default_factory=list)  # N_() message ids
    instant_feedback: int = 0  # first feedback past "contacted" within INSTANT_FEEDBACK of reserving
    churn: int = 0  # manager status corrections plus feedback repeating a status already reached

    @property
    def score(self) -> int:
        weighted = self.returns + INSTANT_WEIGHT * self.instant_feedback + self.churn
        return round(100 * weighted / max(self.reservations, MIN_RESERVATIONS))

    @property
    def return_rate(self) -> float:
        return self.returns / self.reservations if self.reservations else 0.0

    @property
    def feedback_rate(self) -> float:
        return self.with_feedback / self.reservations if self.reservations else 0.0


def _flags(reservations: int, with_feedback: int, returns: int, instant: int = 0, churn: int = 0) -> list[str]:
    flags = []
    if reservations >= MIN_RESERVATIONS and returns / reservations >= MAX_RETURN_RATE:
        flags.append(MANY_RETURNS)
    if reservations >= MIN_RESERVATIONS and with_feedback / reservations < MIN_FEEDBACK_RATE:
        flags.append(LITTLE_FEEDBACK)
    if instant >= MIN_INSTANT:
        flags.append(NO_CONTACT_STEP)
    if churn >= MIN_CHURN:
        flags.append(STATUS_CHURN)
    return flags


async def _work_patterns(
    session: AsyncSession, program_id: int, start: dt.datetime, end: dt.datetime
) -> dict[int, tuple[int, int]]:
    """Per org: (instant feedback, status churn) in [start, end).

    One pass over the period's reservations, feedback and corrections in lead order; a reservation up to
    INSTANT_FEEDBACK before the start still counts for feedback inside the period."""
    rows = await session.execute(
        select(LeadEvent.lead_id, LeadEvent.org_id, LeadEvent.kind, LeadEvent.at, LeadEvent.data)
        .where(
            LeadEvent.program_id == program_id,
            LeadEvent.kind.in_(("reserved", "feedback", "status_corrected")),
            LeadEvent.org_id.is_not(None),
            LeadEvent.at >= start - INSTANT_FEEDBACK,
            LeadEvent.at < end,
        )
        .order_by(LeadEvent.lead_id, LeadEvent.id)
    )
    found: dict[int, list[int]] = {}
    # (lead, org) -> when it was reserved, while no feedback has followed the reservation yet
    waiting: dict[tuple[int, int], dt.datetime] = {}
    for lead_id, org_id, kind, at, data in rows.all():
        key = (lead_id, org_id)
        if kind == "reserved":
            waiting[key] = at
            continue
        reserved_at = waiting.pop(key, None)
        if at < start:
            continue
        counts = found.setdefault(org_id, [0, 0])
        if kind == "status_corrected" or (data or {}).get("new_status") is False:
            counts[1] += 1
        elif (
            reserved_at is not None
            and at - reserved_at <= INSTANT_FEEDBACK
            and (data or {}).get("status") in PAST_CONTACT
        ):
            counts[0] += 1
    return {org_id: (instant, churn) for org_id, (instant, churn) in found.items()}


async def farming_report(
    session: AsyncSession, principal: Principal, program_id: int, start: dt.datetime, end: dt.datetime
) -> list[PartnerPattern]:
    """Every partner with a reservation, return, feedback or correction in [start, end): flagged ones first, then by
    score and reservations. For the program's managers."""
    ensure_manager(principal, program_id)
    return await partner_patterns(session, program_id, start, end)


async def flagged_partners(
    session: AsyncSession, program_id: int, start: dt.datetime, end: dt.datetime
) -> list[PartnerPattern]:
    """The flagged part of the report (the weekly report's section), highest score first; the caller checked who
    may see it."""
    return [pattern for pattern in await partner_patterns(session, program_id, start, end) if pattern.flags]


async def partner_patterns(
    session: AsyncSession, program_id: int, start: dt.datetime, end: dt.datetime
) -> list[PartnerPattern]:
    """The farming report's rows, without the access check: the caller checked who may see them."""
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
    patterns = await _work_patterns(session, program_id, start, end)
    org_ids = set(counts) | set(patterns)
    found = await session.execute(select(Org.id, Org.name).where(Org.id.in_(sorted(org_ids))))
    names = {org_id: name for org_id, name in found.all()}
    report = []
    for org_id in org_ids:
        r, f, t = counts.get(org_id, (0, 0, 0))
        instant, churn = patterns.get(org_id, (0, 0))
        report.append(
            PartnerPattern(
                org_id,
                names.get(org_id, str(org_id)),
                r,
                f,
                t,
                reversals.get(org_id, 0),
                _flags(r, f, t, instant, churn),
                instant,
                churn,
            )
        )
    return sorted(report, key=lambda p: (not p.flags, -p.score, -p.reservations, p.name))
