"""The lean reference of bench/reads.py: the statements the app ran for a read path, replayed with the bare
driver (stdlib sqlite3 or asyncpg), rows to JSON with orjson or to HTML with one plain Jinja2 template; and a
hello-world app. Served by uvicorn: `uvicorn --factory reads_reference:create` (READS_SPEC names the pickled
paths) or `reads_reference:hello`.
"""

from __future__ import annotations

import os
import pickle
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import jinja2
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

CARDS = jinja2.Environment(autoescape=True).from_string(
    '{% for rows in results %}{% for row in rows %}<article class="card">'
    '{% for name, value in row.items() %}<span class="{{ name }}">{{ value }}</span>{% endfor %}'
    "</article>{% endfor %}{% endfor %}"
)


def create() -> Starlette:
    spec = pickle.loads(Path(os.environ["READS_SPEC"]).read_bytes())
    url: str = spec["url"]
    state: dict[str, Any] = {}
    if url.startswith("sqlite"):
        connection = sqlite3.connect(url.split(":///", 1)[1], check_same_thread=False)
        connection.row_factory = sqlite3.Row

        async def rows_of(statement: str, parameters: Any) -> list[dict[str, Any]]:
            return [dict(row) for row in connection.execute(statement, parameters).fetchall()]

    else:

        async def rows_of(statement: str, parameters: Any) -> list[dict[str, Any]]:
            async with state["pool"].acquire() as conn:
                return [dict(row) for row in await conn.fetch(statement, *parameters)]

    def handler(path: dict[str, Any]) -> Callable[[Request], Awaitable[Response]]:
        async def answer(request: Request) -> Response:
            results = [await rows_of(statement, parameters) for statement, parameters in path["statements"]]
            if path["as"] == "html":
                return HTMLResponse(CARDS.render(results=results))
            return Response(orjson.dumps({"results": results}, default=str), media_type="application/json")

        return answer

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if not url.startswith("sqlite"):
            dsn = url.replace("postgresql+asyncpg", "postgresql")
            state["pool"] = await asyncpg.create_pool(dsn, min_size=10, max_size=10)
        yield
        if "pool" in state:
            await state["pool"].close()

    routes = [Route(f"/{index}", handler(path)) for index, path in enumerate(spec["paths"])]
    routes.append(Route("/", lambda request: PlainTextResponse("ok")))
    return Starlette(routes=routes, lifespan=lifespan)


def hello() -> Starlette:
    async def root(request: Request) -> Response:
        return PlainTextResponse("Hello, world!")

    return Starlette(routes=[Route("/", root)])
