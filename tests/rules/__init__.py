"""Rules tests; shared helpers: rules through the service, outbox events with complete variables."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select

from incentives.db import Database
from incentives.leads.models import OutboxEvent
from incentives.ledger.models import LedgerTransfer
from incentives.rules.models import RuleVersion
from incentives.rules.services import RuleInput, add_rule

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)

VARIABLES: dict[str, dict[str, Any]] = {
    "lead.reserved": {"reservation": {"hours_since_offered": 2.0}},
    "lead.feedback": {
        "feedback": {"status": "contacted", "is_first": True, "hours_since_reserved": 5.0, "on_time": True}
    },
    "lead.won": {"deal": {"value": 12000.0, "days_since_reserved": 9.5}},
    "lead.lost": {"lost": {"reason": "price"}},
    "lead.returned": {"returned": {"hours_since_reserved": 1.0}},
}


def payload(event_type: str, org_id: int, at: dt.datetime, temperature: str = "cold", **extra: Any) -> dict[str, Any]:
    return {
        "lead": {
            "id": None,
            "temperature": temperature,
            "product_line": "heat_pumps",
            "industry": "",
            "country": "DE",
            "estimated_value": 12000.0,
            "wave": 1,
            "source": "",
        },
        "partner": {"tier": "gold", "org_id": org_id, "country": "DE", "competencies": [], "certifications": []},
        "event": {"at": at.isoformat()},
        **VARIABLES[event_type],
        **extra,
    }


async def add_events(
    db: Database,
    program_id: int,
    org_ids: list[int],
    count: int,
    event_type: str = "lead.reserved",
    at: dt.datetime = T0,
    temperature: str = "cold",
) -> list[int]:
    """`count` outbox events, spread round-robin over the orgs, one second apart."""
    async with db.transaction() as session:
        rows = []
        for i in range(count):
            org_id = org_ids[i % len(org_ids)]
            when = at + dt.timedelta(seconds=i)
            rows.append(
                OutboxEvent(
                    program_id=program_id,
                    event_type=event_type,
                    org_id=org_id,
                    payload=payload(event_type, org_id, when, temperature),
                    at=when,
                )
            )
        session.add_all(rows)
        await session.flush()
        return [row.id for row in rows]


async def add_test_rule(db: Database, program_id: int, **fields: Any) -> RuleVersion:
    spec: dict[str, Any] = {
        "name_de": "Testregel",
        "name_en": "Test rule",
        "event": "lead.reserved",
        "condition": "true",
        "points": 'lead.temperature == "cold" ? 30 : 10',
    }
    spec.update(fields)
    async with db.transaction() as session:
        return await add_rule(session, RuleInput(program_id=program_id, **spec))


async def transfers_by_key(db: Database, program_id: int) -> dict[str, int]:
    """Ledger transfer count per idempotency key (every rule key must appear once)."""
    async with db.reader() as session:
        rows = await session.execute(
            select(LedgerTransfer.idempotency_key, func.count())
            .where(LedgerTransfer.program_id == program_id, LedgerTransfer.idempotency_key.like("rule:%"))
            .group_by(LedgerTransfer.idempotency_key)
        )
        return {str(key): count for key, count in rows.all()}


async def earned(db: Database, program_id: int) -> int:
    async with db.reader() as session:
        query = select(func.coalesce(func.sum(LedgerTransfer.amount), 0)).where(
            LedgerTransfer.program_id == program_id, LedgerTransfer.kind == "earn"
        )
        total = await session.scalar(query)
        return int(total or 0)
