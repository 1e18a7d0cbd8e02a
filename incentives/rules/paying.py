"""Step 2 of event processing: pay the decisions the processor wrote, through `rules.payouts` (the ledger and the
leaderboards' note together), and keep a notice per award paid. Each payment is keyed by its decision, so a rerun
after a crash or a second processor pays nothing twice; a failing one is noted and retried up to MAX_ATTEMPTS.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.db import Database
from incentives.errors import InvalidState
from incentives.leaderboard import jobs as leaderboard
from incentives.ledger import queries as ledger_queries
from incentives.ledger.book import Cause
from incentives.ledger.services import Award
from incentives.notifications.awards import notify_awards
from incentives.rules import payouts
from incentives.rules.models import DecisionKind, RuleAward, RuleVersion

log = logging.getLogger(__name__)

BATCH = 500
MAX_ATTEMPTS = 10  # an event (or payment) failing this often waits for an admin instead of looping forever
AWARDS = cast(Table, RuleAward.__table__)


async def pay_decisions(db: Database, now: dt.datetime, limit: int = BATCH, after_id: int = 0) -> tuple[int, int]:
    """Step 2: pay up to `limit` unpaid decisions with ids above `after_id` (earns in one ledger batch per
    program, then reversals). Returns how many it tried and the last id, to page on past failing ones."""
    async with db.session() as session:
        async with session.begin():
            # Plain rows, not ORM objects: a failed ledger transaction below expires ORM state.
            decisions = (
                await session.execute(
                    select(*AWARDS.c)
                    .where(AWARDS.c.paid_at.is_(None), AWARDS.c.attempts < MAX_ATTEMPTS, AWARDS.c.id > after_id)
                    .order_by(AWARDS.c.id)
                    .limit(limit)
                )
            ).all()
        if not decisions:
            return 0, after_id
        paid: dict[int, int] = {}
        errors: dict[int, str] = {}
        by_program: dict[int, list[Any]] = defaultdict(list)
        for decision in decisions:
            if decision.kind == DecisionKind.EARN:
                by_program[decision.program_id].append(decision)
        for program_id, earns in by_program.items():
            await _pay_earns(session, program_id, earns, now, paid, errors)
        for decision in decisions:
            if decision.kind == DecisionKind.REVERSE:
                await _pay_reversal(session, decision, now, paid, errors)
        async with session.begin():
            if paid:
                await session.execute(
                    update(AWARDS)
                    .where(AWARDS.c.id == bindparam("decision"))
                    .values(paid_at=now, transfer_id=bindparam("transfer"), last_error=None),
                    [{"decision": d, "transfer": t} for d, t in paid.items()],
                )
                await _notify_paid(session, [d for d in decisions if d.id in paid and d.kind == DecisionKind.EARN])
            if errors:
                await session.execute(
                    update(AWARDS)
                    .where(AWARDS.c.id == bindparam("decision"))
                    .values(attempts=AWARDS.c.attempts + 1, last_error=bindparam("error")),
                    [{"decision": d, "error": e} for d, e in errors.items()],
                )
    await leaderboard.count_pending(db)
    return len(decisions), decisions[-1].id


async def _notify_paid(session: AsyncSession, earns: list[Any]) -> None:
    """The award notices of paid decisions (the toast on the partner's open page), with the paying rule's names."""
    if not earns:
        return
    names = {
        (rule_id, version): (name_de, name_en)
        for rule_id, version, name_de, name_en in await session.execute(
            select(RuleVersion.rule_id, RuleVersion.version, RuleVersion.name_de, RuleVersion.name_en).where(
                tuple_(RuleVersion.rule_id, RuleVersion.version).in_(
                    sorted({(d.rule_id, d.rule_version) for d in earns})
                )
            )
        )
    }
    by_program: dict[int, list[Any]] = defaultdict(list)
    for decision in earns:
        by_program[decision.program_id].append(decision)
    for program_id, paid in by_program.items():
        await notify_awards(
            session,
            program_id,
            [(d.org_id, d.points, *names.get((d.rule_id, d.rule_version), ("", "")), d.lead_id) for d in paid],
            keys=[d.key for d in paid],
        )


def _cause(decision: Any) -> Cause:
    return Cause(rule_id=decision.rule_id, rule_version=decision.rule_version, lead_id=decision.lead_id)


async def _pay_earns(
    session: AsyncSession,
    program_id: int,
    earns: list[Any],
    now: dt.datetime,
    paid: dict[int, int],
    errors: dict[int, str],
) -> None:
    awards = [Award(org_id=d.org_id, points=d.points, key=d.key, cause=_cause(d)) for d in earns]
    try:
        async with session.begin():
            transfers = await payouts.pay_awards(session, program_id, awards, [_credit(d) for d in earns], now)
    except Exception:
        # One bad award must not hold up the batch: pay them one by one and note what fails.
        log.warning("rule award batch of program %s failed; paying one by one", program_id, exc_info=True)
        for decision, award in zip(earns, awards, strict=True):
            try:
                async with session.begin():
                    [transfer] = await payouts.pay_awards(session, program_id, [award], [_credit(decision)], now)
            except Exception as error:
                errors[decision.id] = f"{type(error).__name__}: {error}"[:2000]
            else:
                paid[decision.id] = transfer.id
        return
    for decision, transfer in zip(earns, transfers, strict=True):
        paid[decision.id] = transfer.id


def _credit(decision: Any) -> tuple[int | None, int | None]:
    """The rep and campaign an award counts for on the leaderboards."""
    return decision.user_id, decision.campaign_id


async def _pay_reversal(
    session: AsyncSession,
    decision: Any,
    now: dt.datetime,
    paid: dict[int, int],
    errors: dict[int, str],
) -> None:
    async with session.begin():
        award = await ledger_queries.transfer_by_key(session, decision.program_id, decision.reverses_key)
        original = (await session.execute(select(*AWARDS.c).where(AWARDS.c.key == decision.reverses_key))).first()
    if award is None:
        errors[decision.id] = "the award to reverse is not paid yet"
        return
    try:
        async with session.begin():
            transfer = await payouts.take_back(
                session,
                program_id=decision.program_id,
                org_id=decision.org_id,
                award_id=award.id,
                key=decision.key,
                cause=_cause(decision),
                credited=_credit(original) if original is not None else (None, None),
                now=now,
            )
    except InvalidState:
        # Reversed already by other means (an admin): nothing left to take back.
        paid[decision.id] = award.id
    except Exception as error:
        errors[decision.id] = f"{type(error).__name__}: {error}"[:2000]
    else:
        paid[decision.id] = transfer.id
