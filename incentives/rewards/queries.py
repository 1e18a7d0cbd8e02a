"""Read models for the rewards and points pages: a partner's programs, its wallet and history, redemptions
and their MDF allocations, the approvals queue, catalog items, and the audit list of manual point adjustments."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Select, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts import queries as accounts_queries
from incentives.accounts.models import Membership, Org, Program
from incentives.accounts.scope import Principal, visible_memberships, visible_programs
from incentives.errors import NotFound
from incentives.ledger import queries as ledger_queries
from incentives.rewards.catalog import has_redemptions
from incentives.rewards.models import MdfAllocation, Redemption, RedemptionStatus, Reward
from incentives.rewards.scope import visible_redemptions, visible_rewards

# History filters: which transfer kinds each shows. A redemption is one business event: the hold (or the
# direct redeem) stands for it, its post or void only changes the status that row shows.
HISTORY_FILTERS: dict[str, frozenset[str] | None] = {
    "all": None,
    "earned": frozenset({"earn", "adjust", "reverse"}),
    "redeemed": frozenset({"hold", "redeem"}),
    "expired": frozenset({"expire"}),
}
RESOLUTIONS = frozenset({"post", "void"})
# A filtered history page scans at most this many transfers; the cursor continues from there.
SCAN_PAGES = 10
SCAN_PAGE = 100


@dataclass(frozen=True)
class ProgramRef:
    id: int
    name: str


@dataclass(frozen=True)
class Line:
    """One business event in a partner's history: an award, an adjustment, an expiry or a whole redemption."""

    id: int
    kind: str
    points: int
    at: dt.datetime
    rule_id: int | None
    rule_version: int | None
    lead_id: int | None
    redemption_id: int | None
    reward_name: dict[str, str] | None
    reason: str | None
    # A redemption's current status and the points it asked for (returned again when rejected or cancelled).
    status: str | None = None
    asked: int | None = None


@dataclass(frozen=True)
class Wallet:
    balance: ledger_queries.Balance
    expiring: list[ledger_queries.Expiring]


async def programs_of(session: AsyncSession, principal: Principal) -> list[ProgramRef]:
    """Programs the principal sees: its own (program roles) or those of its org's memberships."""
    if principal.acts_for_program:
        statement = select(Program.id, Program.name).where(visible_programs(principal))
    else:
        statement = (
            select(Program.id, Program.name)
            .join(Membership, Membership.program_id == Program.id)
            .where(Membership.org_id == principal.org_id, visible_programs(principal))
        )
    rows = (await session.execute(statement.order_by(Program.id))).all()
    return [ProgramRef(row.id, row.name) for row in rows]


async def wallet(session: AsyncSession, program_id: int, org_id: int, now: dt.datetime | None = None) -> Wallet:
    return Wallet(
        await ledger_queries.balance(session, program_id, org_id),
        await ledger_queries.expiring(session, program_id, org_id, now=now),
    )


async def history(
    session: AsyncSession,
    program_id: int,
    org_id: int,
    *,
    kind: str = "all",
    limit: int = 50,
    before: int | None = None,
) -> tuple[list[Line], int | None]:
    """One page of the partner's business events, newest first, each redemption once with its current status.

    Reads the ledger's public history and leaves out what is bookkeeping for the reader: the post or void
    that resolves a hold is shown as the status of the redemption row, not as a row of its own.
    """
    kinds = HISTORY_FILTERS.get(kind)
    entries: list[ledger_queries.Entry] = []
    next_cursor = before
    for _ in range(SCAN_PAGES):
        page, next_cursor = await ledger_queries.history(
            session, program_id, org_id, limit=SCAN_PAGE if kinds else limit, before=next_cursor
        )
        for entry in page:
            if entry.transfer.kind in RESOLUTIONS or (kinds is not None and entry.transfer.kind not in kinds):
                continue
            if len(entries) < limit:
                entries.append(entry)
                if len(entries) == limit:
                    next_cursor = entry.transfer.id
        if next_cursor is None or len(entries) >= limit:
            break
    redemption_ids = {e.transfer.redemption_id for e in entries if e.transfer.redemption_id is not None}
    redemptions: dict[int, tuple[dict[str, str], str, int]] = {}
    if redemption_ids:
        rows = await session.execute(
            select(Redemption.id, Redemption.status, Redemption.points, Reward.name_de, Reward.name_en)
            .join(Reward, Reward.id == Redemption.reward_id)
            .where(Redemption.id.in_(redemption_ids))
        )
        redemptions = {row.id: ({"de": row.name_de, "en": row.name_en}, row.status, row.points) for row in rows}
    return [_line(e, redemptions) for e in entries], next_cursor


def _line(entry: ledger_queries.Entry, redemptions: dict[int, tuple[dict[str, str], str, int]]) -> Line:
    transfer = entry.transfer
    found = redemptions.get(transfer.redemption_id) if transfer.redemption_id is not None else None
    points = entry.points
    if found is not None and found[1] in (RedemptionStatus.REJECTED, RedemptionStatus.CANCELLED):
        points = 0  # the hold was voided: the event cost nothing in the end
    return Line(
        id=transfer.id,
        kind="redeem" if found is not None else transfer.kind,
        points=points,
        at=transfer.at,
        rule_id=transfer.rule_id,
        rule_version=transfer.rule_version,
        lead_id=transfer.lead_id,
        redemption_id=transfer.redemption_id,
        reward_name=found[0] if found else None,
        reason=transfer.reason,
        status=found[1] if found else None,
        asked=found[2] if found else None,
    )


async def get_redemption(session: AsyncSession, principal: Principal, redemption_id: int) -> Redemption:
    found = await session.scalar(
        select(Redemption).where(Redemption.id == redemption_id, visible_redemptions(principal))
    )
    if found is None:
        raise NotFound()
    return found


def redemptions_query(
    principal: Principal,
    *,
    status: str | None = None,
    program_id: int | None = None,
    org_id: int | None = None,
) -> Select[Redemption, Reward]:
    statement = (
        select(Redemption, Reward)
        .join(Reward, Reward.id == Redemption.reward_id)
        .where(visible_redemptions(principal))
        .order_by(Redemption.id.desc())
    )
    if status is not None:
        statement = statement.where(Redemption.status == status)
    if program_id is not None:
        statement = statement.where(Redemption.program_id == program_id)
    if org_id is not None:
        statement = statement.where(Redemption.org_id == org_id)
    return statement


async def list_redemptions(
    session: AsyncSession,
    principal: Principal,
    *,
    status: str | None = None,
    program_id: int | None = None,
    org_id: int | None = None,
    limit: int = 50,
    before: int | None = None,
) -> tuple[list[tuple[Redemption, Reward]], int | None]:
    statement = redemptions_query(principal, status=status, program_id=program_id, org_id=org_id)
    if before is not None:
        statement = statement.where(Redemption.id < before)
    rows = [(row[0], row[1]) for row in (await session.execute(statement.limit(limit + 1))).all()]
    next_cursor = rows[limit - 1][0].id if len(rows) > limit else None
    return rows[:limit], next_cursor


async def allocation_of(session: AsyncSession, redemption_id: int) -> MdfAllocation | None:
    found: MdfAllocation | None = await session.scalar(
        select(MdfAllocation).where(MdfAllocation.redemption_id == redemption_id)
    )
    return found


def money(amount: Decimal) -> dict[str, str]:
    return {"amount": f"{amount:.2f}", "currency": "EUR"}


@dataclass(frozen=True)
class PartnerContext:
    org_id: int
    name: str
    tier: str | None
    available: int
    held: int
    lifetime_earned: int
    fulfilled: int
    recent: list[Line]


async def partner_context(session: AsyncSession, principal: Principal, program_id: int, org_id: int) -> PartnerContext:
    """What a partner manager needs beside a redemption: who, tier, points, what it redeemed so far."""
    row = (
        await session.execute(
            select(Org.name, Membership.tier)
            .join(Membership, Membership.org_id == Org.id)
            .where(Org.id == org_id, Membership.program_id == program_id, visible_memberships(principal))
        )
    ).first()
    balance = await ledger_queries.balance(session, program_id, org_id)
    fulfilled = await session.scalar(
        select(func.count())
        .select_from(Redemption)
        .where(
            Redemption.program_id == program_id,
            Redemption.org_id == org_id,
            Redemption.status == RedemptionStatus.FULFILLED,
        )
    )
    recent, _ = await history(session, program_id, org_id, limit=3)
    return PartnerContext(
        org_id=org_id,
        name=row.name if row else str(org_id),
        tier=row.tier if row else None,
        available=balance.available,
        held=balance.held,
        lifetime_earned=balance.lifetime_earned,
        fulfilled=int(fulfilled or 0),
        recent=recent,
    )


@dataclass(frozen=True)
class Redeemed:
    """Units of a catalog item: fulfilled, and still open (requested, waiting, approved)."""

    fulfilled: int = 0
    open: int = 0


OPEN = (RedemptionStatus.REQUESTED, RedemptionStatus.PENDING, RedemptionStatus.APPROVED)


async def redeemed_units(session: AsyncSession, reward_ids: list[int]) -> dict[int, Redeemed]:
    """For the catalog management list: how much of each item went out, in one grouped query."""
    if not reward_ids:
        return {}
    rows = await session.execute(
        select(
            Redemption.reward_id,
            func.sum(case((Redemption.status == RedemptionStatus.FULFILLED, Redemption.quantity), else_=0)),
            func.sum(case((Redemption.status.in_(OPEN), Redemption.quantity), else_=0)),
        )
        .where(Redemption.reward_id.in_(reward_ids))
        .group_by(Redemption.reward_id)
    )
    return {reward_id: Redeemed(int(done or 0), int(waiting or 0)) for reward_id, done, waiting in rows.all()}


async def reward(session: AsyncSession, reward_id: int) -> Reward | None:
    """A catalog item by id, whoever asks (for callers that checked the scope already)."""
    return await session.get(Reward, reward_id)


async def visible_reward(session: AsyncSession, principal: Principal, reward_id: int) -> Reward | None:
    """A catalog item the principal may see; None otherwise."""
    found: Reward | None = await session.scalar(
        select(Reward).where(Reward.id == reward_id, visible_rewards(principal))
    )
    return found


async def is_redeemed(session: AsyncSession, reward_id: int) -> bool:
    """Whether any redemption (other than one refused for want of points) names the item."""
    return bool(await session.scalar(select(has_redemptions(reward_id))))


@dataclass(frozen=True)
class Adjustment:
    at: dt.datetime
    partner: str
    points: int  # signed: what the partner's balance changed by
    reason: str
    by: str


async def recent_adjustments(session: AsyncSession, program_id: int, limit: int) -> list[Adjustment]:
    """The latest manual adjustments with partner, sign, reason and the admin who made them (the audit trail)."""
    entries = await ledger_queries.recent_adjustments(session, program_id, limit)
    partners = await accounts_queries.org_names(session, {entry.org_id for entry in entries})
    admins = await accounts_queries.user_names(session, {entry.user_id for entry in entries if entry.user_id})
    return [
        Adjustment(
            at=entry.at,
            partner=partners.get(entry.org_id, ""),
            points=entry.points,
            reason=entry.reason,
            by=admins.get(entry.user_id, "") if entry.user_id else "",
        )
        for entry in entries
    ]


async def eur_per_point(session: AsyncSession, program_id: int) -> dict[str, Decimal]:
    """What one point is worth in EUR per reward kind: the mean of `value ÷ points` over the program's active
    rewards of that kind that name a value (discounts name a percentage, so usually have none)."""
    rows = await session.execute(
        select(Reward.kind, Reward.value, Reward.points).where(
            Reward.program_id == program_id, Reward.active.is_(True), Reward.value.is_not(None)
        )
    )
    rates: dict[str, list[Decimal]] = {}
    for kind, value, points in rows.all():
        rates.setdefault(kind, []).append(Decimal(value or 0) / points)
    return {kind: (sum(found, Decimal(0)) / len(found)).quantize(Decimal("0.0001")) for kind, found in rates.items()}
