"""Award notices and the live header: one notice per award paid, kept and translated; GET /me/pulse shows the
balance and each unseen toast once, answers 304 when nothing changed, and only to the org's own users."""

from __future__ import annotations

import datetime as dt

import httpx
from sqlalchemy import update

from incentives.accounts.roles import Role
from incentives.db import Database, utcnow
from incentives.notifications.awards import notify_awards
from incentives.notifications.models import Notification
from incentives.notifications.services import list_notifications, show
from tests.conftest import page_client
from tests.factories import make_member, make_program, make_user
from tests.rewards.helpers import give_points
from tests.web.test_pages import login

HX = {"HX-Request": "true"}


async def test_a_notice_per_award_in_the_readers_language_once_per_key(db: Database) -> None:
    world = await make_program(db)
    org, other = await make_member(db, world), await make_member(db, world)
    rep = await make_user(db, world, org, Role.RESELLER_REP)
    paid = [
        (org, 30, "Kalter Lead", "Cold lead", 7),
        (org, 1, "Treue", "Loyalty", None),
        (other, 0, "Nichts", "None", 8),
    ]
    for _ in range(2):  # a replay of the same payment adds no second notice
        async with db.transaction() as session:
            await notify_awards(session, world.program_id, paid, keys=["rule:1:event:1", "rule:2:event:1", "x"])
    async with db.reader() as session:
        notices = await list_notifications(session, rep.principal)
    assert [(n.kind, n.link) for n in notices] == [("points.awarded", "/wallet"), ("points.awarded", "/leads/7")]
    assert show(notices[1], "en").text == "You earned 30 points: Cold lead"
    assert show(notices[0], "en").text == "You earned 1 point: Loyalty"
    assert show(notices[1], "de").text == "Sie haben 30 Punkte erhalten: Kalter Lead"
    async with db.transaction() as session:  # without keys, every call is a new notice
        await notify_awards(session, world.program_id, paid[:1])
    async with db.reader() as session:
        assert len(await list_notifications(session, rep.principal)) == 3


async def test_pulse_shows_balance_and_each_toast_once_with_etags(db: Database, server: str) -> None:
    world = await make_program(db)
    org, other_org = await make_member(db, world), await make_member(db, world)
    rep = await make_user(db, world, org, Role.RESELLER_REP, locale="de")
    manager = await make_user(db, world, org, Role.RESELLER_MANAGER, locale="en")
    stranger = await make_user(db, world, other_org, Role.RESELLER_REP, locale="en")
    await give_points(db, world.program_id, org, 1250)
    async with (
        page_client(server) as rep_http,
        page_client(server) as manager_http,
        page_client(server) as stranger_http,
        page_client(server) as admin_http,
    ):
        for client, actor in ((rep_http, rep), (manager_http, manager), (stranger_http, stranger)):
            await login(client, actor.email)
        await login(admin_http, world.admin.email)
        first = await rep_http.get("/me/pulse", headers=HX)
        assert first.status_code == 200 and "1.250" in first.text and "toast" not in first.text
        etag = first.headers["ETag"]
        assert first.headers["Cache-Control"] == "no-cache"
        same = await rep_http.get("/me/pulse", headers={**HX, "If-None-Match": etag})
        assert same.status_code == 304 and same.text == ""

        async with db.transaction() as session:
            await notify_awards(session, world.program_id, [(org, 30, "Kalter Lead", "Cold lead", None)])
        await give_points(db, world.program_id, org, 30)
        toast = await rep_http.get("/me/pulse", headers={**HX, "If-None-Match": etag})
        assert toast.status_code == 200 and "1.280" in toast.text
        assert 'hx-swap-oob="beforeend"' in toast.text and "Sie haben 30 Punkte erhalten: Kalter Lead" in toast.text
        assert toast.headers["Cache-Control"] == "no-store" and "ETag" not in toast.headers
        assert "1 ungelesene Benachrichtigung" in toast.text and 'href="/notifications"' in toast.text
        after = await rep_http.get("/me/pulse", headers=HX)  # seen: no second toast for this user
        assert after.status_code == 200 and "Kalter Lead" not in after.text and after.headers["ETag"] != etag
        assert (
            await rep_http.get("/me/pulse", headers={**HX, "If-None-Match": after.headers["ETag"]})
        ).status_code == 304
        # Each user of the org sees it once; another org's user never does.
        seen_by_manager = await manager_http.get("/me/pulse", headers=HX)
        assert "You earned 30 points: Cold lead" in seen_by_manager.text and "1,280" in seen_by_manager.text
        assert "1 unread notification" in seen_by_manager.text  # the count beside the balance, in every header
        seen_by_stranger = await stranger_http.get("/me/pulse", headers=HX)
        assert "Cold lead" not in seen_by_stranger.text and "toast" not in seen_by_stranger.text
        assert (await admin_http.get("/me/pulse", headers=HX)).status_code == 404
        # An old notice stays on the notifications page but is no toast any more.
        async with db.transaction() as session:
            await notify_awards(session, world.program_id, [(other_org, 5, "Alt", "Old", None)])
            await session.execute(update(Notification).values(created_at=utcnow() - dt.timedelta(hours=1)))
        assert "Old" not in (await stranger_http.get("/me/pulse", headers=HX)).text
        page = await stranger_http.get("/notifications")
        assert "You earned 5 points: Old" in page.text
        # The pages poll it: the fragment sits in the header of a partner's pages, not of a manager's.
        assert 'hx-get="/me/pulse"' in (await rep_http.get("/wallet")).text
        assert 'hx-get="/me/pulse"' not in (await admin_http.get("/dashboard")).text


async def test_pulse_needs_a_login(server: str) -> None:
    async with page_client(server) as client:
        response = await client.get("/me/pulse", headers=HX)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


async def test_a_rep_without_points_sees_zero(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    org = await make_member(db, world)
    rep = await make_user(db, world, org, Role.RESELLER_REP, locale="en")
    await login(http, rep.email)
    response = await http.get("/me/pulse", headers=HX)
    assert response.status_code == 200 and "<strong>0</strong> points" in response.text
