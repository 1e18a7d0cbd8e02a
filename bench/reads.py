"""Read paths against lean references of the same queries (issue 20); prints one line per path.

    .venv/bin/python bench/reads.py [--quick] [--backend sqlite|postgresql]

Book: 50k leads, 2k reseller orgs, 10k open offers (200 of them to the measured org), 100k ledger transfers,
leaderboards rebuilt from the ledger. One `incentives serve` process (`--workers 1 --no-access-log`) serves
the app; one uvicorn process serves bench/reads_reference.py, the lean reference; one serves a hello-world app.

The reference answers each path with the *same statements the app ran for it*: this script records them
once, in process, by listening to SQLAlchemy's `before_cursor_execute` on every engine while it calls the real
app, and hands them to the reference, which replays them with the bare driver (sqlite3, asyncpg) and turns the
rows into JSON with orjson or into HTML with one plain Jinja2 template. It skips the API token check (the app
must pay for that, the reference not), so a ratio of 1.0 would mean the app adds nothing to its queries.

Load: `wrk -t2 -c20` for 5 s (2 s with --quick) per path, after a warm-up; p50/p99 from wrk's latency
distribution. Also: the pick-list fragment alone (sequential requests), the app's statement count per path,
and the web process's RSS after the run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pickle
import re
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event, update
from sqlalchemy.engine import Engine

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

import leads as lead_bench  # type: ignore[import-not-found]  # noqa: E402
from _support import databases  # type: ignore[import-not-found]  # noqa: E402

from incentives.accounts import services as accounts  # noqa: E402
from incentives.accounts.models import Program  # noqa: E402
from incentives.config import Settings  # noqa: E402
from incentives.db import Database  # noqa: E402
from incentives.leaderboard.jobs import rebuild  # noqa: E402
from incentives.ledger import services as ledger  # noqa: E402
from incentives.rules.leaderboard_feed import earned_with_credit  # noqa: E402
from incentives.web.app import create_app  # noqa: E402

APP_PORT, REFERENCE_PORT, HELLO_PORT = 8811, 8812, 8813
PASSWORD = lead_bench.PASSWORD


async def build(db: Database, quick: bool) -> dict[str, Any]:
    book: dict[str, Any] = await lead_bench.build(db, 10_000 if quick else 50_000, 2_000, 2_000, focus_offers=200)
    orgs: list[int] = book["org_ids"]
    async with db.transaction() as session:
        await session.execute(update(Program).values(points_expiry_months=24))
    transfers = 20_000 if quick else 100_000
    for batch in range(transfers // 1000):
        awards = [ledger.Award(orgs[i % len(orgs)], 5 + i % 7, f"bench-{batch}-{i}") for i in range(1000)]
        async with db.transaction() as session:
            await ledger.award_batch(session, program_id=book["program_id"], awards=awards)
    await rebuild(db, earned_with_credit, book["program_id"])
    async with db.transaction() as session:
        book["token"] = await accounts.create_token(session, book["admin"], user_id=book["focus_user"])
        book["admin_token"] = await accounts.create_token(session, book["admin"], user_id=book["admin"].user_id)
    return book


def paths(book: dict[str, Any]) -> list[dict[str, Any]]:
    """Each read path: how the app is asked (URL, auth) and what the reference answers it with."""
    program = book["program_id"]
    partner = {"Authorization": f"Bearer {book['token']}"}
    manager = {"Authorization": f"Bearer {book['admin_token']}"}
    fragment = {"HX-Request": "true", "Cookie": f"incentives_session={book['cookie']}"}
    return [
        {"name": "pick-list API (200 items)", "url": "/api/v1/picklist", "headers": partner, "as": "json"},
        {"name": "pick-list fragment (200 items)", "url": "/picklist", "headers": fragment, "as": "html"},
        {"name": "wallet API: points", "url": "/api/v1/points", "headers": partner, "as": "json"},
        {
            "name": "wallet API: transfers",
            "url": f"/api/v1/points/transfers?program_id={program}",
            "headers": partner,
            "as": "json",
        },
        {"name": "wallet page fragment", "url": f"/wallet?program_id={program}", "headers": fragment, "as": "html"},
        {
            "name": "lead list API (manager)",
            "url": f"/api/v1/leads?program_id={program}",
            "headers": manager,
            "as": "json",
        },
        {
            "name": "leaderboard API (SQL)",
            "url": f"/api/v1/leaderboard?program_id={program}&period=month",
            "headers": partner,
            "as": "json",
        },
        {
            "name": "leaderboard fragment (SQL)",
            "url": f"/leaderboard?program_id={program}&period=month",
            "headers": fragment,
            "as": "html",
        },
    ]


def record_statements(book: dict[str, Any], read_paths: list[dict[str, Any]]) -> None:
    """Calls each path through the real app in process and keeps the statements it ran (token check aside)."""
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # TestClient's advice to install httpx2
    from starlette.testclient import TestClient

    seen: list[tuple[str, Any]] = []

    def listen(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if statement.split(None, 1)[0].upper() not in ("BEGIN", "COMMIT", "ROLLBACK"):  # queries only
            seen.append((statement, parameters))

    settings = Settings.from_env()  # run() has pointed DATABASE_URL at the book
    event.listen(Engine, "before_cursor_execute", listen)
    try:
        with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
            for path in read_paths:
                client.get(path["url"], headers=path["headers"])  # warm: prepared statements, caches
                seen.clear()
                response = client.get(path["url"], headers=path["headers"])
                assert response.status_code == 200, (path["url"], response.status_code, response.text[:300])
                path["app_statements"] = len(seen)
                path["statements"] = [
                    (s, list(p) if isinstance(p, (tuple, list)) else p)
                    for s, p in seen
                    if "api_tokens" not in s  # the reference does not authenticate
                ]
    finally:
        event.remove(Engine, "before_cursor_execute", listen)


def log_in(base: str, email: str) -> str:
    with httpx.Client(base_url=base, headers={"Origin": base}) as client:
        page = client.get("/login")
        csrf = page.text.split('name="csrftoken" value="')[1].split('"')[0]
        client.post("/login", data={"email": email, "password": PASSWORD, "csrftoken": csrf})
        # A browser's first page after the login stores the new session's CSRF token in the cookie; without
        # that, every measured request would make a new token (and a different page body).
        client.get("/notifications")
        return str(client.cookies["incentives_session"])


def start(
    command: list[str], env: dict[str, str], port: int, preexec: Callable[[], None] | None = None
) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, preexec_fn=preexec)
    for _ in range(400):
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return process
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing answered on port {port}")


def wrk(url: str, headers: dict[str, str], seconds: int) -> tuple[float, float, float]:
    """Requests/s, p50 and p99 in ms under 20 connections."""
    flags = [arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")]
    subprocess.run(["wrk", "-t2", "-c20", "-d1s", *flags, url], capture_output=True, check=True)  # warm-up
    out = subprocess.run(
        ["wrk", "-t2", "-c20", f"-d{seconds}s", "--latency", *flags, url], capture_output=True, text=True, check=True
    ).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"{url} answered errors under load:\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return rate, _ms(out, "50%"), _ms(out, "99%")


def _ms(out: str, label: str) -> float:
    value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def alone(base: str, path: dict[str, Any], requests: int) -> float:
    timings = []
    with httpx.Client(base_url=base) as client:
        for _ in range(requests + 20):
            begin = time.perf_counter()
            client.get(path["url"], headers=path["headers"]).raise_for_status()
            timings.append((time.perf_counter() - begin) * 1000)
    return sorted(timings[20:])[requests // 2]


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]


def run(backend: str, url: str, quick: bool, show_statements: bool) -> None:
    db = Database(url)
    book = asyncio.run(build(db, quick))
    asyncio.run(db.dispose())
    env = {**os.environ, "DATABASE_URL": url, "SWEEP_INTERVAL_SECONDS": "0", "SECRET_KEY": "b" * 40}
    env.pop("REDIS_URL", None)
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "SWEEP_INTERVAL_SECONDS", "SECRET_KEY")})
    os.environ.pop("REDIS_URL", None)
    app = start(
        [sys.executable, "-m", "incentives.cli", "serve", "--port", str(APP_PORT), "--workers", "1", "--no-access-log"],
        env,
        APP_PORT,
    )
    with tempfile.NamedTemporaryFile("wb", suffix=".pickle", delete=False) as spec:
        try:
            book["cookie"] = log_in(f"http://127.0.0.1:{APP_PORT}", book["focus_email"])
            read_paths = paths(book)
            record_statements(book, read_paths)
            if show_statements:
                for path in read_paths:
                    print(f"{path['name']}: {path['app_statements']} statements")
                    for statement, _ in path["statements"]:
                        print("   ", " ".join(statement.split())[:400])
                return
            pickle.dump({"url": url, "paths": read_paths}, spec)
            spec.flush()
            uvicorn = [sys.executable, "-m", "uvicorn", "--log-level", "warning", "--no-access-log"]
            reference = start(
                [*uvicorn, "--port", str(REFERENCE_PORT), "--factory", "reads_reference:create"],
                {**env, "READS_SPEC": spec.name, "PYTHONPATH": str(BENCH)},
                REFERENCE_PORT,
            )
            hello = start(
                [*uvicorn, "--port", str(HELLO_PORT), "--factory", "reads_reference:hello"],
                {**env, "PYTHONPATH": str(BENCH)},
                HELLO_PORT,
            )
            try:
                report(backend, read_paths, quick, app.pid)
            finally:
                reference.terminate()
                hello.terminate()
                reference.wait()
                hello.wait()
        finally:
            app.terminate()
            app.wait()
            os.unlink(spec.name)


def report(backend: str, read_paths: list[dict[str, Any]], quick: bool, app_pid: int) -> None:
    seconds = 2 if quick else 5
    app_base, reference_base = f"http://127.0.0.1:{APP_PORT}", f"http://127.0.0.1:{REFERENCE_PORT}"
    hello_rate, _, _ = wrk(f"http://127.0.0.1:{HELLO_PORT}/", {}, seconds)
    print(f"{backend}: hello-world Starlette {hello_rate:,.0f} req/s")
    for index, path in enumerate(read_paths):
        rate, p50, p99 = wrk(app_base + path["url"], path["headers"], seconds)
        ref_rate, ref_p50, ref_p99 = wrk(f"{reference_base}/{index}", {}, seconds)
        print(
            f"  {path['name']}: app {rate:,.0f} req/s (p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
            f"{path['app_statements']} statements) | reference {ref_rate:,.0f} req/s (p50 {ref_p50:.1f} ms, "
            f"p99 {ref_p99:.1f} ms) | app/reference {rate / ref_rate:.0%}"
        )
    fragment = read_paths[1]
    print(f"  pick-list fragment alone: p50 {alone(app_base, fragment, 100 if quick else 400):.1f} ms")
    print(f"  web process RSS after the run: {rss_mb(app_pid):.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smaller book and 2 s per load run")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], action="append")
    parser.add_argument("--statements", action="store_true", help="print the statements of each path, no load")
    args = parser.parse_args()
    for backend, url in databases(args.backend or ["sqlite", "postgresql"], "reads"):
        run(backend, url, args.quick, args.statements)


if __name__ == "__main__":
    main()
