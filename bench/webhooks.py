"""Webhooks benchmark on SQLite and PostgreSQL: deliveries per second of one sender to a local receiver.

Run: `.venv/bin/python bench/webhooks.py [--quick] [--backend sqlite|postgresql]`. Creates its own databases,
writes N deliveries through the outbox (as the domains do) and times one `deliver_due` run: claims, signed POSTs
(50 at a time) and the recorded outcomes. The receiver is a minimal Starlette app on uvicorn in its own process,
so it does not share the sender's CPU time under the GIL.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _support import databases, program_with_partners  # type: ignore[import-not-found]

from incentives.db import Database, utcnow
from incentives.webhooks import services
from incentives.webhooks.jobs import deliver_due
from incentives.webhooks.outbox import Event, emit

RECEIVER = """
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

async def hook(request):
    await request.body()
    return Response(status_code=204)

app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_receiver(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    (tmp / "bench_receiver.py").write_text(RECEIVER)
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench_receiver:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=tmp,
    )
    url = f"http://127.0.0.1:{port}/hook"
    for _ in range(200):
        try:
            httpx.post(url, content=b"{}")
            return process, url
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError("the receiver did not start")


async def run(url: str, receiver: str, count: int) -> float:
    db = Database(url)
    try:
        program_id, admin, orgs = await program_with_partners(db, 1)
        async with db.transaction() as session:
            await services.create_endpoint(
                session, admin, program_id=program_id, url=receiver, events=["points.awarded"], allow_private=True
            )
        now = utcnow()
        for start in range(0, count, 1000):
            async with db.transaction() as session:
                await emit(
                    session,
                    [
                        Event(program_id, "points.awarded", now, {"transfer_id": n, "org_id": orgs[0], "points": 10})
                        for n in range(start, min(start + 1000, count))
                    ],
                )
        began = time.perf_counter()
        sent = await deliver_due(db, now)
        took = time.perf_counter() - began
        assert sent == count, sent
        return count / took
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    count = 1000 if args.quick else 5000
    backends = [args.backend] if args.backend else ["sqlite", "postgresql"]
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        process, receiver = start_receiver(Path(tmp))
        try:
            for backend, url in databases(backends, "webhooks"):
                rate = asyncio.run(run(url, receiver, count))
                print(f"{backend:10} {count} deliveries, one sender: {rate:,.0f} deliveries/s")
        finally:
            process.terminate()
            process.wait(timeout=10)


if __name__ == "__main__":
    main()
