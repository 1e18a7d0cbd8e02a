"""Campaigns: create and list them, and apply their multipliers and budgets while processing decides awards.

The budget pays what a campaign adds: the extra points of its multiplier on ordinary rules, and all the
points of its campaign-only rules. The base award of an ordinary rule is paid whatever the budget says.
An award that would pass the budget gets the remainder, later ones nothing (a skip records why).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Table, and_, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from incentives import live
from incentives.accounts.models import Membership
from incentives.accounts.scope import Principal
from incentives.errors import N_, FieldError, NotFound, ValidationFailed
from incentives.rules.models import Campaign, RuleAward, RuleVersion
from incentives.rules.services import ensure_manager, ensure_manages_found

MAX_MULTIPLIER = 10.0
MAX_BUDGET = 1_000_000_000
CAMPAIGNS: Table = Campaign.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Segment:
    """Who a campaign targets; an empty list means everybody on that dimension."""

    tiers: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    product_lines: tuple[str, ...] = ()

    def overlaps(self, other: Segment) -> bool:
        """Could one event fall into both segments? Only if every dimension can match in both."""
        return (
            _sets_overlap(self.tiers, other.tiers)
            and _regions_overlap(self.regions, other.regions)
            and _sets_overlap(self.product_lines, other.product_lines)
        )

    def holds(self, tier: str | None, partner_regions: Iterable[str], product_line: str | None) -> bool:
        if self.tiers and tier not in self.tiers:
            return False
        if self.product_lines and product_line not in self.product_lines:
            return False
        return not self.regions or any(_covers(region, mine) for region in self.regions for mine in partner_regions)


def _sets_overlap(a: Sequence[str], b: Sequence[str]) -> bool:
    return not a or not b or bool(set(a) & set(b))


def _covers(region: str, partner_region: str) -> bool:
    """DE covers DE and DE-80; DE-8 covers DE-80; DE-80 does not cover all of DE."""
    return partner_region == region or partner_region.startswith(region if "-" in region else region + "-")


def _regions_overlap(a: Sequence[str], b: Sequence[str]) -> bool:
    return not a or not b or any(_covers(x, y) or _covers(y, x) for x in a for y in b)


@dataclass(frozen=True)
class CampaignInput:
    program_id: int
    name_de: str
    name_en: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    segment: Segment = Segment()
    multiplier: float = 1.0
    budget_points: int | None = None


def segment_of(campaign: Campaign) -> Segment:
    return Segment(tuple(campaign.tiers), tuple(campaign.regions), tuple(campaign.product_lines))


def check_campaign(data: CampaignInput) -> None:
    errors: list[FieldError] = []
    if data.ends_at <= data.starts_at:
        errors.append(FieldError(("ends_at",), N_("Must be later than the start.")))
    if not 1.0 <= data.multiplier <= MAX_MULTIPLIER or not math.isfinite(data.multiplier):
        errors.append(FieldError(("multiplier",), N_("Must be between %(ge)s and %(le)s."), ge=1, le=10))
    if data.budget_points is not None and not 0 < data.budget_points <= MAX_BUDGET:
        errors.append(FieldError(("budget_points",), N_("Must be at least %(ge)s."), ge=1))
    if errors:
        raise ValidationFailed(errors)


async def _refuse_overlap(session: AsyncSession, data: CampaignInput, editing: int | None = None) -> None:
    """Campaigns whose windows and segments overlap in one program are refused (`editing` is not compared
    with itself). Two managers saving clashing campaigns at once: PostgreSQL takes turns on the program's
    campaigns here, SQLite serializes writers anyway. An empty program has nothing to lock."""
    existing = await session.scalars(
        select(Campaign)
        .where(
            Campaign.program_id == data.program_id,
            Campaign.starts_at < data.ends_at,
            Campaign.ends_at > data.starts_at,
        )
        .order_by(Campaign.id)
        .with_for_update()
    )
    for other in existing:
        if other.id != editing and segment_of(other).overlaps(data.segment):
            raise ValidationFailed(
                [
                    FieldError(
                        ("starts_at",),
                        N_(
                            "Overlaps the campaign “%(name)s” in time and segment; "
                            "change the window or narrow the segment."
                        ),
                        name=other.name_en,
                    )
                ]
            )


def _fill(campaign: Campaign, data: CampaignInput) -> None:
    campaign.name_de = data.name_de
    campaign.name_en = data.name_en
    campaign.starts_at = data.starts_at
    campaign.ends_at = data.ends_at
    campaign.tiers = list(data.segment.tiers)
    campaign.regions = list(data.segment.regions)
    campaign.product_lines = list(data.segment.product_lines)
    campaign.multiplier = data.multiplier
    campaign.budget_points = data.budget_points


async def create_campaign(session: AsyncSession, principal: Principal, data: CampaignInput) -> Campaign:
    """Check, then insert; campaigns whose windows and segments overlap in one program are refused."""
    ensure_manager(principal, data.program_id)
    check_campaign(data)
    await _refuse_overlap(session, data)
    campaign = Campaign(program_id=data.program_id, spent_points=0, created_by_id=principal.user_id)
    _fill(campaign, data)
    session.add(campaign)
    await session.flush()
    live.pick_lists_changed(session, data.program_id)
    return campaign


async def _locked(session: AsyncSession, principal: Principal, campaign_id: int) -> Campaign:
    """The campaign, locked against processing spending its budget meanwhile; 404 outside the caller's program."""
    campaign = await session.scalar(select(Campaign).where(Campaign.id == campaign_id).with_for_update())
    if campaign is None:
        raise NotFound()
    ensure_manages_found(principal, campaign.program_id)
    return campaign


async def update_campaign(
    session: AsyncSession,
    principal: Principal,
    campaign_id: int,
    data: CampaignInput | Callable[[Campaign], CampaignInput],
) -> Progress:
    """Edit a campaign with every check of creating one, and a budget no smaller than what it has spent.

    `data` may be a function of the locked campaign (a partial edit merges onto what is stored, not onto
    what was read before). What it paid stays paid; the new window, segment and multiplier apply to events
    processed from now on."""
    campaign = await _locked(session, principal, campaign_id)
    live.pick_lists_changed(session, campaign.program_id)
    if callable(data):
        data = data(campaign)
    check_campaign(data)
    if data.program_id != campaign.program_id:
        raise ValidationFailed([FieldError(("program_id",), N_("A campaign cannot move to another program."))])
    if data.budget_points is not None and data.budget_points < campaign.spent_points:
        raise ValidationFailed(
            [FieldError(("budget_points",), N_("Must be at least %(ge)s."), ge=campaign.spent_points)]
        )
    await _refuse_overlap(session, data, editing=campaign.id)
    _fill(campaign, data)
    await session.flush()
    return (await progress(session, [campaign]))[0]


class Removal(StrEnum):
    DELETED = "deleted"  # nothing was paid: the campaign is gone
    ENDED = "ended"  # it paid already: it ends now (or had ended), and what it paid stays


async def remove_campaign(
    session: AsyncSession, principal: Principal, campaign_id: int, now: dt.datetime
) -> tuple[Removal, Campaign]:
    """Delete a campaign that paid nothing; end one that did (its awards and spent budget must stay explainable).

    A campaign that campaign-only rules still name is not deleted either: it ends, so those rules stop paying."""
    campaign = await _locked(session, principal, campaign_id)
    live.pick_lists_changed(session, campaign.program_id)
    paid = await session.scalar(select(RuleAward.id).where(RuleAward.campaign_id == campaign.id).limit(1))
    named = await session.scalar(select(RuleVersion.id).where(RuleVersion.campaign_id == campaign.id).limit(1))
    if paid is None and named is None and campaign.spent_points == 0:
        await session.delete(campaign)
        return Removal.DELETED, campaign
    if campaign.ends_at > now:
        # A campaign that has not started yet ends at its start: it never runs.
        campaign.ends_at = max(now, campaign.starts_at + dt.timedelta(seconds=1))
    await session.flush()
    return Removal.ENDED, campaign


@dataclass(frozen=True)
class Progress:
    campaign: Campaign
    spent: int
    remaining: int | None  # None: no budget
    participants: int  # orgs that earned campaign points


async def progress(session: AsyncSession, campaigns: Sequence[Campaign]) -> list[Progress]:
    ids = [c.id for c in campaigns]
    counts: dict[int, int] = {}
    if ids:
        rows = await session.execute(
            select(RuleAward.campaign_id, func.count(func.distinct(RuleAward.org_id)))
            .where(RuleAward.campaign_id.in_(ids), RuleAward.campaign_points > 0)
            .group_by(RuleAward.campaign_id)
        )
        counts = {cid: int(n) for cid, n in rows.all() if cid is not None}
    return [
        Progress(
            c,
            c.spent_points,
            None if c.budget_points is None else c.budget_points - c.spent_points,
            counts.get(c.id, 0),
        )
        for c in campaigns
    ]


async def list_campaigns(session: AsyncSession, principal: Principal, program_id: int) -> list[Progress]:
    ensure_manager(principal, program_id)
    rows = await session.scalars(
        select(Campaign).where(Campaign.program_id == program_id).order_by(Campaign.starts_at.desc(), Campaign.id)
    )
    return await progress(session, list(rows))


async def get_campaign(session: AsyncSession, principal: Principal, campaign_id: int) -> Progress:
    campaign = await session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound()
    ensure_manages_found(principal, campaign.program_id)
    return (await progress(session, [campaign]))[0]


# --- processing -----------------------------------------------------------------------------------------


@dataclass
class _Running:
    id: int
    program_id: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    segment: Segment
    multiplier: float
    budget: int | None
    spent: int

    def room(self) -> int | None:
        return None if self.budget is None else max(0, self.budget - self.spent)


@dataclass
class CampaignBook:
    """The campaigns a batch of events may touch, locked, with their budget counters in memory."""

    by_program: dict[int, list[_Running]]
    regions: dict[tuple[int, int], tuple[str, ...]]
    by_id: dict[int, _Running]
    before: dict[int, int]

    def matching(self, event: Any, campaign_id: int | None = None) -> _Running | None:
        """The campaign whose window and segment hold the event (the rule's own one, if it names one)."""
        for running in self.by_program.get(event.program_id, []):
            if campaign_id is not None and running.id != campaign_id:
                continue
            if not running.starts_at <= event.at < running.ends_at:
                continue
            payload = event.payload if isinstance(event.payload, Mapping) else {}
            partner = payload.get("partner") or {}
            lead = payload.get("lead") or {}
            regions = self.regions.get((event.program_id, event.org_id), ())
            if partner.get("country"):
                regions = (*regions, str(partner["country"]))
            if running.segment.holds(partner.get("tier"), regions, lead.get("product_line")):
                return running
        return None


async def load_book(session: AsyncSession, events: Sequence[Any], refunding: Iterable[int] = ()) -> CampaignBook:
    """Lock (PostgreSQL; SQLite writers take turns already) the campaigns running during the batch, and those
    that may get budget back (`refunding`), in one query in id order, so two processors cannot deadlock."""
    book = CampaignBook({}, {}, {}, {})
    if not events:
        return book
    programs = sorted({e.program_id for e in events})
    first, last = min(e.at for e in events), max(e.at for e in events)
    rows = await session.scalars(
        select(Campaign)
        .where(
            Campaign.program_id.in_(programs),
            or_(and_(Campaign.starts_at <= last, Campaign.ends_at > first), Campaign.id.in_(sorted(set(refunding)))),
        )
        .order_by(Campaign.id)
        .with_for_update()
    )
    for c in rows:
        running = _Running(
            c.id, c.program_id, c.starts_at, c.ends_at, segment_of(c), c.multiplier, c.budget_points, c.spent_points
        )
        book.by_program.setdefault(c.program_id, []).append(running)
        book.by_id[c.id] = running
        book.before[c.id] = c.spent_points
    if any(r.segment.regions for r in book.by_id.values()):
        orgs = sorted({e.org_id for e in events if e.org_id is not None})
        found = await session.execute(
            select(Membership.program_id, Membership.org_id, Membership.regions).where(
                Membership.program_id.in_(programs), Membership.org_id.in_(orgs)
            )
        )
        book.regions = {(p, o): tuple(r or ()) for p, o, r in found.all()}
    return book


async def preview_book(
    session: AsyncSession, program_id: int, start: dt.datetime, end: dt.datetime, *, spent: bool = False
) -> CampaignBook:
    """The program's campaigns overlapping [start, end), read only: for a simulation each with its whole budget,
    as if the simulated rule alone drew on it; with `spent`, with what is left of it (a points preview)."""
    book = CampaignBook({}, {}, {}, {})
    rows = await session.scalars(
        select(Campaign)
        .where(Campaign.program_id == program_id, Campaign.starts_at < end, Campaign.ends_at > start)
        .order_by(Campaign.id)
    )
    for c in rows:
        used = c.spent_points if spent else 0
        running = _Running(
            c.id, c.program_id, c.starts_at, c.ends_at, segment_of(c), c.multiplier, c.budget_points, used
        )
        book.by_program.setdefault(c.program_id, []).append(running)
        book.by_id[c.id] = running
        book.before[c.id] = used
    if any(r.segment.regions for r in book.by_id.values()):
        found = await session.execute(
            select(Membership.program_id, Membership.org_id, Membership.regions).where(
                Membership.program_id == program_id
            )
        )
        book.regions = {(p, o): tuple(r or ()) for p, o, r in found.all()}
    return book


def apply_campaign(book: CampaignBook, event: Any, campaign_id: int | None, points: int) -> tuple[int, int, int | None]:
    """(points to pay, of which campaign points, campaign id) for one capped award.

    A campaign-only rule (`campaign_id` set) pays from the budget entirely; an ordinary rule gets the
    multiplier's extra points from the budget of the campaign holding the event, if any.
    """
    if campaign_id is not None:
        running = book.by_id.get(campaign_id)
        if running is None or book.matching(event, campaign_id) is None:
            return 0, 0, campaign_id
        room = running.room()
        paid = points if room is None else min(points, room)
        running.spent += paid
        return paid, paid, running.id
    running = book.matching(event)
    if running is None or running.multiplier <= 1.0:
        return points, 0, None
    extra = math.floor(points * running.multiplier + 1e-9) - points
    room = running.room()
    if room is not None:
        extra = min(extra, room)
    running.spent += extra
    return points + extra, extra, running.id


def refund(book: CampaignBook, campaign_id: int, points: int) -> int:
    """Give a reversed award's campaign points back to its campaign's budget; returns what went back.

    Never more than the counter holds, so the counter stays ≥ 0 whatever happened before."""
    running = book.by_id[campaign_id]
    back = min(points, running.spent)
    running.spent -= back
    return back


async def save_book(session: AsyncSession, book: CampaignBook) -> None:
    changed = [{"cid": cid, "spent": r.spent} for cid, r in sorted(book.by_id.items()) if r.spent != book.before[cid]]
    if changed:
        await session.execute(
            update(CAMPAIGNS).where(CAMPAIGNS.c.id == bindparam("cid")).values(spent_points=bindparam("spent")),
            changed,
        )
