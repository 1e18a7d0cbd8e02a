"""What the benchmark scripts share: fresh migrated databases per backend, a program with partners, and a
discarding SMTP server on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

from sqlalchemy import text

from incentives.accounts import services as accounts
from incentives.accounts.models import User
from incentives.accounts.scope import Principal
from incentives.db import Database
from incentives.migrate import upgrade

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")


async def pg_admin(sql: str) -> None:
    db = Database(PG_ADMIN_URL)
    async with db.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(sql))
    await db.dispose()


def databases(backends: list[str], tag: str) -> Iterator[tuple[str, str]]:
    """(backend, url) of a fresh, migrated database per backend; each is removed after its turn."""
    if "sqlite" in backends:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{tmp}/bench.db"
            upgrade(url)
            yield "sqlite", url
    if "postgresql" in backends:
        name = f"incentives_bench_{tag}_{os.getpid()}"
        asyncio.run(pg_admin(f'CREATE DATABASE "{name}"'))
        try:
            url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
            upgrade(url)
            yield "postgresql", url
        finally:
            asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.contextmanager
def smtp_sink() -> Iterator[str]:
    """aiosmtpd's discarding Sink in its own process (not sharing the measured process's CPU); yields its URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", "-c", "aiosmtpd.handlers.Sink"]
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"smtp://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


async def program_with_partners(db: Database, partners: int) -> tuple[int, Principal, list[int]]:
    """A program, its admin, and `partners` gold reseller members serving all of Germany."""
    async with db.transaction() as session:
        boot = await accounts.bootstrap_program(session, program="Bench", email="bench@example.com")
    async with db.reader() as session:
        admin = Principal.of(await session.get_one(User, boot.user_id))
    orgs = []
    for i in range(partners):
        async with db.transaction() as session:
            org = await accounts.create_org(session, admin, name=f"Partner {i}", kind="reseller", country="DE")
        async with db.transaction() as session:
            await accounts.create_membership(
                session,
                admin,
                program_id=boot.program_id,
                org_id=org.id,
                tier="gold",
                competencies=[],
                certifications=[],
                regions=["DE"],
            )
        orgs.append(org.id)
    return boot.program_id, admin, orgs
