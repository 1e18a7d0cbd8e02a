"""Periodic sweeps: every due job of every domain, driven by database timestamps and idempotent.

Each domain registers its sweeps with `@sweep("name")` in its own `jobs.py`, listed in SWEEP_MODULES.
`incentives sweep` runs them all once; without Redis the web app runs them in-process on a timer.
A missed run only delays work and a doubled run changes nothing, because each sweep selects what is
due from the database and changes it with conditional updates.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import logging
from collections.abc import Awaitable, Callable

from incentives.db import Database, utcnow

log = logging.getLogger(__name__)

SweepFn = Callable[[Database, dt.datetime], Awaitable[int]]
# Domain modules whose import registers sweeps (add one line per domain).
SWEEP_MODULES: list[str] = ["incentives.leads.jobs"]
_SWEEPS: dict[str, SweepFn] = {}


def sweep(name: str) -> Callable[[SweepFn], SweepFn]:
    """Register a sweep: an async function (db, now) -> number of things it changed."""

    def register(fn: SweepFn) -> SweepFn:
        _SWEEPS[name] = fn
        return fn

    return register


def registered() -> dict[str, SweepFn]:
    for module in SWEEP_MODULES:
        importlib.import_module(module)
    return dict(_SWEEPS)


async def run_sweeps(db: Database, now: dt.datetime | None = None) -> dict[str, int]:
    """Run every registered sweep once. One failing sweep is logged and does not stop the others."""
    now = now or utcnow()
    results: dict[str, int] = {}
    for name, fn in registered().items():
        try:
            results[name] = await fn(db, now)
        except Exception:
            log.exception("sweep %s failed", name)
            results[name] = -1
    return results


async def sweep_forever(db: Database, interval_seconds: float) -> None:
    """The in-process scheduler used when there is no Redis: sweep, sleep, repeat until cancelled."""
    while True:
        await run_sweeps(db)
        await asyncio.sleep(interval_seconds)
