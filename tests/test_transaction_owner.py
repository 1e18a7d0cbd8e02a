"""A transaction has one owner: the request handler, job, CLI command or demo loader opens it, services join it.

The guard reads the source: outside the owners no module begins, commits or rolls back a transaction or
opens a unit of work. The last test shows what joining means: a service's writes roll back with its caller's
transaction.
"""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from incentives.db import Database
from incentives.leads import services
from incentives.leads.models import Lead, LeadStatus
from tests.factories import make_program
from tests.leads.helpers import T0, make_lead, make_reseller

PACKAGE = Path(__file__).resolve().parent.parent / "incentives"
# Who may open, commit or roll back a unit of work: request handlers, jobs and the rules processor's two steps.
# The ledger opens none, and its own guard (OutsideTransaction) refuses to run without one.
OWNERS = (
    "web/",
    "cli.py",
    "demo.py",
    "jobs.py",
    "leads/importer.py",
    "db.py",
    "idempotency.py",
    "rules/processor.py",
    "rules/paying.py",
    "engagement/paying.py",
)
TRANSACTION_CALLS = frozenset({"begin", "begin_nested", "commit", "rollback", "transaction"})
SKIPPED = ("migrations/",)
HOUR = dt.timedelta(hours=1)  # alembic's own transaction in env.py


def _is_owner(relative: str) -> bool:
    return relative.startswith(OWNERS[0]) or any(
        relative == owner or relative.endswith("/" + owner) for owner in OWNERS[1:]
    )


def _transaction_calls(tree: ast.AST) -> list[tuple[int, str]]:
    """`x.begin()`, `x.commit()`, `db.transaction()` … anywhere in a module, by line."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in TRANSACTION_CALLS:
            found.append((node.lineno, ast.unparse(node.func)))
    return found


def test_only_owners_begin_commit_or_roll_back() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if _is_owner(relative) or relative.startswith(SKIPPED):
            continue
        for line, call in _transaction_calls(ast.parse(path.read_text(), str(path))):
            offenders.append(f"incentives/{relative}:{line}: {call}()")
    assert offenders == [], "services join their caller's transaction; open it in the owner:\n" + "\n".join(offenders)


def test_the_guard_sees_a_service_that_begins() -> None:
    source = "async def service(session):\n    async with session.begin():\n        pass\n"
    assert _transaction_calls(ast.parse(source)) == [(2, "session.begin")]
    assert _is_owner("web/api/leads.py") and _is_owner("leads/jobs.py") and _is_owner("rewards/demo.py")
    assert not _is_owner("leads/services.py") and not _is_owner("rules/campaigns.py")


async def test_a_reservation_rolls_back_with_its_callers_transaction(db: Database) -> None:
    world = await make_program(db)
    rep = await make_reseller(db, world)
    lead = await make_lead(db, world, offer=True)

    class CallerFailed(Exception):
        pass

    with pytest.raises(CallerFailed):
        async with db.transaction() as session:
            reserved = await services.reserve_lead(session, rep.principal, lead.id, T0 + HOUR)
            assert reserved.status == LeadStatus.RESERVED  # written in the caller's transaction …
            raise CallerFailed  # … which then fails
    async with db.reader() as session:
        status, reserved_by = (
            await session.execute(select(Lead.status, Lead.reserved_by_org_id).where(Lead.id == lead.id))
        ).one()
    assert (status, reserved_by) == (LeadStatus.OFFERED, None)
    # and once its caller commits, the same reservation stays
    async with db.transaction() as session:
        await services.reserve_lead(session, rep.principal, lead.id, T0 + HOUR)
    async with db.reader() as session:
        assert await session.scalar(select(Lead.status).where(Lead.id == lead.id)) == LeadStatus.RESERVED
