"""Screenshots of the pages in German and English, desktop and phone width, on fresh demo data.

Usage: .venv/bin/python scripts/screenshots.py [OUT_DIR] [NAME,NAME...]   (default: screenshots/, every page)
"""

from __future__ import annotations

import asyncio
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from playwright.async_api import async_playwright, expect

from incentives.config import Settings
from incentives.db import Database
from incentives.demo import PASSWORD, create_demo
from incentives.migrate import upgrade
from incentives.notifications.push import new_private_key
from incentives.web.app import create_app

# Pages shot after a click: the button, and what must have appeared.
CLICKS = {"program-settings-preview": ("#weights-preview-button", "#weights-preview section")}
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
PAGES = [  # (name, login e-mail or None, path)
    ("login", None, "/login"),
    ("password-forgot", None, "/password/forgot"),
    ("password-link-gone", None, "/password/reset/not-a-link"),
    ("dashboard-admin", "admin@helios.example", "/dashboard"),
    ("dashboard-distributor", "distributor@egs.example", "/dashboard"),
    ("dashboard-reseller", "manager@reseller01.example", "/dashboard"),
    ("dashboard-rep", "rep@reseller02.example", "/dashboard"),
    ("not-found", None, "/nothing-here"),
    ("picklist", "rep@reseller01.example", "/picklist"),
    ("my-leads", "rep@reseller01.example", "/leads/mine"),
    ("leads-manager", "pam@helios.example", "/leads"),
    ("lead-detail-manager", "pam@helios.example", "/leads/30"),
    ("lead-new", "agentur@leadwerk.example", "/leads/new"),
    ("lead-import", "pam@helios.example", "/leads/import"),
    ("campaigns", "pam@helios.example", "/rules/campaigns"),
    ("campaign-edit", "pam@helios.example", "/rules/campaigns/1"),
    ("rule-problems", "pam@helios.example", "/rules/problems"),
    ("farming-report", "pam@helios.example", "/rules/farming"),
    ("point-adjustments", "admin@helios.example", "/points/adjustments"),
    ("reward-catalog-admin", "admin@helios.example", "/rewards/manage"),
    ("reward-item-new", "admin@helios.example", "/rewards/new"),
    ("reward-item-edit", "admin@helios.example", "/rewards/1/edit"),
    ("approvals", "pam@helios.example", "/approvals"),
    ("wallet", "manager@reseller01.example", "/wallet"),
    ("rewards-reseller", "manager@reseller01.example", "/rewards"),
    ("notifications", "rep@reseller01.example", "/notifications"),
    ("how-to-earn", "rep@reseller01.example", "/points/earn"),
    ("lead-qualify", "pam@helios.example", "/leads/1"),
    ("lead-offer", "pam@helios.example", "/leads/6"),
    ("program-settings", "admin@helios.example", "/settings"),
    ("program-settings-preview", "admin@helios.example", "/settings"),
    ("api-tokens", "pam@helios.example", "/tokens"),
    ("rule-edit", "pam@helios.example", "/rules/1"),
    ("reward-catalog-pam", "pam@helios.example", "/rewards/manage"),
    ("leaderboard-reseller", "manager@reseller01.example", "/leaderboard?period=all"),
    ("leaderboard-admin", "admin@helios.example", "/leaderboard?period=all"),
    ("webhooks", "admin@helios.example", "/webhooks"),
    ("achievements-reseller", "rep@reseller01.example", "/achievements"),
    ("achievements-manage", "pam@helios.example", "/achievements/manage"),
    ("notifications", "rep@reseller01.example", "/notifications"),
    ("offline", None, "/offline"),
    ("kpis-manager", "pam@helios.example", "/kpis"),
    ("kpis-distributor", "distributor@egs.example", "/kpis"),
    ("network", "distributor@egs.example", "/network"),
    ("team", "manager@reseller01.example", "/team?period=quarter"),
    ("kpis-reseller", "manager@reseller01.example", "/kpis"),
    ("partners-admin", "admin@helios.example", "/partners"),
    ("partners-pam", "pam@helios.example", "/partners"),
    ("partner-new", "admin@helios.example", "/partners/new"),
    ("partner-detail", "admin@helios.example", "/partners/4"),
    ("partner-detail-pam", "pam@helios.example", "/partners/4"),
]


async def shoot(base: str, out: Path) -> None:
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-gpu",
            ],
        )
        for locale in ("de", "en"):
            for view, size in VIEWPORTS.items():
                for name, email, path in PAGES:
                    context = await browser.new_context(viewport=size, locale=locale)  # type: ignore[arg-type]
                    page = await context.new_page()
                    await page.set_extra_http_headers({"Accept-Language": locale})
                    if email:
                        await page.goto(f"{base}/login")
                        await page.fill("#email", email)
                        await page.fill("#password", PASSWORD)
                        await page.click("button.primary")
                        # Force the screenshot language regardless of the demo user's own setting.
                        switch = page.locator(f'.lang button[value="{locale}"]')
                        if await switch.count():
                            if not await switch.is_visible():  # a phone: the switch is in the header's menu
                                await page.click("label.menu-button")
                            await switch.click()
                            await page.wait_for_load_state()
                    await page.goto(base + path)
                    if path.startswith("/kpis"):  # its sections load after the frame, its charts after them
                        await page.wait_for_selector("#kpi-series canvas[data-drawn]")
                        await expect(page.locator(".htmx-request")).to_have_count(0)
                    if name in CLICKS:
                        button, shown = CLICKS[name]
                        await page.click(button)
                        await page.wait_for_selector(shown)
                    await page.screenshot(path=str(out / f"{name}-{locale}-{view}.png"), full_page=True)
                    await context.close()
        await browser.close()


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "screenshots")
    only = sys.argv[2].split(",") if len(sys.argv) > 2 else None
    if only:
        PAGES[:] = [page for page in PAGES if page[0] in only]
    out.mkdir(parents=True, exist_ok=True)
    url = f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/shots.db"
    upgrade(url)

    async def demo() -> None:
        db = Database(url)
        await create_demo(db)
        await db.dispose()

    asyncio.run(demo())
    with socket.socket() as sock:  # a free port: other checkouts may be taking screenshots at the same time
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        # With a VAPID key, as a production set-up with Web Push: the notifications page offers the push switch.
        uvicorn.Config(
            create_app(Settings(database_url=url, vapid_private_key=new_private_key())),
            port=port,
            log_level="warning",
            ws="none",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        asyncio.run(shoot(f"http://127.0.0.1:{port}", out))
    finally:
        server.should_exit = True
        thread.join()
    print(f"screenshots in {out}/")


if __name__ == "__main__":
    main()
