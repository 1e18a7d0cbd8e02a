"""Faults injected while the mixed load runs (bench/load/run.py --faults), one after the other, bounded:

1. SIGKILL the worker in the middle of its work, and start a new one (as a supervisor would);
2. SIGKILL one web process (uvicorn's supervisor starts a new one by itself);
3. SIGKILL the bench's private Redis (port 6390, no persistence: every queued job and board is gone) and start
   it again (as a supervisor would): the sweeps re-enqueue what is due, the boards are marked stale and rebuilt;
4. stop the bench's SMTP server (connections refused) for 5 s, then start it again;
5. make the database refuse connections for 5 s: the app reaches PostgreSQL through a TCP proxy of this
   script, which drops every connection and refuses new ones, then accepts again.

After each fault the service must answer again by itself: the time until the wallet answers 200 again is
printed. The books are checked after the run (checks.py). Nothing here touches the shared PostgreSQL or Redis.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx


class TcpProxy:
    """127.0.0.1:`port` → `target`, in a thread of its own; `refuse(seconds)` closes every connection and the
    listening socket for that long."""

    def __init__(self, port: int, target: tuple[str, int]) -> None:
        self.port, self.target = port, target
        self.loop = asyncio.new_event_loop()
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self._call(self._listen())

    def _call(self, coroutine: object) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)  # type: ignore[arg-type]

    async def _listen(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.close()
                self.writers.discard(sink)

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def _close(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.writers):
            writer.transport.abort()  # a reset, as when the database server goes away
        self.writers.clear()

    def refuse(self, seconds: float) -> None:
        self._call(self._close())
        time.sleep(seconds)
        self._call(self._listen())


def recovery(base: str, token: str, limit: float = 60.0) -> float:
    """Seconds until GET /api/v1/points answers 200 again (requests every 0.1 s, at most `limit` s)."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        try:
            if httpx.get(f"{base}/api/v1/points", headers={"Authorization": f"Bearer {token}"}, timeout=5).is_success:
                return time.monotonic() - start
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    return float("inf")


def web_children(supervisor_pid: int) -> list[int]:
    """The pids of uvicorn's web processes under its supervisor (spawned by multiprocessing; not its resource
    tracker)."""
    children = Path(f"/proc/{supervisor_pid}/task/{supervisor_pid}/children").read_text().split()
    return [int(pid) for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def inject(
    stack: object,  # run.Stack: the processes of the run (kept untyped: run.py imports this module)
    base: str,
    token: str,
    spacing: float,
    log: Callable[[str], None],
) -> list[str]:
    """Inject the five faults `spacing` s apart; what did not heal by itself within a minute."""
    problems: list[str] = []
    s = stack

    def heal(name: str) -> None:
        took = recovery(base, token)
        log(f"  fault {name}: the service answered again after {took:.1f} s")
        if took == float("inf"):
            problems.append(f"{name}: the service did not answer within 60 s")

    time.sleep(spacing)
    victim = s.workers[0]  # type: ignore[attr-defined]
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    s.workers[0] = s.start_worker(cron=True)  # type: ignore[attr-defined]
    heal("worker SIGKILLed mid-batch and started again")

    time.sleep(spacing)
    web = web_children(s.web.pid)  # type: ignore[attr-defined]
    os.kill(web[0], signal.SIGKILL)
    heal(f"web process {web[0]} SIGKILLed (of {len(web)})")
    time.sleep(2)
    after = web_children(s.web.pid)  # type: ignore[attr-defined]
    if len(after) < len(web):
        problems.append(f"uvicorn did not replace the killed web process ({len(after)} of {len(web)} left)")
    log(f"  web processes after the kill: {len(after)} of {len(web)}")

    time.sleep(spacing)
    s.restart_redis()  # type: ignore[attr-defined]
    heal("Redis killed (its jobs and boards lost) and started again")

    time.sleep(spacing)
    s.smtp.terminate()  # type: ignore[attr-defined]
    s.smtp.wait()  # type: ignore[attr-defined]
    time.sleep(5)
    s.smtp = s.start_smtp()  # type: ignore[attr-defined]
    heal("SMTP refused connections for 5 s")

    time.sleep(spacing)
    s.proxy.refuse(5)  # type: ignore[attr-defined]
    heal("PostgreSQL refused connections for 5 s")
    return problems
