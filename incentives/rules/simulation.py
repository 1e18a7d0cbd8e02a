"""What a rule (saved or draft) would have paid over a period, against recorded events; changes nothing."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.leads.models import OutboxEvent
from incentives.rules.campaigns import apply_campaign, preview_book
from incentives.rules.evaluation import ActiveRule, evaluate, period_start
from incentives.rules.models import Effect

CHUNK = 2000


@dataclass(frozen=True)
class Simulation:
    events: int  # events of the rule's type in the period
    awards: int  # (event, rule) pairs that would pay (or, for a reversal rule, take back)
    points: int
    by_org: dict[int, int]
    skipped: int
    campaign_points: int = 0  # of `points`, what campaign multipliers (or a campaign-only rule) added


async def simulate(
    session: AsyncSession, rule: ActiveRule, start: dt.datetime, end: dt.datetime, campaign_id: int | None = None
) -> Simulation:
    """Run `rule` alone over the program's events in [start, end), in id order, with its cap and the campaigns
    active at each event's time as processing does (`campaign_id`: a campaign-only rule's campaign).

    The rule starts with empty caps and full campaign budgets, as a new rule would. A reversal rule counts
    its matches; what it takes back depends on other rules' awards, so its points are 0 here.
    """
    book = await preview_book(session, rule.program_id, start, end)
    query = (
        select(OutboxEvent.id, OutboxEvent.program_id, OutboxEvent.org_id, OutboxEvent.at, OutboxEvent.payload)
        .where(
            OutboxEvent.program_id == rule.program_id,
            OutboxEvent.event_type == rule.event,
            OutboxEvent.at >= start,
            OutboxEvent.at < end,
            OutboxEvent.org_id.is_not(None),
        )
        .order_by(OutboxEvent.id)
    )
    events = awards = points = skipped = extra_points = 0
    by_org: dict[int, int] = defaultdict(int)
    used: dict[tuple[int, dt.datetime], int] = defaultdict(int)
    stream = await session.stream(query.execution_options(yield_per=CHUNK))
    # Whole partitions, not rows: one await per row would cost more than evaluating the rule.
    async for partition in stream.partitions(CHUNK):
        for row in partition:
            events += 1
            if not rule.valid_at(row.at):
                continue
            verdict = evaluate(rule, row.payload)
            if verdict.skipped:
                skipped += 1
                continue
            if not verdict.points:
                continue
            if rule.effect == Effect.REVERSE:
                awards += 1
                continue
            if campaign_id is not None and book.matching(row, campaign_id) is None:
                continue  # a campaign-only rule pays nothing (and uses no cap) outside its campaign
            paid = verdict.points
            if rule.cap_per and rule.cap_max_points:
                period = (row.org_id, period_start(row.at, rule.cap_per))
                paid = min(paid, max(0, rule.cap_max_points - used[period]))
                used[period] += paid
            if not paid:
                continue
            paid, extra, _ = apply_campaign(book, row, campaign_id, paid)
            if paid:
                awards += 1
                points += paid
                extra_points += extra
                by_org[row.org_id] += paid
    return Simulation(events, awards, points, dict(sorted(by_org.items())), skipped, extra_points)
