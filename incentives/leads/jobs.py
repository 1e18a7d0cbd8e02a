"""Lead sweeps: escalate offers whose deadline passed, and notice feedback that became overdue.

Both select what is due from database timestamps and change it in batches, one transaction each, so a
missed run only delays and a doubled or concurrent run finds nothing left to do.
"""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts.models import Program
from incentives.db import Database
from incentives.errors import N_
from incentives.jobs import sweep
from incentives.leads import events, mailing, matching, streaks
from incentives.leads.models import Lead, LeadStatus
from incentives.leads.waves import Writes, earlier_offers, next_step
from incentives.notifications.services import notify

# Leads per batch (one transaction). Each batch tells every org it offered leads to once ("New leads on your
# pick list: n"), so the batch size is also how many due leads share one notice; a batch's row locks stay short.
BATCH = 2000


def _locked(session: AsyncSession, query):  # type: ignore[no-untyped-def]
    """Row locks that concurrent sweeps skip on PostgreSQL; SQLite serializes writers anyway."""
    if session.get_bind().dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query


@dataclass(frozen=True, slots=True)
class DueLead:
    """The columns of an expired offer that the sweep needs (a plain row: no ORM object per lead)."""

    id: int
    program_id: int
    company: str
    wave: int
    ranking: list[int]
    product_line: str
    country: str
    postal_code: str | None
    city: str | None
    lat: float | None
    lon: float | None
    required_certifications: list[str]


DUE_COLUMNS = [getattr(Lead, name) for name in DueLead.__slots__]


@contextmanager
def _older_objects_left_alone() -> Iterator[None]:
    """Keep the garbage collector's full collections to the objects made since entering.

    A batch makes tens of thousands of objects that live through the batch, so the collector runs full
    collections every other batch, each traversing every object of the process. Objects older than the block
    are moved to the permanent generation while it runs and back to the oldest one after it (`gc.freeze`);
    garbage among them waits for the next full collection after the block. When something else has frozen
    objects (a concurrent sweep, or a server that freezes before forking), nothing is changed.
    """
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@sweep("escalate_offers")
async def escalate_offers(db: Database, now: dt.datetime) -> int:
    """Move every lead whose offer wave expired to its next wave (or to unclaimed)."""
    moved = 0
    programs: dict[int, Program] = {}
    while True:
        with _older_objects_left_alone():
            due = await _escalate_batch(db, now, programs)
        if not due:
            return moved
        moved += due


async def _escalate_batch(db: Database, now: dt.datetime, programs: dict[int, Program]) -> int:
    """One batch of due leads in one transaction; how many it moved (0: nothing left)."""
    async with db.transaction() as session:
        rows = await session.execute(
            _locked(
                session,
                select(*DUE_COLUMNS)
                .where(Lead.status == LeadStatus.OFFERED, Lead.expires_at <= now)
                .order_by(Lead.expires_at, Lead.id)
                .limit(BATCH),
            )
        )
        due = [DueLead(*row) for row in rows.all()]
        if not due:
            return 0
        earlier = await earlier_offers(session, [lead.id for lead in due])
        partners: dict[int, tuple[list[matching.Partner], dict[int, matching.Partner]]] = {}
        writes = Writes()
        for lead in due:
            if lead.program_id not in programs:
                programs[lead.program_id] = await session.get_one(Program, lead.program_id)
            if lead.program_id not in partners:  # counters change between batches: read them per batch
                loaded = await matching.load_partners(session, lead.program_id)
                partners[lead.program_id] = (loaded, {p.org_id: p for p in loaded})
            program = programs[lead.program_id]
            everyone, by_org = partners[lead.program_id]
            step = next_step(lead, lead.wave, lead.ranking, program, everyone, by_org, earlier[lead.id], now)
            writes.event(lead, "escalated", now, wave=lead.wave)
            writes.add(lead, step, program, earlier[lead.id], now)
        await writes.flush(session, now)
    return len(due)


@sweep("notice_overdue_feedback")
async def notice_overdue_feedback(db: Database, now: dt.datetime) -> int:
    """Record once per due date that a reserved lead's feedback is overdue (the gate itself needs no sweep)."""
    noticed = 0
    while True:
        async with db.transaction() as session:
            due = (
                await session.scalars(
                    _locked(
                        session,
                        select(Lead)
                        .where(
                            Lead.status == LeadStatus.RESERVED,
                            Lead.feedback_due_at <= now,
                            Lead.overdue_noticed_at.is_(None),
                        )
                        .order_by(Lead.feedback_due_at, Lead.id)
                        .limit(BATCH),
                    )
                )
            ).all()
            if not due:
                return noticed
            for lead in due:
                lead.overdue_noticed_at = now
                assert lead.reserved_by_org_id is not None and lead.feedback_due_at is not None
                await notify(
                    session,
                    program_id=lead.program_id,
                    org_id=lead.reserved_by_org_id,
                    kind="feedback_overdue",
                    message=N_("Your feedback on %(company)s is overdue. Please give it to reserve new leads."),
                    params={"company": lead.company},
                    link=f"/leads/{lead.id}",
                    dedup_key=f"feedback_overdue:{lead.id}:{lead.feedback_due_at.isoformat()}",
                )
                events.record(
                    session,
                    lead,
                    "feedback_overdue",
                    now,
                    org_id=lead.reserved_by_org_id,
                    due_at=lead.feedback_due_at.isoformat() if lead.feedback_due_at else None,
                )
            await streaks.missed(
                session, [(lead.program_id, lead.reserved_by_org_id) for lead in due if lead.reserved_by_org_id], now
            )
            await mailing.mail_feedback_reminders(session, "feedback_overdue", due)
            noticed += len(due)


@sweep("mail_feedback_due")
async def mail_feedback_due(db: Database, now: dt.datetime) -> int:
    """Remind by e-mail of feedback falling due soon: once per lead and due time (the outbox's key)."""
    async with db.transaction() as session:
        return await mailing.mail_feedback_reminders(session, "feedback_due", await mailing.due_soon(session, now))


@sweep("mail_offer_digests")
async def mail_offer_digests(db: Database, now: dt.datetime) -> int:
    """The daily digest of new offers, once per user and local day after the digest hour."""
    async with db.transaction() as session:
        return await mailing.mail_digests(session, now)
