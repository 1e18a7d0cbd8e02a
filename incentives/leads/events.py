"""Lead events (the audit trail) and outbox events (for the rules engine), written in the caller's transaction."""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts.models import Membership, Org
from incentives.jobs import wake_after_commit
from incentives.leads import streaks
from incentives.leads.models import Lead, LeadEvent, LeadStatus, OutboxEvent
from incentives.webhooks import outbox as webhooks


class LeadKey(Protocol):
    """What an event row names of its lead: an ORM `Lead`, or a plain row with these columns."""

    @property
    def id(self) -> int: ...
    @property
    def program_id(self) -> int: ...


def row(
    lead: LeadKey,
    kind: str,
    at: dt.datetime,
    *,
    org_id: int | None = None,
    actor_id: int | None = None,
    **data: Any,
) -> dict[str, Any]:
    """The values of one lead event (for a batch insert)."""
    return {
        "lead_id": lead.id,
        "program_id": lead.program_id,
        "kind": kind,
        "org_id": org_id,
        "actor_id": actor_id,
        "at": at,
        "data": data,
    }


def record(
    session: AsyncSession,
    lead: Lead,
    kind: str,
    at: dt.datetime,
    *,
    org_id: int | None = None,
    actor_id: int | None = None,
    **data: Any,
) -> None:
    session.add(LeadEvent(**row(lead, kind, at, org_id=org_id, actor_id=actor_id, **data)))


def hours_between(start: dt.datetime | None, end: dt.datetime) -> float:
    return round((end - start).total_seconds() / 3600, 2) if start else 0.0


async def partner_of(session: AsyncSession, program_id: int, org_id: int) -> tuple[Membership, Org]:
    """The org's membership of the program and the org: what an event's `partner.*` variables come from."""
    membership, org = (
        await session.execute(
            select(Membership, Org)
            .join(Org, Org.id == Membership.org_id)
            .where(Membership.program_id == program_id, Membership.org_id == org_id)
        )
    ).one()
    return membership, org


def variables(
    lead: Lead,
    membership: Membership,
    org: Org,
    at: dt.datetime,
    streak: dict[str, int] | None = None,
    **extra: dict[str, Any],
) -> dict[str, Any]:
    """An event's variables as API.md lists them for rule expressions (lead.*, partner.*, event.at, and the
    event's own `extra` ones); the rules' points preview builds the same for events that have not happened.
    `streak`: the partner's streaks after the event (publish moves them; a preview leaves them out)."""
    return {
        "lead": {
            "id": lead.id,
            "temperature": lead.temperature,
            "product_line": lead.product_line,
            "industry": lead.industry or "",
            "country": lead.country,
            "estimated_value": float(lead.estimated_value or 0),
            "wave": lead.wave,
            "source": lead.source or "",
        },
        "partner": {
            "tier": membership.tier,
            "org_id": org.id,
            "country": org.country,
            "competencies": list(membership.competencies or []),
            "certifications": list(membership.certifications or []),
            # After this event: a rule or achievement can pay for the streak it completes.
            **({"streak": streak} if streak is not None else {}),
        },
        "event": {"at": at.isoformat()},
        # Who the lead's awards count for on the reps' leaderboard: the rep who reserved it.
        "actor": {"user_id": lead.reserved_by_user_id},
        **extra,
    }


def reservation_variables(offered_at: dt.datetime | None, at: dt.datetime) -> dict[str, Any]:
    return {"hours_since_offered": hours_between(offered_at, at)}


def feedback_variables(lead: Lead, status: str, at: dt.datetime, *, is_new_status: bool = True) -> dict[str, Any]:
    """The `feedback.*` variables of feedback `status` given at `at` on a reserved lead (before it changes).
    `is_new_status`: the lead reaches the status for the first time (a repeat is a note and pays nothing)."""
    return {
        "status": status,
        "is_first": lead.last_feedback is None,
        "is_new_status": is_new_status,
        "on_time": lead.feedback_due_at is not None and at <= lead.feedback_due_at,
        "hours_since_reserved": hours_between(lead.reserved_at, at),
    }


def deal_variables(lead: Lead, value: float, at: dt.datetime) -> dict[str, Any]:
    """The `deal.*` variables of a lead won at `at` for `value` EUR."""
    reserved_at = lead.reserved_at or at
    return {"value": value, "days_since_reserved": round((at - reserved_at).total_seconds() / 86400, 2)}


async def publish(
    session: AsyncSession, lead: Lead, event_type: str, at: dt.datetime, org_id: int, **extra: dict[str, Any]
) -> None:
    """An outbox event with the variables API.md lists for rule expressions (lead.*, partner.*, event.at, ...)."""
    membership, org = await partner_of(session, lead.program_id, org_id)
    streak = await streaks.advance(session, lead.program_id, org_id, event_type, extra, at)
    session.add(
        OutboxEvent(
            program_id=lead.program_id,
            event_type=event_type,
            lead_id=lead.id,
            org_id=org_id,
            payload=variables(lead, membership, org, at, streak, **extra),
            at=at,
        )
    )
    wake_after_commit(session)
    await webhooks.emit(session, [webhook_event(lead, event_type, at, org, extra)])


# The lead's status once the event is done: a returned lead is offered again (or, with no wave left, unclaimed,
# which a `lead.unclaimed` event then says).
_STATUS_AFTER = {"lead.reserved": LeadStatus.RESERVED, "lead.returned": LeadStatus.OFFERED}


def webhook_event(lead: Lead, event_type: str, at: dt.datetime, org: Org, extra: dict[str, Any]) -> webhooks.Event:
    """The webhook of a partner's lead event: what a CRM needs to act without a second call."""
    data: dict[str, Any] = {
        "lead_id": lead.id,
        "program_id": lead.program_id,
        "external_id": lead.external_id,
        "status": str(_STATUS_AFTER.get(event_type, lead.status)),
        "org": {"id": org.id, "name": org.name},
        "user_id": lead.reserved_by_user_id,
        "temperature": lead.temperature,
        "product_line": lead.product_line,
        "last_feedback": lead.last_feedback,
        "feedback_due_at": webhooks.iso(lead.feedback_due_at),
        **extra,
    }
    if event_type == "lead.won" and lead.deal_value is not None:
        data["deal_value"] = {"amount": f"{lead.deal_value:.2f}", "currency": "EUR"}
    return webhooks.Event(lead.program_id, event_type, at, data)
