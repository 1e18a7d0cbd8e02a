"""E-mails about leads, queued next to the in-app notices: new offers (instant, or the daily digest) with reserve
links, and feedback due and overdue reminders with feedback links. Each respects its recipients' settings."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.leads.models import Lead, LeadOffer, LeadStatus, OfferState
from incentives.local_time import LOCAL
from incentives.mail import outbox, preferences
from incentives.mail.outbox import Mail

DIGEST_HOUR = 7  # local time (Europe/Berlin): the daily digest waits in the inbox at the start of the day
DUE_SOON = dt.timedelta(hours=12)  # the "feedback due" reminder goes out this long before the due time


TEASER = (
    Lead.id,
    Lead.temperature,
    Lead.product_line,
    Lead.industry,
    Lead.country,
    Lead.postal_code,
    Lead.expires_at,
)


def teaser(lead: Any) -> dict[str, Any]:
    """What an e-mail may say about a lead not yet reserved: what the pick list shows, no company or contact."""
    return {
        "id": lead.id,
        "temperature": str(getattr(lead.temperature, "value", lead.temperature)),
        "product_line": lead.product_line,
        "industry": lead.industry,
        "country": lead.country,
        "postal_prefix": (lead.postal_code or "")[:2] or None,
        "expires_at": lead.expires_at.isoformat() if lead.expires_at else None,
    }


async def mail_offers(session: AsyncSession, offers: Iterable[tuple[int, int]]) -> int:
    """Queue an instant new-lead e-mail per (lead id, org id) just offered, for the org's users who chose
    "instant"; once per user and lead, however often the lead is offered to the org again."""
    pairs = sorted(set(offers))
    if not pairs:
        return 0
    wanted = await preferences.recipients(session, {org for _, org in pairs}, "new_lead", new_leads="instant")
    if not wanted:
        return 0
    # Columns, not entities: the caller may hold an ORM lead whose row its Core writes changed just now.
    leads = await session.execute(select(*TEASER).where(Lead.id.in_({lead for lead, org in pairs if org in wanted})))
    teasers = {lead.id: teaser(lead) for lead in leads}
    mails = [
        Mail(user_id, "new_lead", f"lead:{lead_id}", "new_lead", {"lead": teasers[lead_id]})
        for lead_id, org_id in pairs
        if lead_id in teasers
        for user_id in wanted.get(org_id, ())
    ]
    return await outbox.queue_many(session, mails)


async def mail_feedback_reminders(session: AsyncSession, kind: str, leads: Sequence[Lead]) -> int:
    """Queue a feedback reminder (`feedback_due` or `feedback_overdue`) for each lead to the user who reserved it
    (or, failing that, the org's users), once per lead and due time."""
    if not leads:
        return 0
    orgs = {lead.reserved_by_org_id for lead in leads if lead.reserved_by_org_id is not None}
    wanted = await preferences.recipients(session, orgs, kind)
    mails = []
    for lead in leads:
        if lead.reserved_by_org_id is None or lead.feedback_due_at is None:
            continue
        users = wanted.get(lead.reserved_by_org_id, [])
        if lead.reserved_by_user_id in users:
            users = [lead.reserved_by_user_id]
        context = {
            "lead": {"id": lead.id, "company": lead.company, "feedback_due_at": lead.feedback_due_at.isoformat()}
        }
        key = f"lead:{lead.id}:{lead.feedback_due_at.isoformat()}"
        mails += [Mail(user_id, kind, key, kind, context) for user_id in users]
    return await outbox.queue_many(session, mails)


async def due_soon(session: AsyncSession, now: dt.datetime) -> list[Lead]:
    """Reserved leads whose feedback falls due within DUE_SOON (and is not overdue yet)."""
    rows = await session.scalars(
        select(Lead)
        .where(
            Lead.status == LeadStatus.RESERVED,
            Lead.feedback_due_at > now,
            Lead.feedback_due_at <= now + DUE_SOON,
        )
        .order_by(Lead.feedback_due_at, Lead.id)
        .limit(1000)
    )
    return list(rows)


def digest_day(now: dt.datetime) -> dt.date | None:
    """The local day whose digest is due at `now`: today once DIGEST_HOUR has passed, else None."""
    local = now.astimezone(LOCAL)
    return local.date() if local.hour >= DIGEST_HOUR else None


async def mail_digests(session: AsyncSession, now: dt.datetime) -> int:
    """Once per user and local day, after DIGEST_HOUR: the leads offered to the org of each user who chose the
    daily digest during the last day and still open, in one e-mail."""
    day = digest_day(now)
    if day is None:
        return 0
    until = dt.datetime.combine(day, dt.time(DIGEST_HOUR), LOCAL).astimezone(dt.UTC)
    since = until - dt.timedelta(days=1)
    offered = await session.execute(
        select(LeadOffer.org_id, *TEASER)
        .join(Lead, Lead.id == LeadOffer.lead_id)
        .where(
            LeadOffer.offered_at >= since,
            LeadOffer.offered_at < until,
            LeadOffer.state == OfferState.OPEN,
            Lead.status == LeadStatus.OFFERED,
        )
        .order_by(LeadOffer.org_id, Lead.id)
    )
    by_org: dict[int, list[dict[str, Any]]] = {}
    for row in offered.all():
        by_org.setdefault(row.org_id, []).append(teaser(row))
    if not by_org:
        return 0
    wanted = await preferences.recipients(session, by_org, "new_leads_digest", new_leads="daily")
    mails = [
        Mail(user_id, "new_leads_digest", day.isoformat(), "new_leads_digest", {"leads": by_org[org_id][:50]})
        for org_id, users in wanted.items()
        for user_id in users
    ]
    return await outbox.queue_many(session, mails)
