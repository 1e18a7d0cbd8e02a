"""Streaks: consecutive on-time feedback and consecutive active weeks of a partner in a program.

- `on_time_feedback`: reserved leads in a row whose first feedback came before it was due. Every lead's first
  on-time feedback adds one; a lead whose feedback falls overdue resets it to 0 when the sweep marks it.
- `active_weeks`: ISO weeks in a row (Europe/Berlin) with at least one reservation or feedback.

The state row moves in the transaction that writes the lead event (`advance`, from the outbox payload, and
`missed`, from the overdue sweep), so the value a rule or achievement sees in `partner.streak.*` is the one after
its own event. `rebuild` recomputes every state of a program from the lead events, the truth it derives from;
a lead the partner returned, or that was marked invalid, counts for nothing there, and `rebuild_partner` (run by
the take-back of such a lead, engagement.take_back) recomputes the one partner's states the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Select, Table, and_, bindparam, case, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.db import dialect_insert
from incentives.leads.models import Lead, LeadEvent, LeadStatus, StreakKey, StreakState
from incentives.local_time import LOCAL

STATES = cast(Table, StreakState.__table__)
TAKEN = cast(Table, LeadEvent.__table__).alias("taken")  # the events by which a lead was taken back
KEYS = (StreakKey.ON_TIME_FEEDBACK.value, StreakKey.ACTIVE_WEEKS.value)
_FIRST_MONDAY = dt.date(1970, 1, 5)
ACTIVE = frozenset({"lead.reserved", "lead.feedback"})  # outbox events that make a week active
ACTIVE_KINDS = frozenset({"reserved", "feedback"})  # the same, as lead event kinds


@dataclass(frozen=True)
class Streak:
    key: str
    current: int
    best: int
    at_risk_at: dt.datetime | None


def week_of(at: dt.datetime) -> int:
    """The number of the ISO week (Europe/Berlin) holding `at`: consecutive weeks differ by one."""
    return (at.astimezone(LOCAL).date() - _FIRST_MONDAY).days // 7


def week_end(week: int) -> dt.datetime:
    """The moment week number `week` ends (Monday 00:00 in Berlin after it), in UTC."""
    monday = _FIRST_MONDAY + dt.timedelta(days=7 * (week + 1))
    return dt.datetime.combine(monday, dt.time(), tzinfo=LOCAL).astimezone(dt.UTC)


def _counts_on_time(event_type: str, variables: Mapping[str, Any]) -> bool:
    feedback = variables.get("feedback") or {}
    return event_type == "lead.feedback" and bool(feedback.get("is_first")) and bool(feedback.get("on_time"))


async def advance(
    session: AsyncSession,
    program_id: int,
    org_id: int,
    event_type: str,
    variables: Mapping[str, Any],
    at: dt.datetime,
) -> dict[str, int]:
    """Move the partner's streaks for an outbox event being written; returns the values after it."""
    conn = await session.connection()
    found: dict[str, int] = {}
    if _counts_on_time(event_type, variables):
        upsert = dialect_insert(conn, STATES)
        found[StreakKey.ON_TIME_FEEDBACK] = cast(
            int,
            await conn.scalar(
                upsert.values(
                    program_id=program_id,
                    org_id=org_id,
                    key=StreakKey.ON_TIME_FEEDBACK.value,
                    current=1,
                    best=1,
                    updated_at=at,
                )
                .on_conflict_do_update(
                    index_elements=["program_id", "org_id", "key"],
                    set_={
                        "current": STATES.c.current + 1,
                        "best": case((STATES.c.best > STATES.c.current, STATES.c.best), else_=STATES.c.current + 1),
                        "updated_at": at,
                    },
                )
                .returning(STATES.c.current)
            ),
        )
    if event_type in ACTIVE:
        week = week_of(at)
        same, following = STATES.c.last_week >= week, STATES.c.last_week == week - 1
        upsert = dialect_insert(conn, STATES)
        found[StreakKey.ACTIVE_WEEKS] = cast(
            int,
            await conn.scalar(
                upsert.values(
                    program_id=program_id,
                    org_id=org_id,
                    key=StreakKey.ACTIVE_WEEKS.value,
                    current=1,
                    best=1,
                    last_week=week,
                    updated_at=at,
                )
                .on_conflict_do_update(
                    index_elements=["program_id", "org_id", "key"],
                    set_={
                        "current": case((same, STATES.c.current), (following, STATES.c.current + 1), else_=1),
                        "best": case(
                            (same, STATES.c.best),
                            (following & (STATES.c.best <= STATES.c.current), STATES.c.current + 1),
                            else_=STATES.c.best,
                        ),
                        "last_week": case((same, STATES.c.last_week), else_=week),
                        "updated_at": at,
                    },
                )
                .returning(STATES.c.current)
            ),
        )
    missing = [key for key in KEYS if key not in found]
    if missing:
        for key, current in (await _currents(session, program_id, org_id, at)).items():
            found.setdefault(key, current)
    return {key: found.get(key, 0) for key in KEYS}


async def _currents(session: AsyncSession, program_id: int, org_id: int, now: dt.datetime) -> dict[str, int]:
    rows = await session.execute(
        select(STATES.c.key, STATES.c.current, STATES.c.last_week).where(
            STATES.c.program_id == program_id, STATES.c.org_id == org_id
        )
    )
    return {key: _effective(key, current, last_week, now) for key, current, last_week in rows}


def _effective(key: str, current: int, last_week: int | None, now: dt.datetime) -> int:
    """A run of active weeks that skipped last week is over, though no event has said so yet."""
    if key == StreakKey.ACTIVE_WEEKS and (last_week is None or last_week < week_of(now) - 1):
        return 0
    return current


async def missed(session: AsyncSession, partners: Iterable[tuple[int, int]], now: dt.datetime) -> None:
    """Feedback of these (program, org) partners fell overdue: their on-time streaks start again from 0.

    Rows are updated in key order, so concurrent sweeps lock them in the same order."""
    pairs = sorted(set(partners))
    if not pairs:
        return
    await session.execute(
        update(STATES)
        .where(
            STATES.c.program_id == bindparam("p"),
            STATES.c.org_id == bindparam("o"),
            STATES.c.key == StreakKey.ON_TIME_FEEDBACK.value,
        )
        .values(current=0, updated_at=now),
        [{"p": p, "o": o} for p, o in pairs],
    )


async def streaks_of(session: AsyncSession, program_id: int, org_id: int, now: dt.datetime) -> list[Streak]:
    """The partner's streaks, current and best, and when the current one is lost unless it acts (None: safe,
    or nothing to lose): the next feedback due date of its open leads; the end of a week without activity."""
    rows = {
        row.key: row
        for row in await session.execute(
            select(STATES.c.key, STATES.c.current, STATES.c.best, STATES.c.last_week).where(
                STATES.c.program_id == program_id, STATES.c.org_id == org_id
            )
        )
    }
    found: list[Streak] = []
    on_time = rows.get(StreakKey.ON_TIME_FEEDBACK)
    current = on_time.current if on_time else 0
    due = None
    if current:
        due = await session.scalar(
            select(func.min(Lead.feedback_due_at)).where(
                Lead.program_id == program_id,
                Lead.reserved_by_org_id == org_id,
                Lead.status == LeadStatus.RESERVED,
            )
        )
    found.append(Streak(StreakKey.ON_TIME_FEEDBACK.value, current, on_time.best if on_time else 0, due))
    weeks = rows.get(StreakKey.ACTIVE_WEEKS)
    current = _effective(StreakKey.ACTIVE_WEEKS, weeks.current, weeks.last_week, now) if weeks else 0
    this_week = week_of(now)
    at_risk = week_end(this_week) if weeks and current and weeks.last_week < this_week else None
    found.append(Streak(StreakKey.ACTIVE_WEEKS.value, current, weeks.best if weeks else 0, at_risk))
    return found


@dataclass
class _Run:
    current: int = 0
    best: int = 0
    last_week: int | None = None

    def add(self) -> None:
        self.current += 1
        self.best = max(self.best, self.current)


def replay(events: Sequence[Any]) -> dict[tuple[int, str], _Run]:
    """Streak states from lead events (`lead_id`, `kind`, `org_id`, `at`, `data`) in the order they happened."""
    runs: dict[tuple[int, str], _Run] = {}
    awaiting_first: set[int] = set()  # leads reserved and not answered yet
    for event in events:
        if event.kind == "reserved":
            awaiting_first.add(event.lead_id)
        if event.org_id is None:
            continue
        if event.kind == "feedback":
            first = event.lead_id in awaiting_first
            awaiting_first.discard(event.lead_id)
            if first and (event.data or {}).get("on_time"):
                runs.setdefault((event.org_id, StreakKey.ON_TIME_FEEDBACK), _Run()).add()
        elif event.kind == "feedback_overdue":
            runs.setdefault((event.org_id, StreakKey.ON_TIME_FEEDBACK), _Run()).current = 0
        if event.kind in ACTIVE_KINDS:
            run = runs.setdefault((event.org_id, StreakKey.ACTIVE_WEEKS), _Run())
            week = week_of(event.at)
            if run.last_week is None or week > run.last_week:
                if run.last_week == week - 1:
                    run.add()
                else:
                    run.current = 0
                    run.add()
                run.last_week = week
    return runs


def _counted_events(program_id: int) -> Select[Any]:
    """The program's lead events a streak derives from, in the order they happened. A lead taken back from a
    partner (returned by it, or marked invalid) adds nothing to its streaks: its reservation and feedback are
    left out (an overdue reset it caused stays: taking back never lengthens a streak)."""
    taken = select(TAKEN.c.lead_id).where(
        TAKEN.c.program_id == program_id,
        or_(TAKEN.c.kind == "invalidated", and_(TAKEN.c.kind == "returned", TAKEN.c.org_id == LeadEvent.org_id)),
    )
    return (
        select(LeadEvent.lead_id, LeadEvent.kind, LeadEvent.org_id, LeadEvent.at, LeadEvent.data)
        .where(LeadEvent.program_id == program_id, ~(LeadEvent.kind.in_(ACTIVE_KINDS) & LeadEvent.lead_id.in_(taken)))
        .order_by(LeadEvent.at, LeadEvent.id)
    )


def _state_rows(program_id: int, runs: dict[tuple[int, str], _Run], now: dt.datetime) -> list[dict[str, Any]]:
    return [
        {
            "program_id": program_id,
            "org_id": org_id,
            "key": str(key),
            "current": run.current,
            "best": run.best,
            "last_week": run.last_week,
            "updated_at": now,
        }
        for (org_id, key), run in sorted(runs.items())
    ]


async def rebuild(session: AsyncSession, program_id: int, now: dt.datetime) -> int:
    """Recompute every streak state of a program from its lead events, in the caller's transaction."""
    runs = replay((await session.execute(_counted_events(program_id))).all())
    await session.execute(delete(STATES).where(STATES.c.program_id == program_id))
    rows = _state_rows(program_id, runs, now)
    if rows:
        await session.execute(insert(STATES), rows)
    return len(rows)


async def rebuild_partner(session: AsyncSession, program_id: int, org_id: int, now: dt.datetime) -> None:
    """Recompute one partner's streaks from its lead events (after a lead was taken back from it), in the caller's
    transaction. Its state rows are locked first, so a lead event moving them at the same time either waits for
    this (and moves the rebuilt value) or is committed before the events are read (and counted in it)."""
    mine = (STATES.c.program_id == program_id) & (STATES.c.org_id == org_id)
    await session.execute(select(STATES.c.key).where(mine).with_for_update())
    events = (await session.execute(_counted_events(program_id).where(LeadEvent.org_id == org_id))).all()
    runs = replay(events)
    for key in KEYS:
        runs.setdefault((org_id, key), _Run())
    conn = await session.connection()
    for row in _state_rows(program_id, runs, now):
        upsert = dialect_insert(conn, STATES).values(**row)
        await conn.execute(
            upsert.on_conflict_do_update(
                index_elements=["program_id", "org_id", "key"],
                set_={name: upsert.excluded[name] for name in ("current", "best", "last_week", "updated_at")},
            )
        )
