"""What an action would earn now ("+30 when you reserve"): the program's active rules evaluated against the
event the action would publish, with the caps, campaign multipliers and budgets the processor applies.

Read only: nothing is decided or reserved, and a preview never uses another's cap room or budget. It is what
the processor would pay if the event were processed at once; a cap or budget used up meanwhile pays less.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.errors import InvalidState
from incentives.leads import events, progress
from incentives.leads import queries as lead_queries
from incentives.leads.models import FeedbackStatus, Lead
from incentives.rules.campaigns import CampaignBook, apply_campaign, preview_book
from incentives.rules.evaluation import ActiveRule, evaluate, period_start
from incentives.rules.models import Effect, RuleCapUsage, RuleVersion
from incentives.rules.processor import active_rules
from incentives.rules.queries import current_versions

# What feedback of each status publishes besides `lead.feedback`.
FINAL_EVENTS = {FeedbackStatus.WON.value: "lead.won", FeedbackStatus.LOST.value: "lead.lost"}


@dataclass(frozen=True)
class _Event:
    """An event that has not happened, shaped as the processor reads an outbox row."""

    program_id: int
    org_id: int
    event_type: str
    at: dt.datetime
    payload: dict[str, Any]


@dataclass
class _Rules:
    """Everything one program's preview needs, read once for many leads."""

    by_event: dict[tuple[int, str], list[ActiveRule]]
    campaign_of: dict[int, int]
    book: CampaignBook
    used: dict[tuple[int, dt.datetime], int]


async def _load(session: AsyncSession, program_id: int, org_id: int, types: Iterable[str], now: dt.datetime) -> _Rules:
    by_event = await active_rules(session, {(program_id, event_type) for event_type in types})
    rules = [rule for found in by_event.values() for rule in found]
    campaign_of: dict[int, int] = {}
    if rules:
        named = await session.execute(
            current_versions()
            .with_only_columns(RuleVersion.rule_id, RuleVersion.campaign_id)
            .where(RuleVersion.rule_id.in_(sorted({rule.rule_id for rule in rules})))
        )
        campaign_of = {rule_id: campaign_id for rule_id, campaign_id in named.all() if campaign_id is not None}
    capped = sorted({(rule.rule_id, period_start(now, rule.cap_per)) for rule in rules if rule.cap_per})
    used: dict[tuple[int, dt.datetime], int] = {}
    if capped:
        counters = await session.execute(
            select(RuleCapUsage.rule_id, RuleCapUsage.period_start, RuleCapUsage.points).where(
                RuleCapUsage.org_id == org_id,
                tuple_(RuleCapUsage.rule_id, RuleCapUsage.period_start).in_(capped),
            )
        )
        used = {(rule_id, start): points for rule_id, start, points in counters.all()}
    book = await preview_book(session, program_id, now, now + dt.timedelta(seconds=1), spent=True)
    return _Rules(by_event, campaign_of, book, used)


def _points(event: _Event, rules: _Rules) -> int:
    """What the processor would pay for `event`: each award rule's points, capped, then the campaign's share."""
    book = rules.book
    copied = not book.by_id  # a book without campaigns has no budget to spend: nothing to copy
    total = 0
    for rule in rules.by_event.get((event.program_id, event.event_type), []):
        if rule.effect != Effect.AWARD or not rule.valid_at(event.at):
            continue
        campaign_id = rules.campaign_of.get(rule.rule_id)
        if campaign_id is not None and book.matching(event, campaign_id) is None:
            continue
        points = evaluate(rule, event.payload).points
        if points and rule.cap_per and rule.cap_max_points is not None:
            room = rule.cap_max_points - rules.used.get((rule.rule_id, period_start(event.at, rule.cap_per)), 0)
            points = min(points, max(0, room))
        if points:
            if not copied:  # one preview must not spend another's budget: copy on the first spend
                book, copied = copy.deepcopy(rules.book), True
            total += apply_campaign(book, event, campaign_id, points)[0]
    return total


async def reserve_preview(session: AsyncSession, org_id: int, lead_ids: list[int], now: dt.datetime) -> dict[int, int]:
    """Points reserving each lead offered to the org would earn now (leads not offered to it are left out)."""
    offered = await lead_queries.open_offers(session, org_id, lead_ids)
    found: dict[int, int] = {}
    for program_id in sorted({lead.program_id for lead, _ in offered}):
        rules = await _load(session, program_id, org_id, ["lead.reserved"], now)
        membership, org = await events.partner_of(session, program_id, org_id)
        for lead, offered_at in offered:
            if lead.program_id != program_id:
                continue
            payload = events.variables(
                lead, membership, org, now, reservation=events.reservation_variables(offered_at, now)
            )
            found[lead.id] = _points(_Event(program_id, org_id, "lead.reserved", now, payload), rules)
    return found


def _moves_forward(lead: Lead, status: str) -> bool:
    try:
        return progress.is_new_status(lead.last_feedback, status)
    except InvalidState:
        return False


async def feedback_preview(
    session: AsyncSession, org_id: int, leads: list[Lead], now: dt.datetime
) -> dict[int, dict[str, int]]:
    """For each of the org's reserved `leads`: the points each feedback status would earn now. A won lead is
    previewed with its estimated value as the deal value, a lost one without a reason."""
    found: dict[int, dict[str, int]] = {}
    for program_id in sorted({lead.program_id for lead in leads}):
        rules = await _load(session, program_id, org_id, ["lead.feedback", *FINAL_EVENTS.values()], now)
        membership, org = await events.partner_of(session, program_id, org_id)
        for lead in leads:
            if lead.program_id != program_id:
                continue
            by_status: dict[str, int] = {}
            for status in FeedbackStatus:
                if not _moves_forward(lead, status.value):  # a repeat or a step back pays nothing
                    by_status[status.value] = 0
                    continue
                feedback = events.feedback_variables(lead, status.value, now)
                payload = events.variables(lead, membership, org, now, feedback=feedback)
                points = _points(_Event(program_id, org_id, "lead.feedback", now, payload), rules)
                final = FINAL_EVENTS.get(status.value)
                if final == "lead.won":
                    deal = events.deal_variables(lead, float(lead.estimated_value or 0), now)
                    won = events.variables(lead, membership, org, now, deal=deal)
                    points += _points(_Event(program_id, org_id, final, now, won), rules)
                elif final == "lead.lost":
                    lost = events.variables(lead, membership, org, now, lost={"reason": ""})
                    points += _points(_Event(program_id, org_id, final, now, lost), rules)
                by_status[status.value] = points
            found[lead.id] = by_status
    return found
