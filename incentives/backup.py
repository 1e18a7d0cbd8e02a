"""`incentives db backup` and `incentives db restore`: a consistent copy of the whole database, taken online.

SQLite: the library's online backup API copies the file page by page while the app keeps running (WAL readers
and writers are not blocked; the copy is one consistent snapshot). PostgreSQL: `pg_dump --format=custom` (one
snapshot, the app keeps running) and `pg_restore --clean` into the target. A restore replaces everything in the
target database: stop the web processes and workers first. After a restore, `incentives db upgrade` brings an
older backup to the current schema.
"""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url


class BackupError(RuntimeError):
    """The backup or restore could not be made; the message says why."""


def _sqlite_path(database_url: str) -> Path:
    database = make_url(database_url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database has nothing to back up")
    return Path(database)


def _libpq_url(database_url: str) -> str:
    """The URL as pg_dump and pg_restore take it (no SQLAlchemy driver name)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def _run(command: list[str]) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - our own arguments
    except FileNotFoundError as exc:
        raise BackupError(f"{command[0]} is not installed (PostgreSQL's client tools are needed)") from exc
    if done.returncode != 0:
        raise BackupError(f"{command[0]} failed: {done.stderr.strip()}")


def backup(database_url: str, target: Path) -> None:
    """Write a consistent copy of the database to `target` (a new file)."""
    if target.exists():
        raise BackupError(f"{target} exists already: choose a new file")
    if database_url.startswith("sqlite"):
        source = _sqlite_path(database_url)
        if not source.exists():
            raise BackupError(f"{source} does not exist")
        with sqlite3.connect(source) as live, sqlite3.connect(target) as copy:
            live.backup(copy)
        return
    _run(["pg_dump", "--format=custom", "--no-owner", f"--file={target}", _libpq_url(database_url)])


def restore(database_url: str, source: Path) -> None:
    """Replace the database's content with the backup in `source`."""
    if not source.is_file():
        raise BackupError(f"{source} is not a backup file")
    if database_url.startswith("sqlite"):
        with sqlite3.connect(source) as saved, sqlite3.connect(_sqlite_path(database_url)) as live:
            saved.backup(live)
        return
    _run(
        [
            "pg_restore",
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            f"--dbname={_libpq_url(database_url)}",
            str(source),
        ]
    )
