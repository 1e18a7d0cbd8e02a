"""The weekly report's content: who gets one for a program and ISO week, and the figures of each recipient's scope.

A reseller's manager and reps get their company's rank and movement, points earned and expiring, their own KPIs
against the program's and last week's, and the leads owing feedback; a distributor manager its resellers' table;
partner managers and admins the program's KPIs, top movers, unclaimed leads and the partners the farming score
flagged in the week (rules.farming, the farming report's figures). Rendering is weekly_mail.py;
sending (and the per-user opt-out) is the mail outbox's.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts.models import Membership, Org, Program, User
from incentives.accounts.roles import Role
from incentives.db import Database
from incentives.errors import N_, FieldError, ValidationFailed
from incentives.leaderboard import periods, scopes
from incentives.leaderboard.queries import Row, Standings, most_improved, standings
from incentives.leads.models import Lead, LeadStatus
from incentives.ledger import queries as ledger_queries
from incentives.ledger.queries import Expiring
from incentives.local_time import LOCAL
from incentives.mail import preferences
from incentives.reports.dashboard import UnclaimedGroup, unclaimed_leads
from incentives.reports.kpi_scopes import KpiScope
from incentives.reports.kpis import Kpis, kpis, kpis_by_org, kpis_of_reps, weekly_kpis, weekly_reservations
from incentives.rules import farming
from incentives.rules.farming import PartnerPattern

PROGRAM_ROLES = (Role.ADMIN, Role.PARTNER_MANAGER)  # agencies enter leads; the report has nothing for them
PARTNER_ROLES = (Role.RESELLER_MANAGER, Role.RESELLER_REP, Role.DISTRIBUTOR_MANAGER)
REPORTED_PARTNERS = (Role.RESELLER_MANAGER, Role.RESELLER_REP)  # their reports come from PartnersWeek
HISTORY_WEEKS = 8  # the bar chart's weeks
OWING_SHOWN = 10
MOVERS_SHOWN = 5
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


@dataclass(frozen=True)
class IsoWeek:
    """An ISO week, from Monday 00:00 to the next Monday in Europe/Berlin (as the leaderboard's weeks)."""

    year: int
    number: int

    @classmethod
    def parse(cls, value: str) -> IsoWeek:
        found = _WEEK.match(value)
        try:
            if found is None:
                raise ValueError(value)
            week = cls(int(found[1]), int(found[2]))
            dt.date.fromisocalendar(week.year, week.number, 1)
        except ValueError:
            raise ValidationFailed([FieldError(("week",), N_("Must be an ISO week such as 2026-W49."))]) from None
        return week

    @classmethod
    def of(cls, moment: dt.datetime) -> IsoWeek:
        year, number, _ = moment.astimezone(LOCAL).isocalendar()
        return cls(year, number)

    @property
    def name(self) -> str:
        return f"{self.year}-W{self.number:02d}"

    @property
    def start(self) -> dt.datetime:
        monday = dt.date.fromisocalendar(self.year, self.number, 1)
        return dt.datetime.combine(monday, dt.time(), LOCAL).astimezone(dt.UTC)

    @property
    def end(self) -> dt.datetime:
        return self.following.start

    @property
    def last_moment(self) -> dt.datetime:
        return self.end - dt.timedelta(microseconds=1)

    @property
    def previous(self) -> IsoWeek:
        return IsoWeek.of(self.start - dt.timedelta(days=3))

    @property
    def following(self) -> IsoWeek:
        monday = dt.date.fromisocalendar(self.year, self.number, 1) + dt.timedelta(days=7)
        year, number, _ = monday.isocalendar()
        return IsoWeek(year, number)


@dataclass(frozen=True)
class Recipient:
    user_id: int
    email: str
    name: str
    role: str
    org_id: int
    locale: str  # the user's, else the program's default


async def opted_out(session: AsyncSession, user_ids: list[int]) -> set[int]:
    """The users whose e-mail settings turn the weekly report off (`email_weekly_report: false`)."""
    return await preferences.turned_off(session, user_ids, "weekly_report")


async def recipients(session: AsyncSession, program_id: int, week: IsoWeek) -> list[Recipient]:
    """The active users with an e-mail who get the program's report for `week`: its admins and partner managers,
    and the managers and reps of its member orgs (a user of an org in several programs gets one per program)."""
    default = await session.scalar(select(Program.default_locale).where(Program.id == program_id))
    members = select(Membership.org_id).where(Membership.program_id == program_id)
    rows = (
        await session.execute(
            select(User.id, User.email, User.name, User.role, User.org_id, User.locale)
            .where(User.active.is_(True), User.email != "")
            .where(
                ((User.program_id == program_id) & User.role.in_(PROGRAM_ROLES))
                | (User.program_id.is_(None) & User.org_id.in_(members) & User.role.in_(PARTNER_ROLES))
            )
            .order_by(User.id)
        )
    ).all()
    out = await opted_out(session, [row.id for row in rows])
    return [
        Recipient(row.id, row.email, row.name, row.role, row.org_id, row.locale or default or "en")
        for row in rows
        if row.id not in out
    ]


@dataclass(frozen=True)
class Standing:
    rank: int
    of: int
    points: int  # earned this week
    movement: int | None  # places gained since last week (negative: lost); None when not ranked last week


@dataclass(frozen=True)
class OwingLead:
    id: int
    company: str
    product_line: str
    due_at: dt.datetime | None
    overdue: bool


@dataclass(frozen=True)
class ResellerLine:
    org_id: int
    name: str
    tier: str
    kpis: Kpis
    overdue: int


@dataclass(frozen=True)
class WeeklyReport:
    """Everything one recipient's e-mail shows; `kind` says which parts apply: partner, distributor, program."""

    recipient: Recipient
    program_id: int
    program_name: str
    week: IsoWeek
    kind: str
    scope_name: str  # the org's (or, for a rep, the rep's) name; the program's for managers
    org_name: str  # the recipient's org
    kpis: Kpis
    last_week: Kpis
    program: Kpis  # the program's figures in the same week, what "average" compares against
    history: list[tuple[dt.datetime, int]]  # reservations per week, the last HISTORY_WEEKS up to this one
    standing: Standing | None = None
    expiring: list[Expiring] = field(default_factory=list)
    owing: list[OwingLead] = field(default_factory=list)
    owing_total: int = 0
    resellers: list[ResellerLine] = field(default_factory=list)
    movers: list[Row] = field(default_factory=list)
    unclaimed: list[UnclaimedGroup] = field(default_factory=list)
    farming: list[PartnerPattern] = field(default_factory=list)  # partners the farming score flagged this week


def _scope_of(recipient: Recipient) -> tuple[str, KpiScope]:
    if recipient.role in PROGRAM_ROLES:
        return "program", KpiScope("program")
    if recipient.role == Role.DISTRIBUTOR_MANAGER:
        return "distributor", KpiScope("distributor", str(recipient.org_id))
    if recipient.role == Role.RESELLER_REP:
        return "partner", KpiScope("rep", str(recipient.user_id))
    return "partner", KpiScope("partner", str(recipient.org_id))


@dataclass(frozen=True)
class PartnersWeek:
    """What every partner's report of one program and week is made of, read once for all of them: a run for
    thousands of managers and reps composes each report from these instead of asking the database per reader."""

    program_id: int
    program_name: str
    program: Kpis  # the program's figures this week
    org_names: dict[int, str]
    by_org: dict[int, Kpis]
    by_org_before: dict[int, Kpis]
    by_rep: dict[int, Kpis]
    by_rep_before: dict[int, Kpis]
    idle_rep: Kpis  # a rep that did nothing this week
    idle_rep_before: Kpis
    history_by_org: dict[int, list[int]]  # reservations per week, the last HISTORY_WEEKS up to this one
    history_by_rep: dict[int, list[int]]
    standings: Standings
    standings_before: Standings
    owing: dict[int, list[Any]]  # each partner's reserved leads, by due date (the database's order)
    expiring: dict[int, list[Expiring]]

    def kpis_of(self, scope: KpiScope, before: bool = False) -> Kpis:
        if scope.kind == "rep":
            found = self.by_rep_before if before else self.by_rep
            return found.get(scope.id, self.idle_rep_before if before else self.idle_rep)
        found = self.by_org_before if before else self.by_org
        # Every reseller member has a PLI while the program has a pipeline: a partner missing did nothing, and
        # the program has no pipeline to compare against.
        return found.get(scope.id, Kpis(offered=0, returned=0))


async def partners_week(session: AsyncSession, program_id: int, week: IsoWeek) -> PartnersWeek:
    program_scope = KpiScope("program")
    history_start = week.start - dt.timedelta(days=7 * (HISTORY_WEEKS - 1))
    before = week.previous
    by_rep, idle_rep = await kpis_of_reps(session, program_id, week.start, week.end)
    by_rep_before, idle_rep_before = await kpis_of_reps(session, program_id, before.start, before.end)
    history_by_org, history_by_rep = await weekly_reservations(session, program_id, history_start, HISTORY_WEEKS)
    members = select(Membership.org_id).where(Membership.program_id == program_id)
    owing = await session.execute(
        select(Lead.id, Lead.company, Lead.product_line, Lead.feedback_due_at, Lead.reserved_by_org_id)
        .add_columns(Lead.reserved_by_user_id)
        .where(Lead.program_id == program_id, Lead.status == LeadStatus.RESERVED)
        .order_by(Lead.feedback_due_at, Lead.id)
    )
    return PartnersWeek(
        program_id=program_id,
        program_name=await session.scalar(select(Program.name).where(Program.id == program_id)) or "",
        program=await kpis(session, program_id, program_scope, week.start, week.end),
        org_names=dict((await session.execute(select(Org.id, Org.name).where(Org.id.in_(members)))).all()),
        by_org=await kpis_by_org(session, program_id, program_scope, week.start, week.end),
        by_org_before=await kpis_by_org(session, program_id, program_scope, before.start, before.end),
        by_rep=by_rep,
        by_rep_before=by_rep_before,
        idle_rep=idle_rep,
        idle_rep_before=idle_rep_before,
        history_by_org=history_by_org,
        history_by_rep=history_by_rep,
        standings=await standings(session, program_id, periods.parse("week", week.last_moment)),
        standings_before=await standings(session, program_id, periods.parse("week", before.last_moment)),
        owing=_by_org(owing.all()),
        expiring=await ledger_queries.expiring_by_org(session, program_id, now=week.end),
    )


def _by_org(leads: Sequence[Any]) -> dict[int, list[Any]]:
    found: dict[int, list[Any]] = {}
    for lead in leads:
        found.setdefault(lead.reserved_by_org_id, []).append(lead)
    return found


async def gather(
    db: Database,
    session: AsyncSession,
    program_id: int,
    recipient: Recipient,
    week: IsoWeek,
    partners: PartnersWeek | None = None,
) -> WeeklyReport:
    """The figures of the recipient's scope in `week` (the caller took the recipient from `recipients`); a run
    for many readers passes the program's `partners_week` (read once) for its partners' reports."""
    kind, scope = _scope_of(recipient)
    if kind == "partner":
        return partner_report(partners or await partners_week(session, program_id, week), recipient, week, scope)
    program_name = await session.scalar(select(Program.name).where(Program.id == program_id)) or ""
    before = week.previous
    history_start = week.start - dt.timedelta(days=7 * (HISTORY_WEEKS - 1))
    series = await weekly_kpis(session, program_id, scope, history_start, HISTORY_WEEKS)
    report = WeeklyReport(
        recipient,
        program_id,
        program_name,
        week,
        kind,
        program_name,
        await session.scalar(select(Org.name).where(Org.id == recipient.org_id)) or "",
        kpis=await kpis(session, program_id, scope, week.start, week.end),
        last_week=await kpis(session, program_id, scope, before.start, before.end),
        program=await kpis(session, program_id, KpiScope("program"), week.start, week.end),
        history=[(start, found.reserved) for start, found in series],
    )
    if kind == "program":
        return await _program_parts(db, session, report)
    return await _distributor_parts(session, report)


def partner_report(figures: PartnersWeek, recipient: Recipient, week: IsoWeek, scope: KpiScope) -> WeeklyReport:
    """A reseller manager's (scope: its partner) or rep's (scope: the rep) report from the program's figures."""
    org_id = recipient.org_id
    history_start = week.start - dt.timedelta(days=7 * (HISTORY_WEEKS - 1))
    counts = (figures.history_by_rep if scope.kind == "rep" else figures.history_by_org).get(scope.id)
    rank, of, points = figures.standings.of(org_id)
    earlier_rank, _, earlier_points = figures.standings_before.of(org_id)
    # Unranked last week (no points then) has no place to move from.
    movement = earlier_rank - rank if earlier_points else None
    owing = [
        lead for lead in figures.owing.get(org_id, []) if scope.kind != "rep" or lead.reserved_by_user_id == scope.id
    ]
    org_name = figures.org_names.get(org_id, "")
    return WeeklyReport(
        recipient,
        figures.program_id,
        figures.program_name,
        week,
        "partner",
        recipient.name if scope.kind == "rep" else org_name,
        org_name,
        kpis=figures.kpis_of(scope),
        last_week=figures.kpis_of(scope, before=True),
        program=figures.program,
        history=[(history_start + n * dt.timedelta(days=7), counts[n] if counts else 0) for n in range(HISTORY_WEEKS)],
        standing=Standing(rank, of, points, movement),
        expiring=figures.expiring.get(org_id, []),
        owing=[
            OwingLead(
                lead.id,
                lead.company,
                lead.product_line,
                lead.feedback_due_at,
                lead.feedback_due_at is not None and lead.feedback_due_at <= week.end,
            )
            for lead in owing[:OWING_SHOWN]
        ],
        owing_total=len(owing),
    )


async def _distributor_parts(session: AsyncSession, report: WeeklyReport) -> WeeklyReport:
    program_id, org_id, week = report.program_id, report.recipient.org_id, report.week
    rows = (
        await session.execute(
            select(Org.id, Org.name, Membership.tier)
            .join(Membership, Membership.org_id == Org.id)
            .where(Membership.program_id == program_id, Membership.distributor_id == org_id)
            .order_by(Org.name, Org.id)
        )
    ).all()
    found = await kpis_by_org(session, program_id, KpiScope("distributor", str(org_id)), week.start, week.end)
    overdue = dict(
        (
            await session.execute(
                select(Lead.reserved_by_org_id, func.count())
                .where(Lead.program_id == program_id, Lead.status == LeadStatus.RESERVED)
                .where(Lead.feedback_due_at <= week.end, Lead.reserved_by_org_id.in_([row.id for row in rows]))
                .group_by(Lead.reserved_by_org_id)
            )
        ).all()
    )
    lines = [
        ResellerLine(row.id, row.name, row.tier, found.get(row.id, Kpis()), int(overdue.get(row.id, 0))) for row in rows
    ]
    return replace(report, scope_name=report.org_name, resellers=lines)


async def _program_parts(db: Database, session: AsyncSession, report: WeeklyReport) -> WeeklyReport:
    week = report.week
    period = periods.parse("week", week.last_moment)
    movers = await most_improved(
        session, report.program_id, period, scopes.parse("program"), now=week.last_moment, limit=MOVERS_SHOWN
    )
    groups = await unclaimed_leads(session, report.program_id, week.start, week.end)
    flagged = await farming.flagged_partners(session, report.program_id, week.start, week.end)
    return replace(report, movers=movers, unclaimed=groups, farming=flagged)
