"""A real HTTP receiver on loopback for webhook tests: answers with scripted statuses and keeps what it received."""

from __future__ import annotations

import datetime as dt
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from incentives.db import Database, utcnow
from incentives.webhooks import services
from incentives.webhooks.outbox import Event, emit
from tests.factories import ProgramWorld


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    answers: list[int] = field(default_factory=list)  # statuses to answer, in order; 204 once used up
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer_next(self) -> int:
        with self.lock:
            return self.answers.pop(0) if self.answers else 204


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    port = free_port()
    receiver = Receiver(url=f"http://127.0.0.1:{port}/hook")

    async def hook(request: Request) -> Response:
        body = await request.body()
        with receiver.lock:
            receiver.received.append(Received(dict(request.headers), body))
        status = receiver.answer_next()
        return PlainTextResponse("" if status == 204 else "ok", status_code=status)

    async def moved(request: Request) -> Response:
        return RedirectResponse(f"http://127.0.0.1:{port}/hook", status_code=307)

    app = Starlette(routes=[Route("/hook", hook, methods=["POST"]), Route("/moved", moved, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("receiver did not start")
        threading.Event().wait(0.01)
    try:
        yield receiver
    finally:
        server.should_exit = True
        thread.join(timeout=10)


async def subscribe(db: Database, world: ProgramWorld, url: str, events: list[str]) -> tuple[int, str]:
    """An endpoint of the program for `events`: (id, secret)."""
    async with db.transaction() as session:
        endpoint, secret = await services.create_endpoint(
            session, world.admin.principal, program_id=world.program_id, url=url, events=events, allow_private=True
        )
    return endpoint.id, secret


async def emit_points(db: Database, world: ProgramWorld, count: int = 1, at: dt.datetime | None = None) -> int:
    """`count` made-up points.awarded events of the program, written as the domains write them."""
    when = at or utcnow()
    async with db.transaction() as session:
        return await emit(
            session,
            [Event(world.program_id, "points.awarded", when, {"n": n, "points": 10}) for n in range(count)],
        )
