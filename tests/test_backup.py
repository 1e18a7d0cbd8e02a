"""Backups taken online and restored (`incentives db backup` / `restore`), on both databases; and a database
written by the previous release (schema 0015, the demo) upgrades to the current schema with its books intact."""

from __future__ import annotations

import asyncio
import gzip
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select, text

from incentives.db import Database
from incentives.leads.models import Lead
from incentives.ledger import queries
from incentives.ledger import services as ledger
from incentives.ledger.models import LedgerTransfer as Transfer
from incentives.migrate import upgrade
from incentives.notifications.models import Notification, PushCursor
from tests.conftest import PG_ADMIN_URL
from tests.factories import make_program
from tests.leads.helpers import make_reseller

DATA = Path(__file__).parent / "data"


def cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    env.pop("REDIS_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "incentives.cli", *args], env=env, capture_output=True, text=True, check=False
    )


async def award(db: Database, program_id: int, org_id: int, points: int, key: str) -> None:
    async with db.transaction() as session:
        await ledger.award_batch(session, program_id=program_id, awards=[ledger.Award(org_id, points, key)])


async def balance(db: Database, program_id: int, org_id: int) -> int:
    async with db.reader() as session:
        return (await queries.balance(session, program_id, org_id)).available


async def test_a_restore_brings_back_the_books_as_they_were_at_the_backup(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    world = await make_program(db)
    rep = await make_reseller(db, world)
    for n in range(3):
        await award(db, world.program_id, rep.org_id, 10 + n, f"before-{n}")
    copy = tmp_path / "incentives.backup"
    done = await asyncio.to_thread(cli, database_url, "db", "backup", str(copy))
    assert done.returncode == 0, done.stderr
    again = await asyncio.to_thread(cli, database_url, "db", "backup", str(copy))
    assert again.returncode == 1 and "exists already" in again.stderr  # never overwrites a backup

    await award(db, world.program_id, rep.org_id, 500, "after")
    assert await balance(db, world.program_id, rep.org_id) == 533
    await db.dispose()  # as the service is stopped for a restore
    done = await asyncio.to_thread(cli, database_url, "db", "restore", str(copy))
    assert done.returncode == 0, done.stderr
    assert await balance(db, world.program_id, rep.org_id) == 33
    verified = await asyncio.to_thread(cli, database_url, "ledger", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


async def test_a_restore_refuses_what_is_not_a_backup(database_url: str, tmp_path: Path) -> None:
    done = await asyncio.to_thread(cli, database_url, "db", "restore", str(tmp_path / "missing"))
    assert done.returncode == 1 and "is not a backup file" in done.stderr


async def check_upgraded_books(url: str) -> None:
    db = Database(url)
    try:
        async with db.reader() as session:
            leads = await session.scalar(select(func.count()).select_from(Lead))
            transfers = await session.scalar(select(func.count()).select_from(Transfer))
            newest = await session.scalar(select(func.max(Notification.id)))
            cursor = await session.scalar(select(PushCursor.last_id))
            head = await session.scalar(text("SELECT version_num FROM alembic_version"))
    finally:
        await db.dispose()
    assert (leads, transfers) == (60, 85)  # what the previous release's demo wrote
    assert cursor == newest  # nothing from before the upgrade is pushed
    assert head is not None and head > "0015"
    verified = await asyncio.to_thread(cli, url, "ledger", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


async def test_a_sqlite_database_of_the_previous_release_upgrades_with_its_books(tmp_path: Path) -> None:
    path = tmp_path / "release.db"
    path.write_bytes(gzip.decompress((DATA / "release-0015-demo.sqlite.gz").read_bytes()))
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(upgrade, url)
    await check_upgraded_books(url)


async def test_a_postgresql_database_of_the_previous_release_upgrades_with_its_books() -> None:
    name = f"incentives_release_{os.getpid()}"
    admin = Database(PG_ADMIN_URL)
    async with admin.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        dump = gzip.decompress((DATA / "release-0015-demo.postgresql.sql.gz").read_bytes()).decode()
        loaded = await asyncio.to_thread(
            subprocess.run,
            ["psql", "--quiet", "--set=ON_ERROR_STOP=1", url.replace("+asyncpg", "")],
            input=dump,
            capture_output=True,
            text=True,
            check=False,
        )
        assert loaded.returncode == 0, loaded.stderr
        await asyncio.to_thread(upgrade, url)
        await check_upgraded_books(url)
    finally:
        async with admin.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
