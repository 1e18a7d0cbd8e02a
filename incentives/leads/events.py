"""Lead events (the audit trail) and outbox events (for the rules engine), written in the caller's transaction."""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts.models import Membership, Org
from incentives.engagement import streaks
from incentives.jobs import wake_after_commit
from incentives.leads.models import Lead, LeadEvent, OutboxEvent


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


async def publish(
    session: AsyncSession, lead: Lead, event_type: str, at: dt.datetime, org_id: int, **variables: dict[str, Any]
) -> None:
    """An outbox event with the variables API.md lists for rule expressions (lead.*, partner.*, event.at, ...)."""
    membership, org = (
        await session.execute(
            select(Membership, Org)
            .join(Org, Org.id == Membership.org_id)
            .where(Membership.program_id == lead.program_id, Membership.org_id == org_id)
        )
    ).one()
    payload: dict[str, Any] = {
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
            "org_id": org_id,
            "country": org.country,
            "competencies": list(membership.competencies or []),
            "certifications": list(membership.certifications or []),
            # After this event: a rule or achievement can pay for the streak it completes.
            "streak": await streaks.advance(session, lead.program_id, org_id, event_type, variables, at),
        },
        "event": {"at": at.isoformat()},
        # Who the lead's awards count for on the reps' leaderboard: the rep who reserved it.
        "actor": {"user_id": lead.reserved_by_user_id},
        **variables,
    }
    session.add(
        OutboxEvent(
            program_id=lead.program_id, event_type=event_type, lead_id=lead.id, org_id=org_id, payload=payload, at=at
        )
    )
    wake_after_commit(session)
