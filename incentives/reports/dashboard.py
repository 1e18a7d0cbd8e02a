"""The manager dashboard's figures beyond the KPIs themselves: partner scorecards, the campaigns' return, the
points liability and the leads nobody took. Each takes a scope already checked (kpi_scopes.check_scope)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import ColumnElement, Select, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts.models import Membership, Org, User
from incentives.leads.models import Lead, LeadEvent, LeadStatus
from incentives.ledger import liability
from incentives.ledger.liability import Outstanding
from incentives.reports.kpi_scopes import KpiScope, orgs_in
from incentives.reports.kpis import Kpis, kpis_by_org, kpis_by_rep
from incentives.rewards.queries import eur_per_point
from incentives.rules.models import Campaign, DecisionKind, RuleAward

LIABILITY_MONTHS = (1, 3, 6, 12)


@dataclass(frozen=True)
class Scorecard:
    """One partner (or, in a reseller's scope, one rep) with its KPIs, points and overdue feedback."""

    id: int
    name: str
    tier: str | None
    kpis: Kpis
    points: int | None  # available points (partners only)
    earned: int | None  # points earned in their lifetime (partners only)
    overdue: int


async def scorecards(
    session: AsyncSession, program_id: int, scope: KpiScope, start: dt.datetime, end: dt.datetime, now: dt.datetime
) -> list[Scorecard]:
    """Every partner in the scope, or every rep when the scope is one reseller, by name."""
    if scope.kind in ("partner", "rep"):
        return await _rep_cards(session, program_id, scope, start, end, now)
    members = orgs_in(program_id, scope)
    rows = (
        await session.execute(
            select(Org.id, Org.name, Membership.tier)
            .join(Membership, Membership.org_id == Org.id)
            .where(Membership.program_id == program_id, Org.kind == "reseller", Org.id.in_(members))
            .order_by(Org.name, Org.id)
        )
    ).all()
    figures = await kpis_by_org(session, program_id, scope, start, end)
    points = await liability.balances(session, program_id, members)
    overdue = dict(
        (
            await session.execute(
                select(Lead.reserved_by_org_id, func.count())
                .where(*_overdue(program_id, now), Lead.reserved_by_org_id.in_(members))
                .group_by(Lead.reserved_by_org_id)
            )
        ).all()
    )
    return [
        Scorecard(
            id=org_id,
            name=name,
            tier=tier,
            kpis=figures.get(org_id, Kpis(offered=0, returned=0)),
            points=points[org_id].available if org_id in points else 0,
            earned=points[org_id].lifetime_earned if org_id in points else 0,
            overdue=int(overdue.get(org_id, 0)),
        )
        for org_id, name, tier in rows
    ]


def _overdue(program_id: int, now: dt.datetime) -> tuple[ColumnElement[bool], ...]:
    return (Lead.program_id == program_id, Lead.status == LeadStatus.RESERVED, Lead.feedback_due_at <= now)


async def _rep_cards(
    session: AsyncSession, program_id: int, scope: KpiScope, start: dt.datetime, end: dt.datetime, now: dt.datetime
) -> list[Scorecard]:
    if scope.kind == "rep":
        org_id = await session.scalar(select(User.org_id).where(User.id == scope.id))
        users = select(User.id, User.name).where(User.id == scope.id)
    else:
        org_id = scope.id
        users = select(User.id, User.name).where(User.org_id == org_id, User.program_id.is_(None))
    assert org_id is not None
    figures = await kpis_by_rep(session, program_id, org_id, start, end)
    overdue = dict(
        (
            await session.execute(
                select(Lead.reserved_by_user_id, func.count())
                .where(*_overdue(program_id, now), Lead.reserved_by_org_id == org_id)
                .group_by(Lead.reserved_by_user_id)
            )
        ).all()
    )
    rows = (await session.execute(users.order_by(User.name, User.id))).all()
    return [
        Scorecard(user_id, name, None, figures.get(user_id, Kpis(returned=0)), None, None, int(overdue.get(user_id, 0)))
        for user_id, name in rows
    ]


@dataclass(frozen=True)
class CampaignReturn:
    id: int
    name_de: str
    name_en: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    points: int  # campaign points paid to the scope's partners (less reversals)
    eur: Decimal | None  # those points at the MDF rate (None: no MDF reward names a rate)
    won_value: Decimal  # deal value the scope's partners won in the campaign's window and segment
    won: int

    def name(self, locale: str) -> str:
        return self.name_de if locale == "de" else self.name_en


async def campaign_returns(
    session: AsyncSession, program_id: int, scope: KpiScope, start: dt.datetime, end: dt.datetime
) -> list[CampaignReturn]:
    """The campaigns running at some time in [start, end): what they paid against what was won meanwhile.

    "Won in the segment" is a won lead closed in the window, of one of the campaign's product lines (any, if it
    names none) and reserved by a partner of one of its tiers (any, if it names none).
    """
    campaigns = list(
        await session.scalars(
            select(Campaign)
            .where(Campaign.program_id == program_id, Campaign.starts_at < end, Campaign.ends_at > start)
            .order_by(Campaign.starts_at, Campaign.id)
        )
    )
    rate = (await eur_per_point(session, program_id)).get("mdf")
    found = []
    for campaign in campaigns:
        signed = func.sum(
            case(
                (RuleAward.kind == DecisionKind.REVERSE.value, -RuleAward.campaign_points),
                else_=RuleAward.campaign_points,
            )
        )
        paid = select(func.coalesce(signed, 0)).where(RuleAward.campaign_id == campaign.id)
        won = select(func.count(), func.coalesce(func.sum(Lead.deal_value), 0)).where(
            Lead.program_id == program_id,
            Lead.status == LeadStatus.WON,
            Lead.closed_at >= campaign.starts_at,
            Lead.closed_at < campaign.ends_at,
        )
        if campaign.product_lines:
            won = won.where(Lead.product_line.in_(campaign.product_lines))
        if campaign.tiers:
            tiered = select(Membership.org_id).where(
                Membership.program_id == program_id, Membership.tier.in_(campaign.tiers)
            )
            won = won.where(Lead.reserved_by_org_id.in_(tiered))
        if scope.kind == "rep":
            paid = paid.where(RuleAward.user_id == scope.id)
            won = won.where(Lead.reserved_by_user_id == scope.id)
        elif scope.of_partners:
            paid = paid.where(RuleAward.org_id.in_(orgs_in(program_id, scope)))
            won = won.where(Lead.reserved_by_org_id.in_(orgs_in(program_id, scope)))
        points = int(await session.scalar(paid) or 0)
        count, value = (await session.execute(won)).one()
        found.append(
            CampaignReturn(
                id=campaign.id,
                name_de=campaign.name_de,
                name_en=campaign.name_en,
                starts_at=campaign.starts_at,
                ends_at=campaign.ends_at,
                points=points,
                eur=None if rate is None else (rate * points).quantize(Decimal("0.01")),
                won_value=Decimal(str(value)).quantize(Decimal("0.01")),
                won=int(count),
            )
        )
    return found


@dataclass(frozen=True)
class Liability:
    outstanding: Outstanding
    eur_per_point: dict[str, Decimal]  # reward kind → EUR per point

    def eur(self, kind: str) -> Decimal | None:
        """The outstanding points' worth if all were redeemed for rewards of `kind`."""
        rate = self.eur_per_point.get(kind)
        return None if rate is None else (rate * self.outstanding.points).quantize(Decimal("0.01"))


def _months_ahead(now: dt.datetime, months: int) -> dt.datetime:
    month = now.month - 1 + months
    year = now.year + month // 12
    day = min(now.day, 28)
    return now.replace(year=year, month=month % 12 + 1, day=day)


async def points_liability(session: AsyncSession, program_id: int, scope: KpiScope, now: dt.datetime) -> Liability:
    """Outstanding points of the scope's partners, their EUR worth per reward kind, and what expires when."""
    org_ids: Select[int] | None = None
    if scope.of_partners:
        org_ids = orgs_in(program_id, scope)
    elif scope.kind == "rep":
        org_ids = select(User.org_id).where(User.id == scope.id)
    boundaries = [_months_ahead(now, months) for months in LIABILITY_MONTHS]
    found = await liability.outstanding(session, program_id, boundaries, org_ids)
    return Liability(found, await eur_per_point(session, program_id))


@dataclass(frozen=True)
class UnclaimedGroup:
    country: str
    region: str  # the postal code's first two digits ("" when the lead has none)
    product_line: str
    leads: int


async def unclaimed_leads(
    session: AsyncSession, program_id: int, start: dt.datetime, end: dt.datetime
) -> list[UnclaimedGroup]:
    """Leads that went unclaimed in [start, end), by country, postal region and product line, most first."""
    region = func.coalesce(func.substr(Lead.postal_code, 1, 2), "")
    went = select(LeadEvent.lead_id).where(
        LeadEvent.program_id == program_id, LeadEvent.kind == "unclaimed", LeadEvent.at >= start, LeadEvent.at < end
    )
    rows = await session.execute(
        select(Lead.country, region.label("region"), Lead.product_line, func.count(func.distinct(Lead.id)).label("n"))
        .where(Lead.id.in_(went))
        .group_by(Lead.country, region, Lead.product_line)
        .order_by(func.count(func.distinct(Lead.id)).desc(), Lead.country, region, Lead.product_line)
    )
    return [UnclaimedGroup(row.country, row.region, row.product_line, int(row.n)) for row in rows.all()]


async def distributors(session: AsyncSession, program_id: int) -> list[tuple[int, str]]:
    """(org id, name) of the program's distributors, by name."""
    rows = await session.execute(
        select(Org.id, Org.name)
        .join(Membership, Membership.org_id == Org.id)
        .where(Membership.program_id == program_id, Org.kind == "distributor")
        .order_by(Org.name, Org.id)
    )
    return [(org_id, name) for org_id, name in rows.all()]


async def scope_title(session: AsyncSession, scope: KpiScope) -> str | None:
    """The name of the org or rep a scope names (None for the program, a tier or a region)."""
    if scope.kind in ("partner", "distributor"):
        return await session.scalar(select(Org.name).where(Org.id == scope.id))
    if scope.kind == "rep":
        return await session.scalar(select(User.name).where(User.id == scope.id))
    return None
