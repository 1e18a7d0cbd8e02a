"""Outbox events → rule awards, exactly once in effect, in two steps that can each crash and rerun.

1. *Decide* (one transaction per batch): claim unprocessed events in id order, evaluate the current,
   active rule versions of each event's program, apply caps under a lock on their counter rows, and
   write one decision per paying (event, rule) keyed `rule:{rule_id}:event:{event_id}`, the skips,
   and `processed_at`. All of it commits together or not at all.
2. *Pay*: hand unpaid decisions to the ledger under the same key. The ledger's unique key turns any
   replay (a rerun after a crash, a second processor) into a no-op, so each decision is paid once.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, exists, insert, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from incentives.db import Database, utcnow
from incentives.engagement import achievements
from incentives.engagement.take_back import take_back_progress
from incentives.leads.models import OutboxEvent
from incentives.rules import fairness
from incentives.rules.campaigns import CampaignBook, apply_campaign, load_book, refund, save_book
from incentives.rules.evaluation import ActiveRule, build, evaluate, period_start
from incentives.rules.models import DecisionKind, Effect, RuleAward, RuleCapUsage, RuleSkip, RuleVersion
from incentives.rules.paying import BATCH, MAX_ATTEMPTS, pay_decisions
from incentives.rules.queries import current_versions

log = logging.getLogger(__name__)

AWARDS = cast(Table, RuleAward.__table__)
USAGE = cast(Table, RuleCapUsage.__table__)
EVENTS = cast(Table, OutboxEvent.__table__)
SKIPS = cast(Table, RuleSkip.__table__)


def award_key(rule_id: int, event_id: int) -> str:
    return f"rule:{rule_id}:event:{event_id}"


@dataclass
class _Candidate:
    event: Any
    rule: ActiveRule
    points: int


async def active_rules(session: AsyncSession, pairs: set[tuple[int, str]]) -> dict[tuple[int, str], list[ActiveRule]]:
    """The current, active versions of the rules listening to each (program, event type)."""
    if not pairs:
        return {}
    rows = await session.scalars(
        current_versions()
        .where(RuleVersion.active.is_(True), tuple_(RuleVersion.program_id, RuleVersion.event).in_(sorted(pairs)))
        .order_by(RuleVersion.rule_id)
    )
    found: dict[tuple[int, str], list[ActiveRule]] = defaultdict(list)
    for rule in build(rows):
        found[(rule.program_id, rule.event)].append(rule)
    return found


async def decide_batch(session: AsyncSession, now: dt.datetime, limit: int = BATCH) -> int:
    """Step 1 for up to `limit` events; returns how many events it took (processed or failed)."""
    async with session.begin():
        claim = (
            select(
                OutboxEvent.id,
                OutboxEvent.program_id,
                OutboxEvent.event_type,
                OutboxEvent.lead_id,
                OutboxEvent.org_id,
                OutboxEvent.payload,
                OutboxEvent.at,
            )
            .where(OutboxEvent.processed_at.is_(None), OutboxEvent.attempts < MAX_ATTEMPTS)
            .order_by(OutboxEvent.id)
            .limit(limit)
        )
        if session.get_bind().dialect.name == "postgresql":
            # A second processor takes the next events instead of waiting (SQLite: BEGIN IMMEDIATE serializes).
            claim = claim.with_for_update(skip_locked=True)
        events = (await session.execute(claim)).all()
        if not events:
            return 0
        rules = await active_rules(session, {(event.program_id, event.event_type) for event in events})
        # A redelivered event (processed_at reset by hand, a restore) must not decide, or count against caps, twice.
        decided = set(
            await session.scalars(select(RuleAward.key).where(RuleAward.event_id.in_([event.id for event in events])))
        )
        candidates: list[_Candidate] = []
        skips: list[dict[str, Any]] = []
        failed: dict[int, str] = {}
        for event in events:
            if event.event_type in fairness.CLAWBACK_ONLY:
                continue
            try:
                found, skipped = _evaluate_event(event, rules.get((event.program_id, event.event_type), []))
            except Exception as error:  # one broken event must not hold up the others
                failed[event.id] = f"{type(error).__name__}: {error}"[:2000]
                continue
            candidates.extend(c for c in found if award_key(c.rule.rule_id, event.id) not in decided)
            skips.extend({**skip, "at": now} for skip in skipped)
        # A clawback event takes back what its lead paid whatever the rules say: its reversal rules are folded in.
        clawed = fairness.CLAWBACK_EVENTS
        candidates = [c for c in candidates if not (c.rule.effect == Effect.REVERSE and c.event.event_type in clawed)]
        clawing = [e for e in events if e.event_type in fairness.CLAWBACK_EVENTS and e.id not in failed]
        # On PostgreSQL another processor may hold this lead's reservation event, uncommitted: a reversal
        # decided now would find nothing to take back. Such an event waits for the next run instead.
        batch = {event.id for event in events}
        for event_id in await _waiting(
            session, [c.event for c in candidates if c.rule.effect == Effect.REVERSE] + clawing, batch
        ):
            failed[event_id] = "waits for earlier events of its lead"
        candidates = [c for c in candidates if c.event.id not in failed]
        skips = [skip for skip in skips if skip["event_id"] not in failed]
        awarding = [c for c in candidates if c.rule.effect == Effect.AWARD]
        reversing = [c for c in candidates if c.rule.effect == Effect.REVERSE]
        clawing = [e for e in clawing if e.id not in failed]
        book = await load_book(
            session,
            [event for event in events if event.id not in failed],
            await _campaigns_to_refund(session, [c.event for c in reversing] + clawing),
        )
        campaign_of = await _campaign_rules(session, {c.rule.rule_id for c in awarding})
        # A campaign-only rule pays nothing (and uses no cap) outside its campaign's window and segment.
        awarding = [
            c
            for c in awarding
            if c.rule.rule_id not in campaign_of or book.matching(c.event, campaign_of[c.rule.rule_id]) is not None
        ]
        awarding = await fairness.once_per_lead(session, awarding, skips, now)
        earns = await _apply_caps(session, awarding, skips, now)
        earns = _apply_campaigns(book, campaign_of, {event.id: event for event in events}, earns, skips, now)
        if earns:
            await session.execute(insert(AWARDS), earns)
        reverse_rows = await _reversals(session, reversing) + await fairness.clawbacks(session, clawing)
        for row in reverse_rows:
            # What a campaign paid into the reversed award goes back to its budget (noted as negative points).
            if row["campaign_id"] is not None:
                row["campaign_points"] = -refund(book, row["campaign_id"], row["campaign_points"])
        await save_book(session, book)
        if reverse_rows:
            await session.execute(insert(AWARDS), reverse_rows)
        if skips:
            await session.execute(insert(SKIPS), skips)
        done = [event.id for event in events if event.id not in failed]
        await achievements.record_events(session, [event for event in events if event.id not in failed], now)
        # A return or invalid lead also takes back the badge progress and streaks its events brought.
        await take_back_progress(session, clawing, now)
        if done:
            await session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.id.in_(done))
                .values(processed_at=now, attempts=OutboxEvent.attempts + 1, last_error=None)
            )
        if failed:
            await session.execute(
                update(EVENTS)
                .where(EVENTS.c.id == bindparam("event_id"))
                .values(attempts=EVENTS.c.attempts + 1, last_error=bindparam("error")),
                [{"event_id": event_id, "error": error} for event_id, error in failed.items()],
            )
    return len(events)


def _evaluate_event(event: Any, rules: list[ActiveRule]) -> tuple[list[_Candidate], list[dict[str, Any]]]:
    if event.org_id is None:
        raise ValueError("the event names no partner org")
    if not isinstance(event.payload, dict):
        raise ValueError("the event has no variables")
    found: list[_Candidate] = []
    skipped: list[dict[str, Any]] = []
    repeat = fairness.is_repeat(event)
    for rule in rules:
        if not rule.valid_at(event.at):
            continue
        verdict = evaluate(rule, event.payload)
        reason = verdict.skipped or (fairness.REPEATED_STATUS if repeat and verdict.points else None)
        if reason:
            skipped.append(
                {"event_id": event.id, "rule_id": rule.rule_id, "rule_version": rule.version, "reason": reason}
            )
        elif verdict.points:
            found.append(_Candidate(event, rule, verdict.points))
    return found, skipped


def _decision(candidate: _Candidate, points: int) -> dict[str, Any]:
    event, rule = candidate.event, candidate.rule
    return {
        "key": award_key(rule.rule_id, event.id),
        "program_id": event.program_id,
        "rule_id": rule.rule_id,
        "rule_version": rule.version,
        "event_id": event.id,
        "event_type": event.event_type,
        "org_id": event.org_id,
        "user_id": (event.payload.get("actor") or {}).get("user_id"),
        "lead_id": event.lead_id,
        "kind": DecisionKind.EARN.value,
        "points": points,
        "reverses_key": None,
        "campaign_id": None,
        "campaign_points": 0,
        "at": event.at,
        "attempts": 0,
    }


async def _apply_caps(
    session: AsyncSession, candidates: list[_Candidate], skips: list[dict[str, Any]], now: dt.datetime
) -> list[dict[str, Any]]:
    """Decisions for `candidates`, capped: the award that would pass a cap pays the remainder, then nothing."""
    periods = {
        id(c): (c.rule.rule_id, c.event.org_id, period_start(c.event.at, c.rule.cap_per))
        for c in candidates
        if c.rule.cap_per
    }
    used: dict[tuple[int, int, dt.datetime], int] = {}
    if periods:
        keys = sorted(set(periods.values()))
        dialect_insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        await session.execute(
            dialect_insert(USAGE)
            .values([{"rule_id": r, "org_id": o, "period_start": p, "points": 0} for r, o, p in keys])
            .on_conflict_do_nothing()
        )
        # Locked in key order, so two processors on PostgreSQL cannot deadlock on the counters.
        rows = await session.execute(
            select(USAGE.c.rule_id, USAGE.c.org_id, USAGE.c.period_start, USAGE.c.points)
            .where(tuple_(USAGE.c.rule_id, USAGE.c.org_id, USAGE.c.period_start).in_(keys))
            .order_by(USAGE.c.rule_id, USAGE.c.org_id, USAGE.c.period_start)
            .with_for_update()
        )
        used = {(row.rule_id, row.org_id, row.period_start): row.points for row in rows}
    before = dict(used)
    decisions: list[dict[str, Any]] = []
    for candidate in candidates:
        points = candidate.points
        period = periods.get(id(candidate))
        if period is not None:
            room = max(0, cast(int, candidate.rule.cap_max_points) - used[period])
            points = min(points, room)
            used[period] += points
            if not points:
                skips.append(
                    {
                        "event_id": candidate.event.id,
                        "rule_id": candidate.rule.rule_id,
                        "rule_version": candidate.rule.version,
                        "reason": f"cap of {candidate.rule.cap_max_points} points per {candidate.rule.cap_per} reached",
                        "at": now,
                    }
                )
                continue
        decisions.append(_decision(candidate, points))
    changed = [{"r": r, "o": o, "p": p, "points": n} for (r, o, p), n in sorted(used.items()) if n != before[(r, o, p)]]
    if changed:
        await session.execute(
            update(USAGE)
            .where(USAGE.c.rule_id == bindparam("r"), USAGE.c.org_id == bindparam("o"))
            .where(USAGE.c.period_start == bindparam("p"))
            .values(points=bindparam("points")),
            changed,
        )
    return decisions


async def _campaign_rules(session: AsyncSession, rule_ids: set[int]) -> dict[int, int]:
    """rule id → campaign id for the campaign-only rules among `rule_ids` (their current versions)."""
    if not rule_ids:
        return {}
    rows = await session.scalars(
        current_versions().where(RuleVersion.rule_id.in_(sorted(rule_ids)), RuleVersion.campaign_id.is_not(None))
    )
    return {rule.rule_id: rule.campaign_id for rule in rows if rule.campaign_id is not None}


def _apply_campaigns(
    book: CampaignBook,
    campaign_of: dict[int, int],
    events: dict[int, Any],
    decisions: list[dict[str, Any]],
    skips: list[dict[str, Any]],
    now: dt.datetime,
) -> list[dict[str, Any]]:
    """Multipliers and campaign-only rules, paid from the campaign budgets in decision (event id) order."""
    kept: list[dict[str, Any]] = []
    for decision in decisions:
        points, extra, campaign_id = apply_campaign(
            book, events[decision["event_id"]], campaign_of.get(decision["rule_id"]), decision["points"]
        )
        if not points:
            skips.append(
                {
                    "event_id": decision["event_id"],
                    "rule_id": decision["rule_id"],
                    "rule_version": decision["rule_version"],
                    "reason": f"budget of campaign {campaign_id} spent",
                    "at": now,
                }
            )
            continue
        decision.update(points=points, campaign_id=campaign_id, campaign_points=extra)
        kept.append(decision)
    return kept


async def _waiting(session: AsyncSession, events: list[Any], batch: set[int]) -> set[int]:
    waiting: set[int] = set()
    for event in events:
        earlier = await session.scalar(
            select(OutboxEvent.id)
            .where(
                OutboxEvent.lead_id == event.lead_id,
                OutboxEvent.id < event.id,
                OutboxEvent.processed_at.is_(None),
                OutboxEvent.id.not_in(batch),
            )
            .limit(1)
        )
        if earlier is not None:
            waiting.add(event.id)
    return waiting


async def _campaigns_to_refund(session: AsyncSession, events: list[Any]) -> set[int]:
    """Campaigns that paid into awards of the leads these reversing events take back from (a superset)."""
    leads = sorted({event.lead_id for event in events if event.lead_id is not None})
    if not leads:
        return set()
    found = await session.scalars(
        select(RuleAward.campaign_id)
        .where(
            RuleAward.lead_id.in_(leads),
            RuleAward.kind == DecisionKind.EARN.value,
            RuleAward.campaign_points > 0,
        )
        .distinct()
    )
    return {campaign_id for campaign_id in found if campaign_id is not None}


async def _reversals(session: AsyncSession, candidates: list[_Candidate]) -> list[dict[str, Any]]:
    """For each matching reversal rule: take back what the lead's reservation paid this org, once."""
    rows: list[dict[str, Any]] = []
    taken: set[str] = set()
    reversal = aliased(RuleAward)
    for candidate in candidates:
        event = candidate.event
        earned = await session.execute(
            select(RuleAward.key, RuleAward.points, RuleAward.campaign_id, RuleAward.campaign_points, RuleAward.user_id)
            .where(
                RuleAward.lead_id == event.lead_id,
                RuleAward.org_id == event.org_id,
                RuleAward.event_type == "lead.reserved",
                RuleAward.kind == DecisionKind.EARN.value,
                RuleAward.event_id < event.id,
                ~exists().where(reversal.reverses_key == RuleAward.key),
            )
            .order_by(RuleAward.id)
        )
        for earn in earned:
            if earn.key in taken:
                continue
            taken.add(earn.key)
            row = _decision(candidate, earn.points)
            row.update(
                key=f"{row['key']}:reverses:{earn.key}",
                kind=DecisionKind.REVERSE.value,
                reverses_key=earn.key,
                user_id=earn.user_id,
                campaign_id=earn.campaign_id if earn.campaign_points > 0 else None,
                campaign_points=max(0, earn.campaign_points),
            )
            rows.append(row)
    return rows


async def process_events(db: Database, now: dt.datetime | None = None, *, limit: int = BATCH) -> int:
    """Decide and pay until nothing is left; returns the number of events taken."""
    now = now or utcnow()
    taken = 0
    while True:
        async with db.session() as session:
            count = await decide_batch(session, now, limit)
        taken += count
        after_id = 0
        while True:
            tried, after_id = await pay_decisions(db, now, limit, after_id)
            if tried < limit:
                break
        if count < limit:
            return taken
