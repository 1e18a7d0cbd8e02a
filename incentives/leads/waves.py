"""Offer waves: who gets a lead next. Its writes go out in bulk, so a sweep over thousands of leads is quick.

`next_step` decides (pure, no I/O); `Writes` collects what the decisions change and writes it in a
handful of core statements: one UPDATE per (wave, deadline) group of leads, one INSERT per table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import orjson
from sqlalchemy import JSON, DateTime, Float, Integer, String, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from incentives import live
from incentives.accounts.models import Program
from incentives.db import UTCDateTime
from incentives.errors import N_
from incentives.leads import events, mailing, matching
from incentives.leads.models import Lead, LeadEvent, LeadOffer, LeadStatus, OfferState
from incentives.notifications.services import add_notifications, notification_row
from incentives.webhooks import outbox as webhooks

LEADS = cast(Any, Lead.__table__)
OFFERS = cast(Any, LeadOffer.__table__)
EVENTS = cast(Any, LeadEvent.__table__)


def _pg_array_type(column: Any) -> tuple[str, str]:
    """(array element type, cast back) for a column's values sent to PostgreSQL as one array."""
    kind = column.type
    if isinstance(kind, JSON):
        return "TEXT", "::json"
    if isinstance(kind, Integer):
        return "BIGINT", ""
    if isinstance(kind, Float):
        return "DOUBLE PRECISION", ""
    if isinstance(kind, String):
        return "TEXT", ""
    if isinstance(kind, DateTime | UTCDateTime):
        return "TIMESTAMPTZ", ""
    raise TypeError(f"no array type for {column}")


async def insert_rows(session: AsyncSession, table: Any, rows: list[dict[str, Any]]) -> None:
    """Insert many rows with the same keys.

    PostgreSQL: one INSERT .. SELECT FROM unnest(one array per column), so the server runs one statement
    instead of asyncpg's executemany running one per row, and asyncpg encodes the arrays in C. JSON values go
    as text (orjson) and are cast back. SQLite: executemany, which is one call into the driver's thread.
    """
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        await session.execute(insert(table), rows)
        return
    names = list(rows[0])
    params: dict[str, list[Any]] = {}
    arrays, values = [], []
    for index, name in enumerate(names):
        element, back = _pg_array_type(table.c[name])
        column = [row[name] for row in rows]
        if back == "::json":
            column = [None if v is None else orjson.dumps(v, option=orjson.OPT_NON_STR_KEYS).decode() for v in column]
        params[f"a{index}"] = column
        arrays.append(f"CAST(:a{index} AS {element}[])")
        values.append(f"v{index}{back}")
    listed = ", ".join(f"v{index}" for index in range(len(names)))
    await session.execute(
        text(
            f"INSERT INTO {table.name} ({', '.join(names)}) "  # noqa: S608 - table and column names from our schema
            f"SELECT {', '.join(values)} FROM unnest({', '.join(arrays)}) AS rows({listed})"
        ),
        params,
    )


class LeadRef(Protocol):
    """What the writes name of a lead: an ORM `Lead`, or the plain row a sweep selects."""

    @property
    def id(self) -> int: ...
    @property
    def program_id(self) -> int: ...
    @property
    def company(self) -> str: ...


@dataclass(frozen=True)
class Offered:
    org_id: int
    wave: int
    score: float
    breakdown: dict[str, dict[str, float]]


@dataclass(frozen=True)
class EarlierOffer:
    id: int
    state: str


@dataclass(frozen=True)
class Step:
    """Where a lead goes next: wave `wave` to `group`; an empty group means unclaimed."""

    wave: int
    group: list[matching.Candidate]
    ranking: list[int] | None = None  # a fresh ranking, when this step made the first matching


async def earlier_offers(session: AsyncSession, lead_ids: list[int]) -> dict[int, dict[int, EarlierOffer]]:
    """The offers made so far, by lead and org (plain rows: a sweep reads thousands)."""
    found: dict[int, dict[int, EarlierOffer]] = {lead_id: {} for lead_id in lead_ids}
    rows = await session.execute(
        select(LeadOffer.lead_id, LeadOffer.org_id, LeadOffer.id, LeadOffer.state).where(
            LeadOffer.lead_id.in_(lead_ids)
        )
    )
    for lead_id, org_id, offer_id, state in rows.all():
        found[lead_id][org_id] = EarlierOffer(offer_id, state)
    return found


def next_step(
    lead: matching.LeadFacts,
    wave: int,
    ranking: list[int],
    program: Program,
    partners: list[matching.Partner],
    by_org: Mapping[int, matching.Partner],
    earlier: Mapping[int, EarlierOffer],
    now: dt.datetime,
) -> Step:
    """The next group: the next slice of the ranking; after `max_waves` every eligible partner left."""
    weights = matching.weights_of(program)
    hard = program.capacity_mode == "hard"
    excluded = {org for org, offer in earlier.items() if offer.state == OfferState.RETURNED}
    offered = {org for org, offer in earlier.items() if offer.state != OfferState.WITHDRAWN}
    fresh = None
    if wave == 0:
        keep = program.offer_wave_size * program.max_waves
        fresh = ranking = [
            c.org_id for c in matching.rank(lead, partners, weights, excluded, now, limit=keep, hard_capacity=hard)
        ]
    group: list[matching.Candidate] = []
    while not group and wave <= program.max_waves:
        wave += 1
        if wave <= program.max_waves:
            start = (wave - 1) * program.offer_wave_size
            ids = [o for o in ranking[start : start + program.offer_wave_size] if o not in offered | excluded]
            group = [
                matching.score(lead, by_org[o], weights, now) for o in ids if o in by_org and _room(by_org[o], hard)
            ]
        else:  # the last wave: every eligible partner that has not had it yet
            group = matching.rank(lead, partners, weights, excluded | offered, now, hard_capacity=hard)
    return Step(wave, group, fresh)


def _room(partner: matching.Partner, hard: bool) -> bool:
    """Whether a partner of the ranking may still be offered a lead: in hard capacity mode, not when full."""
    return not hard or partner.capacity is None or partner.open_leads < partner.capacity


@dataclass
class Writes:
    """Rows that waves add or change, written in a handful of statements when the caller flushes (once)."""

    moved: dict[tuple[int, dt.datetime], list[int]] = field(default_factory=dict)  # (wave, deadline) → lead ids
    unclaimed: list[int] = field(default_factory=list)
    rankings: dict[int, list[int]] = field(default_factory=dict)  # lead → its fresh ranking
    offers: list[dict[str, Any]] = field(default_factory=list)
    reoffers: dict[int, dict[str, Any]] = field(default_factory=dict)  # withdrawn offer → its new values
    events: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    offered: dict[int, dict[int, int]] = field(default_factory=dict)  # program → org → offers just made
    hooks: list[tuple[LeadRef, str, dict[str, Any]]] = field(default_factory=list)  # lead, webhook type, data
    mailed: list[tuple[int, int]] = field(default_factory=list)  # (lead, org) offered: the instant e-mails

    def event(self, lead: LeadRef, kind: str, now: dt.datetime, *, actor_id: int | None = None, **data: Any) -> None:
        self.events.append(events.row(lead, kind, now, actor_id=actor_id, **data))

    def add(
        self,
        lead: LeadRef,
        step: Step,
        program: Program,
        earlier: Mapping[int, EarlierOffer],
        now: dt.datetime,
        *,
        actor_id: int | None = None,
    ) -> None:
        """Record the rows of one lead's step, to be written by `flush`."""
        if step.ranking is not None:
            self.rankings[lead.id] = step.ranking
        if not step.group:
            self.unclaimed.append(lead.id)
            self.event(lead, "unclaimed", now, actor_id=actor_id)
            self.hooks.append((lead, "lead.unclaimed", {"status": LeadStatus.UNCLAIMED.value}))
            if program.manufacturer_id is not None:
                self.notifications.append(
                    notification_row(
                        program_id=lead.program_id,
                        org_id=program.manufacturer_id,
                        kind="lead_unclaimed",
                        message=N_("Nobody took lead %(lead)s (%(company)s): it is back with you."),
                        params={"lead": lead.id, "company": lead.company},
                        link=f"/leads/{lead.id}",
                    )
                )
            return
        deadline = now + dt.timedelta(hours=program.escalation_hours)
        self.moved.setdefault((step.wave, deadline), []).append(lead.id)
        counts = self.offered.setdefault(lead.program_id, {})
        for c in step.group:
            self.mailed.append((lead.id, c.org_id))
            values = {"wave": step.wave, "score": c.score, "breakdown": c.breakdown, "offered_at": now}
            again = earlier.get(c.org_id)
            if again is not None:  # an offer a manager withdrew is made again in place: one row per lead and org
                self.reoffers[again.id] = {"state": OfferState.OPEN, **values}
            else:
                self.offers.append(
                    {
                        "lead_id": lead.id,
                        "program_id": lead.program_id,
                        "org_id": c.org_id,
                        "state": OfferState.OPEN,
                        **values,
                    }
                )
            counts[c.org_id] = counts.get(c.org_id, 0) + 1
        self.event(
            lead, "offered", now, actor_id=actor_id, wave=step.wave, scores={str(c.org_id): c.score for c in step.group}
        )
        self.hooks.append(
            (
                lead,
                "lead.offered",
                {
                    "status": LeadStatus.OFFERED.value,
                    "wave": step.wave,
                    "offered_to": [c.org_id for c in step.group],
                    "expires_at": webhooks.iso(deadline),
                },
            )
        )

    async def flush(self, session: AsyncSession, now: dt.datetime) -> None:
        # Core statements, not ORM units of work: a sweep's batch is a few statements, not thousands.
        for (wave, deadline), ids in self.moved.items():
            await session.execute(
                update(LEADS)
                .where(LEADS.c.id.in_(ids))
                .values(
                    status=LeadStatus.OFFERED,
                    wave=wave,
                    expires_at=deadline,
                    offered_at=func.coalesce(LEADS.c.offered_at, now),
                )
            )
        if self.unclaimed:
            await session.execute(
                update(LEADS).where(LEADS.c.id.in_(self.unclaimed)).values(status=LeadStatus.UNCLAIMED, expires_at=None)
            )
        # Fresh rankings and re-made offers come one lead at a time (a manager's action), never from a sweep.
        for lead_id, ranking in self.rankings.items():
            await session.execute(update(LEADS).where(LEADS.c.id == lead_id).values(ranking=ranking))
        for offer_id, values in self.reoffers.items():
            await session.execute(update(OFFERS).where(OFFERS.c.id == offer_id).values(**values))
        await insert_rows(session, OFFERS, self.offers)
        await insert_rows(session, EVENTS, self.events)
        # One notice per org and flush, however many leads reached its pick list at once; its open pick lists
        # refresh.
        live.notify_after_commit(
            session,
            [
                live.Notice(live.org_topic(org), "picklist")
                for counts in self.offered.values()
                for org in sorted(counts)
            ],
        )
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
        await mailing.mail_offers(session, self.mailed)
        for program_id, counts in self.offered.items():
            await matching.count_offer(session, program_id, sorted(counts), now)
        await self._webhooks(session, now)

    async def _webhooks(self, session: AsyncSession, now: dt.datetime) -> None:
        """`lead.offered` and `lead.unclaimed` for the subscribed endpoints; nothing more is read when none listen."""
        endpoints = await webhooks.listening(session, {(lead.program_id, kind) for lead, kind, _ in self.hooks})
        wanted = [(lead, kind, data) for lead, kind, data in self.hooks if (lead.program_id, kind) in endpoints]
        if not wanted:
            return
        ids = {lead.id for lead, _, _ in wanted}
        rows = await session.execute(select(LEADS.c.id, LEADS.c.external_id).where(LEADS.c.id.in_(ids)))
        external: dict[int, str | None] = {lead_id: external_id for lead_id, external_id in rows}
        found = [
            webhooks.Event(
                lead.program_id,
                kind,
                now,
                {"lead_id": lead.id, "program_id": lead.program_id, "external_id": external.get(lead.id), **data},
            )
            for lead, kind, data in wanted
        ]
        await webhooks.emit(session, found, endpoints)


async def start_next_wave(
    session: AsyncSession,
    lead: Lead,
    program: Program,
    partners: list[matching.Partner],
    now: dt.datetime,
    *,
    actor_id: int | None = None,
) -> list[Offered]:
    """Offer one lead to its next group now (a manager's offer, a return); the sweep batches `next_step` itself.

    The caller holds the transaction and has checked that the lead may move on.
    """
    await session.flush()  # the caller's changes to the lead go first: the writes below bypass the ORM
    earlier = (await earlier_offers(session, [lead.id]))[lead.id]
    by_org = {p.org_id: p for p in partners}
    step = next_step(lead, lead.wave, lead.ranking, program, partners, by_org, earlier, now)
    writes = Writes()
    writes.add(lead, step, program, earlier, now, actor_id=actor_id)
    await writes.flush(session, now)
    # The rows changed under the ORM's feet: read them back into the session's lead.
    await session.refresh(lead, ["status", "wave", "ranking", "offered_at", "expires_at"])
    return [Offered(c.org_id, step.wave, c.score, c.breakdown) for c in step.group]
