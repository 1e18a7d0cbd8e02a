"""Shared fixtures: a real database per test (SQLite and PostgreSQL), a real server over real HTTP."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import text
from starlette.routing import BaseRoute
from starlette.types import ASGIApp

import incentives.models  # noqa: F401 - every table on the metadata
from incentives.config import Settings
from incentives.db import Base, Database
from incentives.migrate import upgrade
from incentives.web.app import create_app

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file; each test gets a copy (faster than migrating per test)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A PostgreSQL database of this test run's own, migrated once and dropped at the end."""
    name = f"incentives_test_{os.getpid()}"
    base = PG_ADMIN_URL.rsplit("/", 1)[0]

    async def admin(sql: str) -> None:
        db = Database(PG_ADMIN_URL)
        async with db.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(sql))
        await db.dispose()

    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}"'))
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = f"{base}/{name}"
    upgrade(url)
    yield url
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "test.db"
        shutil.copy(template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    url: str = request.getfixturevalue("pg_url")
    yield url
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)

    async def truncate() -> None:
        db = Database(url)
        async with db.engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        await db.dispose()

    asyncio.run(truncate())


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest.fixture
def settings(database_url: str) -> Settings:
    # Tests run sweeps explicitly, with a chosen clock; no timer in the background. Connections are opened on
    # demand (test_app_opens_its_connections_at_start_up checks the warm-up).
    return Settings(
        database_url=database_url,
        environment="test",
        secret_key="test-secret-" + "x" * 32,
        sweep_interval_seconds=0,
        warm_connections=0,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run_server(
    settings: Settings,
    extra_routes: list[BaseRoute] | None = None,
    wrap: Callable[[ASGIApp], ASGIApp] | None = None,
) -> Iterator[str]:
    """Serve the real app on uvicorn in a thread, on a free loopback port; yields its base URL. `wrap`, when
    given, wraps the app (a test's ASGI middleware)."""
    app = create_app(settings)
    app.router.routes.extend(extra_routes or [])
    port = _free_port()
    served = app if wrap is None else wrap(app)
    config = uvicorn.Config(served, host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="on")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(1000):
        if srv.started:
            break
        if not thread.is_alive():
            raise RuntimeError("server did not start")
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    yield from run_server(settings)


def page_client(base_url: str | httpx.URL, **options: Any) -> httpx.AsyncClient:
    """A client that posts to the pages as a browser on them does: with their Origin (see web/csrf.py)."""
    url = httpx.URL(str(base_url))
    origin = f"{url.scheme}://{url.netloc.decode('ascii')}"
    return httpx.AsyncClient(base_url=url, headers={"Origin": origin}, **options)


@pytest.fixture
async def http(server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with page_client(server, timeout=30) as client:
        yield client
