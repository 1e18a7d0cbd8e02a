"""A Hypothesis state machine: random ledger operations and clock jumps against an in-memory reference model.

After every step: the program's accounts balance to zero, nothing is negative, cached counters equal
the sums of transfers (`verify`), and each partner's lots match the model lot by lot, which consumes
them strictly oldest first.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import select

from incentives.db import Database
from incentives.errors import InvalidState
from incentives.ledger import book, queries, services
from incentives.ledger import jobs as ledger_jobs
from incentives.ledger.book import add_months
from incentives.ledger.errors import InsufficientPoints
from incentives.ledger.models import AccountKind
from incentives.ledger.services import Cause, Transfer
from incentives.ledger.verify import verify
from tests.ledger import T0, program_with_partners

R = TypeVar("R")
ORGS = 2
SINKS = ("mdf", "discount", "bonus")
# System accounts that receive points from partners (with issuance and clawback the book sums to zero).
SPENT_KINDS = (AccountKind.MDF, AccountKind.DISCOUNT, AccountKind.BONUS, AccountKind.EXPIRED, AccountKind.ADJUSTED)


@dataclass
class Lot:
    award_id: int
    amount: int
    expires_at: dt.datetime
    remaining: int
    held: int = 0


@dataclass
class Hold:
    org: int
    amount: int
    parts: list[tuple[Lot, int]]
    resolved: bool = False


@dataclass
class Model:
    """What the ledger must say, computed the simplest way."""

    lots: dict[int, list[Lot]] = field(default_factory=dict)
    holds: dict[int, Hold] = field(default_factory=dict)
    awards: dict[int, tuple[int, Lot]] = field(default_factory=dict)
    reversed: set[int] = field(default_factory=set)
    earned: dict[int, int] = field(default_factory=dict)
    expired: int = 0
    clawback: int = 0
    adjusted: int = 0  # taken back by negative adjustments

    def open_lots(self, org: int) -> list[Lot]:
        return sorted((lot for lot in self.lots.get(org, []) if lot.remaining), key=lambda lot: lot.expires_at)

    def available(self, org: int) -> int:
        return sum(lot.remaining for lot in self.lots.get(org, []))

    def held(self, org: int) -> int:
        return sum(lot.held for lot in self.lots.get(org, []))

    def add(self, org: int, award_id: int, points: int, now: dt.datetime) -> Lot:
        lot = Lot(award_id, points, add_months(now, 24), points)
        self.lots.setdefault(org, []).append(lot)
        self.earned[org] = self.earned.get(org, 0) + points
        return lot

    def expire(self, org: int, now: dt.datetime) -> None:
        for lot in self.lots.get(org, []):
            if lot.expires_at <= now and lot.remaining:
                self.expired += lot.remaining
                lot.remaining = 0

    def take(self, org: int, points: int) -> list[tuple[Lot, int]]:
        parts = []
        for lot in self.open_lots(org):  # sorted() is stable: creation order within one expiry
            part = min(points, lot.remaining)
            if part:
                parts.append((lot, part))
                lot.remaining -= part
                points -= part
        assert points == 0
        return parts


class LedgerMachine(RuleBasedStateMachine):
    url = ""

    def __init__(self) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.db = Database(self.url)
        self.program, self.orgs = self.run(program_with_partners(self.db, ORGS))
        self.now = T0
        self.model = Model()
        self.seq = 0
        self.done: list[tuple[str, dict[str, Any], Transfer]] = []

    def run(self, coroutine: Coroutine[Any, Any, R]) -> R:
        return self.runner.run(coroutine)

    def teardown(self) -> None:
        self.run(self.db.dispose())
        self.runner.close()

    def key(self) -> str:
        self.seq += 1
        return f"k{self.seq}"

    async def _call(self, name: str, **kwargs: Any) -> Transfer:
        async with self.db.transaction() as session:
            result: Transfer = await getattr(services, name)(session, program_id=self.program, **kwargs)
            return result

    def call(self, name: str, **kwargs: Any) -> Transfer:
        transfer = self.run(self._call(name, **kwargs))
        self.done.append((name, kwargs, transfer))
        return transfer

    # --- rules ---------------------------------------------------------------------------------------

    @rule(days=st.integers(0, 300))
    def clock(self, days: int) -> None:
        self.now += dt.timedelta(days=days)

    @rule(org=st.integers(0, ORGS - 1), points=st.integers(1, 100))
    def earn(self, org: int, points: int) -> None:
        transfer = self.call(
            "award_points",
            org_id=self.orgs[org],
            points=points,
            key=self.key(),
            now=self.now,
            cause=Cause(rule_id=1, rule_version=org + 1),
        )
        self.model.awards[transfer.id] = (org, self.model.add(org, transfer.id, points, self.now))

    @rule(points=st.lists(st.tuples(st.integers(0, ORGS - 1), st.integers(1, 50)), min_size=1, max_size=5))
    def batch(self, points: list[tuple[int, int]]) -> None:
        awards = [services.Award(self.orgs[org], n, self.key()) for org, n in points]
        result = self.run(self._batch(awards))
        for (org, n), transfer in zip(points, result, strict=True):
            self.model.awards[transfer.id] = (org, self.model.add(org, transfer.id, n, self.now))

    async def _batch(self, awards: list[services.Award]) -> list[Transfer]:
        async with self.db.transaction() as session:
            return await services.award_batch(session, program_id=self.program, awards=awards, now=self.now)

    def _debit(self, org: int, points: int) -> bool:
        """Whether the debit is covered; if so, due lots expire first (a refused debit rolls back, expiry too)."""
        due = sum(lot.remaining for lot in self.model.lots.get(org, []) if lot.expires_at <= self.now)
        covered = self.model.available(org) - due >= points
        if covered:
            self.model.expire(org, self.now)
        return covered

    @rule(org=st.integers(0, ORGS - 1), points=st.integers(1, 120), sink=st.sampled_from(SINKS))
    def redeem(self, org: int, points: int, sink: str) -> None:
        covered = self._debit(org, points)
        try:
            self.call("redeem_points", org_id=self.orgs[org], points=points, kind=sink, key=self.key(), now=self.now)
        except InsufficientPoints:
            assert not covered
            return
        assert covered
        self.model.take(org, points)

    @rule(org=st.integers(0, ORGS - 1), points=st.integers(1, 120), sink=st.sampled_from(SINKS))
    def hold(self, org: int, points: int, sink: str) -> None:
        covered = self._debit(org, points)
        try:
            transfer = self.call(
                "hold_points", org_id=self.orgs[org], points=points, kind=sink, key=self.key(), now=self.now
            )
        except InsufficientPoints:
            assert not covered
            return
        assert covered
        parts = self.model.take(org, points)
        for lot, part in parts:
            lot.held += part
        self.model.holds[transfer.id] = Hold(org, points, parts)

    @rule(data=st.data(), void=st.booleans())
    def resolve(self, data: st.DataObject, void: bool) -> None:
        if not self.model.holds:
            return
        hold_id = data.draw(st.sampled_from(sorted(self.model.holds)))
        hold = self.model.holds[hold_id]
        posted = 0 if void else data.draw(st.integers(1, hold.amount))
        try:
            if void:
                self.call("void_hold", hold_id=hold_id, key=self.key(), now=self.now)
            else:
                self.call("post_hold", hold_id=hold_id, points=posted, key=self.key(), now=self.now)
        except InvalidState:
            assert hold.resolved
            return
        assert not hold.resolved
        hold.resolved = True
        for lot, part in hold.parts:
            spent = min(posted, part)
            posted -= spent
            lot.held -= part
            lot.remaining += part - spent

    @rule(data=st.data())
    def reverse(self, data: st.DataObject) -> None:
        if not self.model.awards:
            return
        award_id = data.draw(st.sampled_from(sorted(self.model.awards)))
        org, lot = self.model.awards[award_id]
        try:
            transfer = self.call("reverse_award", award_id=award_id, key=self.key(), now=self.now)
        except InvalidState:
            assert award_id in self.model.reversed
            return
        assert award_id not in self.model.reversed and transfer.amount == lot.amount
        self.model.reversed.add(award_id)
        self.model.clawback += lot.amount - lot.remaining
        self.model.earned[org] -= lot.amount
        lot.remaining = 0

    @rule(org=st.integers(0, ORGS - 1), points=st.integers(-60, 60).filter(bool))
    def adjust(self, org: int, points: int) -> None:
        covered = points > 0 or self._debit(org, -points)
        try:
            transfer = self.call(
                "adjust_points",
                org_id=self.orgs[org],
                points=points,
                key=self.key(),
                now=self.now,
                cause=Cause(reason="correction", user_id=None),
            )
        except InsufficientPoints:
            assert not covered
            return
        assert covered
        if points > 0:
            self.model.add(org, transfer.id, points, self.now)
        else:
            self.model.take(org, -points)
            self.model.adjusted -= points

    @rule()
    def expire(self) -> None:
        async def sweep() -> int:
            return await ledger_jobs.expire_points(self.db, self.now, program_id=self.program)

        self.run(sweep())
        for org in range(ORGS):
            self.model.expire(org, self.now)

    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        """Any earlier successful call, sent again with its key, returns the same transfer and changes nothing."""
        if not self.done:
            return
        name, kwargs, original = data.draw(st.sampled_from(self.done))
        again = self.run(self._call(name, **kwargs))
        assert again.replayed and again.id == original.id

    # --- invariants ------------------------------------------------------------------------------------

    @invariant()
    def book_matches_model(self) -> None:
        self.run(self._check())

    async def _check(self) -> None:
        async with self.db.reader() as session:
            assert [str(d) for d in await verify(session)] == []
            # Every account's balance (partners from their cached counters, system accounts from their
            # transfers) sums to zero: issuance and clawback hold what partners, sinks (held points there,
            # as pending) and expiry got.
            system = {kind: await queries.system_balance(session, self.program, kind) for kind in AccountKind}
            partners = [await queries.balance(session, self.program, org) for org in self.orgs]
            total = sum(p.available for p in partners) + sum(system[kind] for kind in SPENT_KINDS)
            assert total == system[AccountKind.ISSUANCE] + system[AccountKind.CLAWBACK]
            assert all(value >= 0 for value in system.values())
            assert system[AccountKind.EXPIRED] == self.model.expired
            assert system[AccountKind.CLAWBACK] == self.model.clawback
            assert system[AccountKind.ADJUSTED] == self.model.adjusted
            A = book.ACCOUNT
            for index, org in enumerate(self.orgs):
                got = await queries.balance(session, self.program, org)
                assert got.available >= 0 and got.held >= 0
                assert (got.available, got.held, got.lifetime_earned) == (
                    self.model.available(index),
                    self.model.held(index),
                    self.model.earned.get(index, 0),
                )
                lots = (
                    await session.execute(
                        select(book.LOT.transfer_id, book.LOT.remaining, book.LOT.held)
                        .join(book.ACCOUNTS, A.id == book.LOT.account_id)
                        .where(A.program_id == self.program, A.name == book.partner_name(org))
                        .order_by(book.LOT.id)
                    )
                ).all()
                expected = [(lot.award_id, lot.remaining, lot.held) for lot in self.model.lots.get(index, [])]
                assert [tuple(row) for row in lots] == expected


def test_ledger_against_reference_model(database_url: str) -> None:
    LedgerMachine.url = database_url
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=15,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
