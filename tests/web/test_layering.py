"""The web layer parses input, calls a domain service or query and renders: it builds no SQL of its own."""

from __future__ import annotations

import ast
from pathlib import Path

import incentives.web

WEB = Path(incentives.web.__file__).parent
# What the web may take from SQLAlchemy: the session's type for helpers, and the app's start-up mapper check.
ALLOWED = {("sqlalchemy.ext.asyncio", "AsyncSession"), ("sqlalchemy.orm", "configure_mappers")}
SESSION_QUERIES = {"execute", "scalar", "scalars", "get", "get_one", "stream", "stream_scalars"}


def _modules() -> list[tuple[str, ast.Module]]:
    return [(str(path.relative_to(WEB)), ast.parse(path.read_text())) for path in sorted(WEB.rglob("*.py"))]


def test_web_imports_nothing_from_sqlalchemy_but_the_session_type() -> None:
    found = []
    for name, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [(name, alias.name) for alias in node.names if alias.name.split(".")[0] == "sqlalchemy"]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy":
                found += [(name, f"{node.module}.{a.name}") for a in node.names if (node.module, a.name) not in ALLOWED]
    assert found == [], "move the SQL into a domain's queries.py or services.py"


def test_web_runs_no_statement_on_a_session() -> None:
    found = []
    for name, tree in _modules():
        for node in ast.walk(tree):
            call = node.value if isinstance(node, ast.Await) else None  # an AsyncSession's reads are awaited
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and call.func.attr in SESSION_QUERIES
                and isinstance(call.func.value, ast.Name)
                and call.func.value.id == "session"
            ):
                found.append((name, call.lineno, call.func.attr))
    assert found == [], "move the SQL into a domain's queries.py or services.py"
