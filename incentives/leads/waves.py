"""Offer waves: who gets a lead next. Its writes go out in bulk, so a sweep over thousands of leads is quick."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts.models import Program
from incentives.errors import N_
from incentives.leads import events, matching
from incentives.leads.models import Lead, LeadEvent, LeadOffer, LeadStatus, OfferState
from incentives.notifications.services import add_notifications, notification_row


@dataclass(frozen=True)
class Offered:
    org_id: int
    wave: int
    score: float
    breakdown: dict[str, dict[str, float]]


@dataclass
class Writes:
    """Rows that waves add, written in a handful of statements when the caller flushes."""

    offers: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    offered: dict[int, dict[int, int]] = field(default_factory=dict)  # program → org → offers just made

    async def flush(self, session: AsyncSession, now: dt.datetime) -> None:
        if self.offers:
            await session.execute(insert(LeadOffer), self.offers)
        if self.events:
            await session.execute(insert(LeadEvent), self.events)
        # One notice per org and flush, however many leads reached its pick list at once.
        for program_id, counts in self.offered.items():
            self.notifications.extend(
                notification_row(
                    program_id=program_id,
                    org_id=org_id,
                    kind="lead_offered",
                    message=N_("New leads on your pick list: %(count)s"),
                    params={"count": count},
                    link="/picklist",
                )
                for org_id, count in sorted(counts.items())
            )
        await add_notifications(session, self.notifications)
        for program_id, counts in self.offered.items():
            await matching.count_offer(session, program_id, sorted(counts), now)
        self.offers, self.events, self.notifications, self.offered = [], [], [], {}


async def start_next_wave(
    session: AsyncSession,
    lead: Lead,
    program: Program,
    partners: list[matching.Partner],
    now: dt.datetime,
    *,
    actor_id: int | None = None,
    earlier_offers: list[LeadOffer] | None = None,
    writes: Writes | None = None,
    by_org: dict[int, matching.Partner] | None = None,
) -> list[Offered]:
    """Offer the lead to the next group; after `max_waves` to all eligible; then it is unclaimed.

    The caller holds the transaction and has checked that the lead may move on. A sweep passes the
    lead's earlier offers (loaded for its whole batch at once), the partners by org id, and its own
    `writes`, which it flushes once per batch; without them the rows are written before this returns.
    """
    own = writes is None
    writes = writes or Writes()
    weights = matching.weights_of(program)
    if earlier_offers is None:
        earlier_offers = list((await session.scalars(select(LeadOffer).where(LeadOffer.lead_id == lead.id))).all())
    earlier = {o.org_id: o for o in earlier_offers}
    excluded = {org for org, offer in earlier.items() if offer.state == OfferState.RETURNED}
    offered = {org for org, offer in earlier.items() if offer.state != OfferState.WITHDRAWN}
    by_org = by_org if by_org is not None else {p.org_id: p for p in partners}
    if lead.wave == 0:
        keep = program.offer_wave_size * program.max_waves
        lead.ranking = [c.org_id for c in matching.rank(lead, partners, weights, excluded, now, limit=keep)]
    group: list[matching.Candidate] = []
    wave = lead.wave
    while not group and wave <= program.max_waves:
        wave += 1
        if wave <= program.max_waves:
            start = (wave - 1) * program.offer_wave_size
            ids = [o for o in lead.ranking[start : start + program.offer_wave_size] if o not in offered | excluded]
            group = [matching.score(lead, by_org[o], weights, now) for o in ids if o in by_org]
        else:  # the last wave: every eligible partner that has not had it yet
            group = matching.rank(lead, partners, weights, excluded | offered, now)
    if not group:
        lead.status = LeadStatus.UNCLAIMED
        lead.expires_at = None
        writes.events.append(events.row(lead, "unclaimed", now, actor_id=actor_id))
        if program.manufacturer_id is not None:
            writes.notifications.append(
                notification_row(
                    program_id=lead.program_id,
                    org_id=program.manufacturer_id,
                    kind="lead_unclaimed",
                    message=N_("Nobody took lead %(lead)s (%(company)s): it is back with you."),
                    params={"lead": lead.id, "company": lead.company},
                    link=f"/leads/{lead.id}",
                )
            )
        if own:
            await writes.flush(session, now)
        return []
    lead.wave = wave
    lead.status = LeadStatus.OFFERED
    lead.offered_at = lead.offered_at or now
    lead.expires_at = now + dt.timedelta(hours=program.escalation_hours)
    for c in group:
        again = earlier.get(c.org_id)
        if again is not None:  # an offer a manager withdrew is made again in place: one row per lead and org
            again.wave, again.score, again.breakdown = wave, c.score, c.breakdown
            again.state, again.offered_at = OfferState.OPEN, now
        else:
            writes.offers.append(
                {
                    "lead_id": lead.id,
                    "program_id": lead.program_id,
                    "org_id": c.org_id,
                    "wave": wave,
                    "score": c.score,
                    "breakdown": c.breakdown,
                    "state": OfferState.OPEN,
                    "offered_at": now,
                }
            )
    counts = writes.offered.setdefault(lead.program_id, {})
    for c in group:
        counts[c.org_id] = counts.get(c.org_id, 0) + 1
    writes.events.append(
        events.row(lead, "offered", now, actor_id=actor_id, wave=wave, scores={str(c.org_id): c.score for c in group})
    )
    if own:
        await writes.flush(session, now)
    return [Offered(c.org_id, wave, c.score, c.breakdown) for c in group]
