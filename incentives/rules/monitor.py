"""What processing could not do, for admins: failed outbox events (with a retry), awards whose payment into the
ledger failed, and skipped rule evaluations."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from incentives.accounts.models import Org
from incentives.accounts.scope import Principal
from incentives.errors import N_, NotFound
from incentives.jobs import wake_after_commit
from incentives.leads.models import OutboxEvent
from incentives.rules.models import RuleAward, RuleSkip, RuleVersion
from incentives.rules.paying import MAX_ATTEMPTS
from incentives.rules.services import ensure_manager

SHOWN = 100


@dataclass(frozen=True)
class FailedEvent:
    id: int
    event_type: str
    lead_id: int | None
    partner: str | None
    at: dt.datetime
    attempts: int
    error: str
    given_up: bool  # failed MAX_ATTEMPTS times: processing leaves it alone until someone retries it


@dataclass(frozen=True)
class UnpaidAward:
    at: dt.datetime
    event_id: int
    event_type: str
    partner: str | None
    rule_id: int
    rule_version: int
    rule_name_de: str
    rule_name_en: str
    points: int
    attempts: int
    error: str
    given_up: bool  # failed MAX_ATTEMPTS times: payment is no longer tried


@dataclass(frozen=True)
class Skip:
    at: dt.datetime
    event_id: int
    event_type: str
    partner: str | None
    rule_id: int
    rule_version: int
    rule_name_de: str
    rule_name_en: str
    reason: str


def _failed(program_id: int) -> list[ColumnElement[bool]]:
    return [
        OutboxEvent.program_id == program_id,
        OutboxEvent.processed_at.is_(None),
        or_(OutboxEvent.attempts > 0, OutboxEvent.last_error.is_not(None)),
    ]


async def failed_events(session: AsyncSession, principal: Principal, program_id: int) -> list[FailedEvent]:
    """Unprocessed events that failed at least once, oldest first (the order processing takes them in)."""
    ensure_manager(principal, program_id)
    rows = await session.execute(
        select(OutboxEvent, Org.name)
        .outerjoin(Org, Org.id == OutboxEvent.org_id)
        .where(*_failed(program_id))
        .order_by(OutboxEvent.id)
        .limit(SHOWN)
    )
    return [
        FailedEvent(
            e.id, e.event_type, e.lead_id, partner, e.at, e.attempts, e.last_error or "", e.attempts >= MAX_ATTEMPTS
        )
        for e, partner in rows.all()
    ]


async def unpaid_awards(session: AsyncSession, principal: Principal, program_id: int) -> list[UnpaidAward]:
    """Decided awards whose payment into the ledger failed (retried on every run), oldest first."""
    ensure_manager(principal, program_id)
    rows = await session.execute(
        select(RuleAward, Org.name, RuleVersion.name_de, RuleVersion.name_en)
        .join(
            RuleVersion, and_(RuleVersion.rule_id == RuleAward.rule_id, RuleVersion.version == RuleAward.rule_version)
        )
        .outerjoin(Org, Org.id == RuleAward.org_id)
        .where(RuleAward.program_id == program_id, RuleAward.paid_at.is_(None), RuleAward.last_error.is_not(None))
        .order_by(RuleAward.id)
        .limit(SHOWN)
    )
    return [
        UnpaidAward(
            a.at,
            a.event_id,
            a.event_type,
            partner,
            a.rule_id,
            a.rule_version,
            name_de,
            name_en,
            a.points,
            a.attempts,
            a.last_error or "",
            a.attempts >= MAX_ATTEMPTS,
        )
        for a, partner, name_de, name_en in rows.all()
    ]


async def recent_skips(session: AsyncSession, principal: Principal, program_id: int) -> list[Skip]:
    """The latest rule evaluations that paid nothing, and why; newest first."""
    ensure_manager(principal, program_id)
    rows = await session.execute(
        select(RuleSkip, OutboxEvent.event_type, Org.name, RuleVersion.name_de, RuleVersion.name_en)
        .join(OutboxEvent, OutboxEvent.id == RuleSkip.event_id)
        .join(RuleVersion, and_(RuleVersion.rule_id == RuleSkip.rule_id, RuleVersion.version == RuleSkip.rule_version))
        .outerjoin(Org, Org.id == OutboxEvent.org_id)
        .where(OutboxEvent.program_id == program_id)
        .order_by(RuleSkip.id.desc())
        .limit(SHOWN)
    )
    return [
        Skip(s.at, s.event_id, event_type, partner, s.rule_id, s.rule_version, name_de, name_en, s.reason)
        for s, event_type, partner, name_de, name_en in rows.all()
    ]


async def retry_event(session: AsyncSession, principal: Principal, event_id: int) -> bool:
    """Give a failed event a fresh set of attempts, so the next processing run (woken on commit) takes it.

    Idempotent: an event that waits for its run already, or was processed meanwhile, is left as it is.
    Returns whether this call reset it."""
    program_id = await session.scalar(select(OutboxEvent.program_id).where(OutboxEvent.id == event_id))
    if program_id is None:
        raise NotFound()
    ensure_manager(principal, program_id)
    result = await session.execute(
        update(OutboxEvent).where(OutboxEvent.id == event_id, *_failed(program_id)).values(attempts=0, last_error=None)
    )
    reset = bool(getattr(result, "rowcount", 0))
    if reset:
        wake_after_commit(session)
    return reset


# Skip reasons are recorded in English for the log; the known ones are shown in the reader's language.
_CAP = re.compile(r"cap of (?P<points>\d+) points per (?P<per>day|week|month) reached")
_BUDGET = re.compile(r"budget of campaign (?P<campaign>\d+) spent")
PERIODS = {"day": N_("day"), "week": N_("week"), "month": N_("month")}


def explain(reason: str) -> tuple[str, dict[str, object]] | None:
    """(message id, parameters) for a known skip reason; None for a technical one (shown as recorded)."""
    if found := _CAP.fullmatch(reason):
        return N_("Cap of %(points)s points per %(period)s reached"), {
            "points": int(found["points"]),
            "period": found["per"],
        }
    if found := _BUDGET.fullmatch(reason):
        return N_("The budget of campaign %(campaign)s is spent"), {"campaign": int(found["campaign"])}
    return None
