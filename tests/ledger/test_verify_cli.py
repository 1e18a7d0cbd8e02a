"""`incentives ledger verify`: exit 0 on a sound book, 1 with one line per difference."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from incentives.cli import main
from incentives.db import Database
from incentives.ledger import services
from tests.ledger import program_with_partners


async def _seed(url: str) -> int:
    db = Database(url)
    program, [org] = await program_with_partners(db)
    async with db.transaction() as session:
        earn = await services.award_points(session, program_id=program, org_id=org, points=9, key="e")
        await services.hold_points(session, program_id=program, org_id=org, points=4, kind="mdf", key="h")
    await db.dispose()
    return earn.credit_account_id


async def _tamper(url: str, account_id: int) -> None:
    db = Database(url)
    async with db.transaction() as session:
        await session.execute(text(f"UPDATE ledger_accounts SET debits_pending = 3 WHERE id = {account_id}"))
    await db.dispose()


def test_ledger_verify_command(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("INCENTIVES_ENV", "test")
    account = asyncio.run(_seed(database_url))
    assert main(["ledger", "verify"]) == 0
    asyncio.run(_tamper(database_url, account))
    assert main(["ledger", "verify"]) == 1
    out = capsys.readouterr().out
    assert f"account {account} " in out and "lots say" in out
