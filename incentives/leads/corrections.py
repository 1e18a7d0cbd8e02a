"""A manager's corrections of a lead's outcome: correct its feedback status, or mark it invalid.

Both are audited as lead events and write an outbox event (`lead.corrected`, `lead.invalidated`) through which
the rules processor takes back, via the ledger's reversal keyed once per award, what the lead no longer earns.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from incentives import live
from incentives.accounts.models import Program
from incentives.accounts.scope import Principal
from incentives.db import utcnow
from incentives.errors import N_, FieldError, InvalidState, ValidationFailed
from incentives.jobs import wake_after_commit
from incentives.leads import events, matching, progress
from incentives.leads.models import (
    FINAL_FEEDBACK,
    FeedbackStatus,
    InvalidReason,
    Lead,
    LeadOffer,
    LeadStatus,
    OfferState,
    OutboxEvent,
)
from incentives.leads.services import MANAGERS, _managed_lead

_CLOSED = (LeadStatus.WON, LeadStatus.LOST)


async def correct_status(
    session: AsyncSession,
    principal: Principal,
    lead_id: int,
    *,
    status: str,
    reason: str,
    deal_value: Decimal | None = None,
    lost_reason: str | None = None,
    now: dt.datetime | None = None,
) -> Lead:
    """Set a reserved or closed lead's feedback status; the awards of the statuses it undoes are taken back, and a
    status it reaches for the first time pays as feedback would."""
    now = now or utcnow()
    if status not in FeedbackStatus.__members__.values():
        raise ValidationFailed([FieldError(("status",), N_("Please choose what happened."))])
    corrected = FeedbackStatus(status)
    if not reason.strip():
        raise ValidationFailed([FieldError(("reason",), N_("Please say why you correct the status."))])
    lead = await _managed_lead(session, principal, lead_id, MANAGERS)
    org_id = lead.reserved_by_org_id
    if org_id is None or lead.status not in (LeadStatus.RESERVED, *_CLOSED):
        raise InvalidState(N_("Only the status of a reserved or closed lead can be corrected."))
    reached = lead.last_feedback
    if reached == corrected:
        raise InvalidState(N_("The lead has this status already."))
    if corrected == FeedbackStatus.WON and (deal_value is None or deal_value <= 0):
        raise ValidationFailed([FieldError(("deal_value",), N_("A won lead needs the deal value."))])
    if corrected == FeedbackStatus.LOST and not (lost_reason or "").strip():
        raise ValidationFailed([FieldError(("lost_reason",), N_("A lost lead needs a reason."))])
    undone = progress.undone_by(reached, corrected)
    forward = reached is None or progress.RANK[corrected] > progress.RANK[reached]
    reversed_events = await _events_reaching(session, lead, org_id, undone)
    was_closed, closes = lead.status in _CLOSED, corrected in FINAL_FEEDBACK
    won_delta = int(corrected == FeedbackStatus.WON) - int(lead.status == LeadStatus.WON)
    await matching.count_lead(
        session,
        lead.program_id,
        org_id,
        opened=int(was_closed) - int(closes),
        closed=int(closes) - int(was_closed),
        won=won_delta,
    )
    feedback_vars = events.feedback_variables(lead, corrected.value, now, is_new_status=forward)
    lead.last_feedback = corrected
    lead.last_feedback_at = now
    lead.overdue_noticed_at = None
    if closes:
        lead.status = LeadStatus(corrected.value)
        lead.closed_at = now
        lead.feedback_due_at = None
        lead.deal_value = deal_value if corrected == FeedbackStatus.WON else None
        lead.lost_reason = lost_reason.strip() if corrected == FeedbackStatus.LOST and lost_reason else None
    else:
        program = await session.get_one(Program, lead.program_id)
        lead.status = LeadStatus.RESERVED
        lead.closed_at = None
        lead.deal_value = None
        lead.lost_reason = None
        lead.feedback_due_at = now + dt.timedelta(hours=program.feedback_due_hours)
    events.record(
        session,
        lead,
        "status_corrected",
        now,
        org_id=org_id,
        actor_id=principal.user_id,
        previous=reached,
        status=corrected.value,
        reason=reason.strip(),
    )
    _outbox(
        session,
        lead,
        "lead.corrected",
        org_id,
        now,
        correction={
            "from": reached or "",
            "to": corrected.value,
            "reverses_events": reversed_events,
        },
    )
    if forward:
        await events.publish(session, lead, "lead.feedback", now, org_id, feedback=feedback_vars)
        if corrected == FeedbackStatus.WON:
            deal = events.deal_variables(lead, float(deal_value or 0), now)
            await events.publish(session, lead, "lead.won", now, org_id, deal=deal)
        elif corrected == FeedbackStatus.LOST:
            await events.publish(session, lead, "lead.lost", now, org_id, lost={"reason": lead.lost_reason or ""})
    return lead


async def mark_invalid(
    session: AsyncSession,
    principal: Principal,
    lead_id: int,
    *,
    reason: str,
    note: str | None = None,
    now: dt.datetime | None = None,
) -> Lead:
    """A fake, duplicate or not-a-real-need lead: off every pick list, and everything it paid is taken back.
    The partner that reserved it keeps seeing it, with the reason."""
    now = now or utcnow()
    if reason not in InvalidReason.__members__.values():
        raise ValidationFailed([FieldError(("reason",), N_("Please say why the lead is invalid."))])
    lead = await _managed_lead(session, principal, lead_id, MANAGERS)
    if lead.status == LeadStatus.INVALID:
        raise InvalidState(N_("This lead is marked invalid already."))
    org_id = lead.reserved_by_org_id
    if org_id is not None and lead.status in (LeadStatus.RESERVED, *_CLOSED):
        closed = lead.status in _CLOSED
        await matching.count_lead(
            session,
            lead.program_id,
            org_id,
            opened=-int(not closed),
            closed=-int(closed),
            won=-int(lead.status == LeadStatus.WON),
        )
    await session.execute(
        update(LeadOffer)
        .where(LeadOffer.lead_id == lead.id, LeadOffer.state == OfferState.OPEN)
        .values(state=OfferState.WITHDRAWN)
    )
    lead.status = LeadStatus.INVALID
    lead.invalid_reason = reason
    lead.invalid_note = (note or "").strip()[:500] or None
    lead.closed_at = now
    lead.expires_at = None
    lead.feedback_due_at = None
    lead.overdue_noticed_at = None
    events.record(
        session, lead, "invalidated", now, org_id=org_id, actor_id=principal.user_id, reason=reason, note=note
    )
    _outbox(session, lead, "lead.invalidated", org_id, now, invalid={"reason": reason})
    live.pick_lists_changed(session, lead.program_id)
    return lead


async def _events_reaching(session: AsyncSession, lead: Lead, org_id: int, statuses: set[str]) -> list[int]:
    """The org's outbox events of this lead that reached one of `statuses` (their awards are to be taken back)."""
    if not statuses:
        return []
    rows = await session.execute(
        select(OutboxEvent.id, OutboxEvent.event_type, OutboxEvent.payload).where(
            OutboxEvent.lead_id == lead.id,
            OutboxEvent.org_id == org_id,
            OutboxEvent.event_type.in_(("lead.feedback", "lead.won", "lead.lost")),
        )
    )
    found = []
    for event_id, event_type, payload in rows.all():
        status = (payload.get("feedback") or {}).get("status") if event_type == "lead.feedback" else event_type[5:]
        if status in statuses:
            found.append(event_id)
    return found


def _outbox(
    session: AsyncSession, lead: Lead, event_type: str, org_id: int | None, at: dt.datetime, **payload: object
) -> None:
    """An outbox event no rule listens to: the processor's clawback reads it (it may name no partner)."""
    session.add(
        OutboxEvent(
            program_id=lead.program_id,
            event_type=event_type,
            lead_id=lead.id,
            org_id=org_id,
            payload={"lead": {"id": lead.id}, **payload},
            at=at,
        )
    )
    wake_after_commit(session)
