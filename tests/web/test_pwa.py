"""The installable app: manifest and service worker served and translated, the offline page from the worker's
cache when the network is gone, the push switch shown only where Web Push is configured."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import httpx
import pytest
from playwright.async_api import async_playwright, expect

from incentives.config import Settings
from incentives.db import Database
from incentives.notifications.push import PushKeys, new_private_key
from incentives.web.static_files import static_url
from tests.conftest import run_server
from tests.factories import make_program
from tests.leads.helpers import make_reseller
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS, log_in

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


async def test_manifest_worker_and_offline_page_are_served_in_the_readers_language(http: httpx.AsyncClient) -> None:
    english = (await http.get("/manifest.webmanifest", headers={"Accept-Language": "en"})).json()
    german = (await http.get("/manifest.webmanifest", headers={"Accept-Language": "de"})).json()
    assert english["name"] == "Partner incentives" and german["name"] != english["name"]
    assert german["lang"] == "de" and english["display"] == "standalone" and english["start_url"].startswith("/")
    sizes = {icon["sizes"] for icon in english["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in english["icons"]:
        assert (await http.get(icon["src"])).headers["content-type"] == "image/png"

    worker = await http.get("/sw.js")
    assert worker.headers["content-type"].startswith("text/javascript")
    assert worker.headers["cache-control"] == "no-cache"
    assert static_url("app.css") in worker.text and '"/offline"' in worker.text

    offline = await http.get("/offline", headers={"Accept-Language": "de"})
    assert offline.status_code == 200 and "Sie sind offline" in offline.text


@pytest.fixture
def push_server(settings: Settings) -> Iterator[str]:
    yield from run_server(dataclasses.replace(settings, vapid_private_key=new_private_key()))


@pytest.mark.browser
async def test_the_worker_installs_and_serves_the_offline_page_when_the_network_is_gone(
    db: Database, push_server: str
) -> None:
    world = await make_program(db)
    rep = await make_reseller(db, world)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context(locale="en-GB", viewport={"width": 390, "height": 844})
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await log_in(page, push_server, rep.email)
        await page.goto(f"{push_server}/notifications")
        scope = await page.evaluate("navigator.serviceWorker.ready.then((r) => r.scope)")
        assert scope == f"{push_server}/"
        cached = await page.evaluate(
            "caches.keys().then((names) => caches.open(names[0])).then((c) => c.keys())"
            ".then((requests) => requests.map((r) => new URL(r.url).pathname))"
        )
        assert "/offline" in cached and static_url("app.css") in cached
        # Web Push is configured on this server: the switch shows where the browser can push.
        await expect(page.get_by_role("button", name="Turn on push notifications")).to_be_visible()

        await context.set_offline(True)
        await page.goto(f"{push_server}/leaderboard")
        await expect(page.get_by_role("heading", name="You are offline")).to_be_visible()
        assert errors == []
        await browser.close()


async def test_without_vapid_keys_no_push_switch_is_offered(db: Database, http: httpx.AsyncClient) -> None:
    assert PushKeys(new_private_key(), "mailto:x@y.z").public_key  # keys can be made; this server has none
    page = await http.get("/notifications")
    assert "data-push-key" not in page.text
