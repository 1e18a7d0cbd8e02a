"""The `incentives` command as a user runs it: db upgrade, bootstrap (API.md's one JSON line), demo."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from incentives.db import Database
from incentives.leads.models import Lead
from incentives.rules.models import Rule


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "incentives.cli", *args], env=env, capture_output=True, text=True)


@pytest.fixture
def fresh_env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db"}


def test_upgrade_then_bootstrap_prints_one_json_line(fresh_env: dict[str, str]) -> None:
    assert run(fresh_env, "db", "upgrade").returncode == 0
    done = run(fresh_env, "bootstrap", "--program", "Nordlicht", "--email", "Chef@Nordlicht.example")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert set(result) == {"program_id", "user_id", "token"} and result["token"].startswith("inc_")
    again = run(fresh_env, "bootstrap", "--program", "Nordlicht", "--email", "zwei@nordlicht.example")
    assert again.returncode == 1 and "already exists" in again.stderr
    bad = run(fresh_env, "bootstrap", "--program", "X", "--email", "not-an-email")
    assert bad.returncode == 2 and "invalid e-mail" in bad.stderr


async def test_a_bootstrapped_program_starts_with_the_default_rules(fresh_env: dict[str, str]) -> None:
    run(fresh_env, "db", "upgrade")
    result = json.loads(run(fresh_env, "bootstrap", "--program", "P", "--email", "a@p.example").stdout)
    db = Database(fresh_env["DATABASE_URL"])
    try:
        async with db.reader() as session:
            rules = await session.scalar(
                select(func.count()).select_from(Rule).where(Rule.program_id == result["program_id"])
            )
        assert rules and rules > 0
    finally:
        await db.dispose()


def test_production_refuses_the_default_secret(fresh_env: dict[str, str]) -> None:
    done = run({**fresh_env, "INCENTIVES_ENV": "production"}, "db", "upgrade")
    assert done.returncode == 2 and "SECRET_KEY" in done.stderr


def test_demo_creates_leads_in_every_state_once(fresh_env: dict[str, str]) -> None:
    run(fresh_env, "db", "upgrade")
    first = run(fresh_env, "demo")
    assert first.returncode == 0, first.stderr
    assert "admin@helios.example" in first.stdout and "demo-passwort-2026" in first.stdout
    assert run(fresh_env, "demo").returncode == 0  # a second run only lists the logins

    async def states() -> set[str]:
        db = Database(fresh_env["DATABASE_URL"])
        async with db.reader() as session:
            found = set((await session.scalars(select(Lead.status).distinct())).all())
            total = await session.scalar(select(func.count()).select_from(Lead))
        await db.dispose()
        assert total == 60
        return found

    assert asyncio.run(states()) == {"new", "qualified", "offered", "reserved", "won", "lost", "unclaimed"}
