"""Lead services: create, qualify, offer in waves, reserve, feedback, return, and the manager's corrections.

Each function takes an AsyncSession and joins the caller's unit of work (`db.transaction()`); none begins or
commits, so a refusal raised here rolls back with the caller's transaction. Every transition writes a lead
event and, where the rules engine cares, an outbox event, in that same transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, NamedTuple, cast

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from incentives import live
from incentives.accounts.choices import program_choices
from incentives.accounts.models import Membership, Program
from incentives.accounts.qualification import checklist_of
from incentives.accounts.roles import Role
from incentives.accounts.scope import Principal
from incentives.db import fetch_one, utcnow
from incentives.errors import N_, Duplicate, FieldError, Forbidden, InvalidState, NotFound, ValidationFailed
from incentives.leads import events, matching, progress
from incentives.leads.errors import AlreadyReserved, FeedbackRequired
from incentives.leads.gate import blocked_programs
from incentives.leads.models import FINAL_FEEDBACK, FeedbackStatus, Lead, LeadOffer, LeadStatus, OfferState
from incentives.leads.waves import Offered, start_next_wave

MANAGERS = frozenset({Role.ADMIN, Role.PARTNER_MANAGER})
LEAD_ENTRY = frozenset({Role.ADMIN, Role.PARTNER_MANAGER, Role.AGENCY})
PICKERS = frozenset({Role.RESELLER_MANAGER, Role.RESELLER_REP})


@dataclass
class LeadInput:
    program_id: int
    company: str
    contact_name: str
    contact_email: str
    country: str
    product_line: str
    temperature: str
    contact_phone: str | None = None
    external_id: str | None = None
    postal_code: str | None = None
    city: str | None = None
    lat: float | None = None
    lon: float | None = None
    industry: str | None = None
    estimated_value: Decimal | None = None
    required_certifications: list[str] | None = None
    notes: str | None = None
    source: str | None = None


# --- entry -----------------------------------------------------------------------------------------


async def create_lead(
    session: AsyncSession, principal: Principal, data: LeadInput, now: dt.datetime | None = None
) -> Lead:
    now = now or utcnow()
    _require(principal, LEAD_ENTRY, data.program_id)
    choices = await program_choices(session, data.program_id)
    product_line, industry, refusals = choices.spelled(data.product_line, data.industry)
    if refusals:
        raise ValidationFailed(refusals)
    data = replace(data, product_line=product_line, industry=industry)
    if data.external_id is not None:
        existing = await session.scalar(
            select(Lead.id).where(Lead.program_id == data.program_id, Lead.external_id == data.external_id)
        )
        if existing is not None:
            raise Duplicate(N_("A lead with this external id already exists."), extra={"id": existing})
    lead = Lead(
        **{**data.__dict__, "required_certifications": sorted(set(data.required_certifications or []))},
        status=LeadStatus.NEW,
        created_by_id=principal.user_id,
        created_at=now,
    )
    session.add(lead)
    await session.flush()
    events.record(session, lead, "created", now, actor_id=principal.user_id)
    return lead


async def qualify_lead(
    session: AsyncSession,
    principal: Principal,
    lead_id: int,
    now: dt.datetime | None = None,
    checked: Sequence[str] | None = None,
) -> Lead:
    """Qualify a new lead, recording which items of the program's checklist were confirmed (`checked`; None:
    not asked, as from an import)."""
    now = now or utcnow()
    lead = await _managed_lead(session, principal, lead_id, LEAD_ENTRY)
    if lead.status != LeadStatus.NEW:
        raise InvalidState(N_("Only new leads can be qualified."))
    if checked is not None:
        program = await session.get_one(Program, lead.program_id)
        asked = [item["key"] for item in checklist_of(program.qualification_checklist)]
        if any(key not in asked for key in checked):
            raise ValidationFailed([FieldError(("checklist",), N_("Not an item of the program's checklist."))])
        confirmed = [key for key in asked if key in checked]
        lead.qualification = {"checked": confirmed, "of": asked, "by": principal.user_id, "at": now.isoformat()}
    lead.status = LeadStatus.QUALIFIED
    events.record(session, lead, "qualified", now, actor_id=principal.user_id)
    return lead


async def offer_lead(
    session: AsyncSession, principal: Principal, lead_id: int, now: dt.datetime | None = None
) -> tuple[Lead, list[Offered]]:
    """Start offer wave 1: the best `offer_wave_size` eligible partners see the lead on their pick list."""
    now = now or utcnow()
    lead = await _managed_lead(session, principal, lead_id, MANAGERS)
    if lead.status != LeadStatus.QUALIFIED:
        raise InvalidState(N_("Only qualified leads can be offered."))
    program = await session.get_one(Program, lead.program_id)
    partners = await matching.load_partners(session, lead.program_id)
    offers = await start_next_wave(session, lead, program, partners, now, actor_id=principal.user_id)
    return lead, offers


# --- the partner's side ------------------------------------------------------------------------------


# What a reservation checks before it takes the write lock; built once, a race runs it hundreds of times.
_OFFER_SEEN = (
    select(LeadOffer.state, LeadOffer.offered_at, Lead.status, Lead.program_id, Program.feedback_due_hours)
    .join(Lead, Lead.id == LeadOffer.lead_id)
    .join(Program, Program.id == Lead.program_id)
    .where(LeadOffer.lead_id == bindparam("lead_id"), LeadOffer.org_id == bindparam("org_id"))
)


# For the web processes' start-up (Database.warm_up): the read of an offer that does not exist.
OFFER_READ_WARM_UP = (_OFFER_SEEN, {"lead_id": 0, "org_id": 0})


class OfferSeen(NamedTuple):
    state: str
    offered_at: dt.datetime
    status: str
    program_id: int
    feedback_due_hours: int


async def _offer_seen(session: AsyncSession, lead_id: int, org_id: int) -> OfferSeen | None:
    """The org's offer of the lead, the lead's status and its program's feedback period, read without a lock,
    as a transaction of its own on the session's engine."""
    row = await fetch_one(cast(AsyncEngine, session.bind), _OFFER_SEEN, {"lead_id": lead_id, "org_id": org_id})
    return None if row is None else OfferSeen(*tuple(row))


async def reserve_lead(
    session: AsyncSession, principal: Principal, lead_id: int, now: dt.datetime | None = None
) -> Lead:
    """First come, first served: one conditional UPDATE decides, so exactly one org wins."""
    now = now or utcnow()
    if principal.role not in PICKERS:
        raise NotFound()
    # A read first, on a connection of its own outside the caller's transaction (by design: it takes no write
    # lock), so that in a race almost everyone learns "already reserved" here.
    seen = await _offer_seen(session, lead_id, principal.org_id)
    if seen is None or seen.state != OfferState.OPEN:
        raise NotFound()
    if seen.status != LeadStatus.OFFERED:
        raise AlreadyReserved()
    # The write: the conditional UPDATE comes first, so a loser holds the write lock for one statement only.
    open_offer = select(LeadOffer.lead_id).where(
        LeadOffer.lead_id == lead_id, LeadOffer.org_id == principal.org_id, LeadOffer.state == OfferState.OPEN
    )
    lead = await session.scalar(
        update(Lead)
        .where(Lead.id == lead_id, Lead.status == LeadStatus.OFFERED, Lead.id.in_(open_offer))
        .values(
            status=LeadStatus.RESERVED,
            reserved_by_org_id=principal.org_id,
            reserved_by_user_id=principal.user_id,
            reserved_at=now,
            feedback_due_at=now + dt.timedelta(hours=seen.feedback_due_hours),
            overdue_noticed_at=None,
            last_feedback=None,
            last_feedback_at=None,
            expires_at=None,
        )
        .returning(Lead)
        .execution_options(populate_existing=True)
    )
    if lead is None:
        raise NotFound() if await session.scalar(open_offer) is None else AlreadyReserved()
    blocked = (await blocked_programs(session, principal.org_id, now)).get(lead.program_id)
    if blocked:  # the rollback undoes the reservation
        raise FeedbackRequired(extra={"overdue": blocked})
    await matching.count_lead(session, lead.program_id, principal.org_id, opened=1)
    # Every other open pick list drops the card at once (program-wide: no statement to find who has it open).
    live.notify_after_commit(
        session,
        [live.Notice(live.program_topic(lead.program_id), "lead.taken", {"lead": lead.id, "org": principal.org_id})],
    )
    events.record(session, lead, "reserved", now, org_id=principal.org_id, actor_id=principal.user_id)
    await events.publish(
        session,
        lead,
        "lead.reserved",
        now,
        principal.org_id,
        reservation=events.reservation_variables(seen.offered_at, now),
    )
    return lead


async def give_feedback(
    session: AsyncSession,
    principal: Principal,
    lead_id: int,
    *,
    status: str,
    note: str | None = None,
    deal_value: Decimal | None = None,
    lost_reason: str | None = None,
    now: dt.datetime | None = None,
) -> Lead:
    now = now or utcnow()
    feedback = FeedbackStatus(status)
    # Locked (PostgreSQL; SQLite's BEGIN IMMEDIATE serializes anyway): of a storm of the same feedback, exactly
    # one finds the status new and pays.
    lead = await _own_lead(session, principal, lead_id, lock=True)
    if lead.status != LeadStatus.RESERVED:
        raise InvalidState(N_("This lead is closed; no more feedback can be given."))
    is_new = progress.is_new_status(lead.last_feedback, feedback)
    if feedback == FeedbackStatus.WON and (deal_value is None or deal_value <= 0):
        raise ValidationFailed([FieldError(("deal_value",), N_("A won lead needs the deal value."))])
    if feedback == FeedbackStatus.LOST and not (lost_reason or "").strip():
        raise ValidationFailed([FieldError(("lost_reason",), N_("A lost lead needs a reason."))])
    program = await session.get_one(Program, lead.program_id)
    assert lead.reserved_at is not None
    feedback_vars = events.feedback_variables(lead, feedback.value, now, is_new_status=is_new)
    on_time = feedback_vars["on_time"]
    lead.last_feedback = feedback
    lead.last_feedback_at = now
    if feedback in FINAL_FEEDBACK:
        won = int(feedback == FeedbackStatus.WON)
        await matching.count_lead(session, lead.program_id, principal.org_id, opened=-1, closed=1, won=won)
        lead.status = LeadStatus(feedback.value)
        lead.closed_at = now
        lead.feedback_due_at = None
        lead.deal_value = deal_value if feedback == FeedbackStatus.WON else None
        lead.lost_reason = lost_reason.strip() if feedback == FeedbackStatus.LOST and lost_reason else None
    else:
        lead.feedback_due_at = now + dt.timedelta(hours=program.feedback_due_hours)
    lead.overdue_noticed_at = None
    events.record(
        session,
        lead,
        "feedback",
        now,
        org_id=principal.org_id,
        actor_id=principal.user_id,
        status=feedback.value,
        note=note,
        on_time=on_time,
        new_status=is_new,
    )
    await events.publish(
        session,
        lead,
        "lead.feedback",
        now,
        principal.org_id,
        feedback=feedback_vars,
    )
    if feedback == FeedbackStatus.WON:
        await events.publish(
            session,
            lead,
            "lead.won",
            now,
            principal.org_id,
            deal=events.deal_variables(lead, float(deal_value or 0), now),
        )
    elif feedback == FeedbackStatus.LOST:
        await events.publish(session, lead, "lead.lost", now, principal.org_id, lost={"reason": lead.lost_reason or ""})
    # Feedback may lift the gate: the org's open pick lists refresh.
    live.notify_after_commit(session, [live.Notice(live.org_topic(principal.org_id), "picklist")])
    return lead


async def return_lead(
    session: AsyncSession, principal: Principal, lead_id: int, reason: str, now: dt.datetime | None = None
) -> Lead:
    """Give a reserved lead back: it is offered again, never again to this org."""
    now = now or utcnow()
    if not reason.strip():
        raise ValidationFailed([FieldError(("reason",), N_("Please say why you return the lead."))])
    lead = await _own_lead(session, principal, lead_id)
    if lead.status != LeadStatus.RESERVED:
        raise InvalidState(N_("Only a reserved lead can be returned."))
    hours = events.hours_between(lead.reserved_at, now)
    await events.publish(
        session, lead, "lead.returned", now, principal.org_id, returned={"hours_since_reserved": hours}
    )
    await session.execute(
        update(LeadOffer)
        .where(LeadOffer.lead_id == lead.id, LeadOffer.org_id == principal.org_id)
        .values(state=OfferState.RETURNED)
    )
    await matching.count_lead(session, lead.program_id, principal.org_id, opened=-1)
    events.record(
        session, lead, "returned", now, org_id=principal.org_id, actor_id=principal.user_id, reason=reason.strip()
    )
    await _reopen(session, lead, now, actor_id=principal.user_id)
    live.pick_lists_changed(session, lead.program_id)
    return lead


async def _reopen(session: AsyncSession, lead: Lead, now: dt.datetime, *, actor_id: int | None) -> None:
    """Back on the pick lists of the open offers; if none is left, the next wave starts at once."""
    program = await session.get_one(Program, lead.program_id)
    lead.status = LeadStatus.OFFERED  # before the reserver is cleared: the schema ties the two together
    lead.reserved_by_org_id = None
    lead.reserved_by_user_id = None
    lead.reserved_at = None
    lead.feedback_due_at = None
    lead.overdue_noticed_at = None
    lead.last_feedback = None
    lead.last_feedback_at = None
    open_offers = await session.scalar(
        select(func.count()).where(LeadOffer.lead_id == lead.id, LeadOffer.state == OfferState.OPEN)
    )
    if open_offers:
        lead.expires_at = now + dt.timedelta(hours=program.escalation_hours)
        events.record(session, lead, "reoffered", now, actor_id=actor_id, wave=lead.wave)
        return
    partners = await matching.load_partners(session, lead.program_id)
    await start_next_wave(session, lead, program, partners, now, actor_id=actor_id)


# --- the manager's corrections ------------------------------------------------------------------------


async def reoffer_lead(
    session: AsyncSession, principal: Principal, lead_id: int, reason: str, now: dt.datetime | None = None
) -> Lead:
    """Take a lead back (from a partner, or when unclaimed) and offer it again from wave 1."""
    now = now or utcnow()
    lead = await _managed_lead(session, principal, lead_id, MANAGERS)
    if lead.status not in (LeadStatus.RESERVED, LeadStatus.UNCLAIMED, LeadStatus.OFFERED):
        raise InvalidState(N_("Only offered, reserved or unclaimed leads can be offered again."))
    events.record(
        session,
        lead,
        "manager_reoffer",
        now,
        actor_id=principal.user_id,
        reason=reason,
        previous_org=lead.reserved_by_org_id,
    )
    if lead.status == LeadStatus.RESERVED and lead.reserved_by_org_id is not None:
        await matching.count_lead(session, lead.program_id, lead.reserved_by_org_id, opened=-1)
    await session.execute(
        update(LeadOffer)
        .where(LeadOffer.lead_id == lead.id, LeadOffer.state == OfferState.OPEN)
        .values(state=OfferState.WITHDRAWN)
    )
    # A manager's fresh start: withdrawn offers may be made again, returns still exclude their org.
    lead.wave = 0
    lead.ranking = []
    lead.status = LeadStatus.QUALIFIED
    for name in (
        "reserved_by_org_id",
        "reserved_by_user_id",
        "reserved_at",
        "feedback_due_at",
        "overdue_noticed_at",
        "last_feedback",
        "last_feedback_at",
    ):
        setattr(lead, name, None)
    program = await session.get_one(Program, lead.program_id)
    partners = await matching.load_partners(session, lead.program_id)
    await start_next_wave(session, lead, program, partners, now, actor_id=principal.user_id)
    live.pick_lists_changed(session, lead.program_id)
    return lead


# --- reading ------------------------------------------------------------------------------------------


async def lead_for(session: AsyncSession, principal: Principal, lead_id: int) -> tuple[Lead, bool]:
    """The lead and whether the principal may see its details; NotFound when it may see nothing."""
    lead = await session.get(Lead, lead_id)
    if lead is None:
        raise NotFound()
    if principal.acts_for_program:
        if principal.program_id != lead.program_id:
            raise NotFound()
        return lead, True
    if (
        lead.reserved_by_org_id is not None
        and lead.reserved_by_org_id == principal.org_id
        and principal.role in PICKERS
    ):
        return lead, True
    if principal.role is Role.DISTRIBUTOR_MANAGER and lead.reserved_by_org_id is not None:
        below = await session.scalar(
            select(Membership.id).where(
                Membership.program_id == lead.program_id,
                Membership.org_id == lead.reserved_by_org_id,
                Membership.distributor_id == principal.org_id,
            )
        )
        if below is not None:
            return lead, True
    if principal.role in PICKERS and lead.status == LeadStatus.OFFERED:
        offered = await session.scalar(
            select(LeadOffer.id).where(
                LeadOffer.lead_id == lead.id, LeadOffer.org_id == principal.org_id, LeadOffer.state == OfferState.OPEN
            )
        )
        if offered is not None:
            return lead, False
    raise NotFound()


def lead_scope(principal: Principal) -> Any:
    """Leads the principal may list: the program's for managers, the org's own (or its resellers') for partners."""
    if principal.acts_for_program:
        return Lead.program_id == principal.program_id
    if principal.role is Role.DISTRIBUTOR_MANAGER:
        below = select(Membership.org_id).where(Membership.distributor_id == principal.org_id)
        return Lead.reserved_by_org_id.in_(below)
    return Lead.reserved_by_org_id == principal.org_id


async def _own_lead(session: AsyncSession, principal: Principal, lead_id: int, *, lock: bool = False) -> Lead:
    """A lead reserved (now or before) by the principal's org; everything else is not there."""
    lead = await session.get(Lead, lead_id, with_for_update=lock, populate_existing=lock)
    if lead is None or principal.role not in PICKERS or lead.reserved_by_org_id != principal.org_id:
        raise NotFound()
    return lead


async def _managed_lead(session: AsyncSession, principal: Principal, lead_id: int, roles: frozenset[Role]) -> Lead:
    lead = await session.get(Lead, lead_id)
    if lead is None or not principal.acts_for_program or lead.program_id != principal.program_id:
        raise NotFound()
    if principal.role not in roles:
        raise Forbidden()
    return lead


def _require(principal: Principal, roles: frozenset[Role], program_id: int) -> None:
    if not principal.acts_for_program or principal.program_id != program_id:
        raise ValidationFailed([FieldError(("program_id",), N_("No such program."))])
    if principal.role not in roles:
        raise Forbidden()
