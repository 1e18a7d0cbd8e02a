"""Security headers on every response, pages, API, static files and errors; HSTS only in production."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import httpx
import pytest

from incentives.config import Settings
from incentives.web.headers import CSP
from tests.conftest import page_client, run_server

SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # headers do not touch the database
TEMPLATES = Path(__file__).parents[2] / "incentives" / "web" / "templates"


def assert_secured(response: httpx.Response) -> None:
    headers = response.headers
    assert headers["content-security-policy"] == CSP, response.url
    assert (
        "frame-ancestors 'none'" in CSP
        and "script-src 'self'" in CSP
        and "unsafe-inline" not in CSP.split("style-src-attr")[0]
    )
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert "camera=()" in headers["permissions-policy"]


@SQLITE_ONLY
async def test_every_kind_of_response_carries_the_headers(http: httpx.AsyncClient) -> None:
    for path in ("/login", "/dashboard", "/api/v1/openapi.json", "/api/v1/leads", "/static/app.css", "/nowhere"):
        response = await http.get(path)
        assert_secured(response)
        assert "strict-transport-security" not in response.headers
    assert_secured(await http.post("/api/v1/orgs", json={}))  # 401 problem


@SQLITE_ONLY
async def test_production_adds_hsts(settings: Settings) -> None:
    production = dataclasses.replace(settings, environment="production")
    for base_url in run_server(production):
        async with page_client(base_url) as client:
            response = await client.get("/login")
            assert_secured(response)
            assert response.headers["strict-transport-security"].startswith("max-age=")


def test_templates_have_no_inline_scripts_or_handlers() -> None:
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text()
        for script in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in script, template
        assert not re.search(r"\son[a-z]+=", text), template  # onclick= and friends
        assert "hx-on" not in text and "javascript:" not in text, template
