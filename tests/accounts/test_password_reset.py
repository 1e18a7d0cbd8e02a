"""Password reset over real HTTP and real SMTP: one answer for every address, a single-use link that expires
after an hour by the project clock, every other session ended, requests throttled per address."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select
from sqlalchemy.engine import Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from incentives import db as clock
from incentives.accounts.models import PasswordReset
from incentives.accounts.roles import Role
from incentives.config import Settings
from incentives.db import Database
from incentives.mail import jobs
from tests.conftest import page_client, run_server
from tests.factories import PASSWORD, make_member, make_program, make_user
from tests.mail.smtp_server import SmtpServer, parts
from tests.web.test_pages import csrf_of, login

COOKIE = "incentives_session"
NEW_PASSWORD = "a-brand-new-secret"


class Settled:
    """The app as these tests see it: each response reaches the client only once the work the app does after
    the answer (making and queueing the link) is done, so a test reads the e-mail right after asking. It also
    keeps the statements each request ran before its answer started (`before_answer`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.before_answer: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ran: list[str] = []
        held: list[Message] = []

        def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            ran.append(statement)

        async def hold_the_end(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.before_answer = list(ran)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                held.append(message)
                return
            await send(message)

        event.listen(Engine, "before_cursor_execute", seen)
        try:
            await self.app(scope, receive, hold_the_end)
        finally:
            event.remove(Engine, "before_cursor_execute", seen)
        for message in held:
            await send(message)


@pytest.fixture
def settled() -> list[Settled]:
    return []


@pytest.fixture
def server(settings: Settings, settled: list[Settled]) -> Iterator[str]:
    def wrap(app: ASGIApp) -> ASGIApp:
        settled.append(Settled(app))
        return settled[0]

    yield from run_server(settings, wrap=wrap)


async def ask(http: httpx.AsyncClient, email: str, **headers: str) -> httpx.Response:
    page = await http.get("/password/forgot")
    assert page.status_code == 200
    return await http.post("/password/forgot", data={"email": email, "csrftoken": csrf_of(page)}, headers=headers)


async def send_mail(db: Database, settings: Settings, smtp: SmtpServer) -> None:
    await jobs.send_due(db, settings=dataclasses.replace(settings, smtp_url=smtp.url))


def link_in(smtp: SmtpServer) -> str:
    (mail,) = smtp.messages
    text, html = parts(mail)
    match = re.search(r"https?://\S+(/password/reset/[A-Za-z0-9_-]+)", text)
    assert match, text
    assert match.group(1) in html
    return match.group(1)


async def set_password(http: httpx.AsyncClient, path: str, password: str) -> httpx.Response:
    form = await http.get(path)
    assert form.status_code == 200, form.text
    return await http.post(path, data={"password": password, "csrftoken": csrf_of(form)})


def without_csrf(page: httpx.Response) -> str:
    return re.sub(r'name="csrftoken" value="[^"]+"', "", page.text)


async def test_a_user_resets_the_password_and_every_other_session_ends(
    db: Database, http: httpx.AsyncClient, settings: Settings, smtp_server: SmtpServer
) -> None:
    world = await make_program(db)
    rep = await make_user(db, world, await make_member(db, world), Role.RESELLER_REP)
    login_page = await http.get("/login")
    assert 'href="/password/forgot"' in login_page.text
    async with page_client(http.base_url) as other_device:
        assert (await login(other_device, rep.email)).status_code == 303
        assert (await other_device.get("/dashboard")).status_code == 200

        known = await ask(http, rep.email.upper())
        assert known.status_code == 200 and "If an account exists" in known.text
        await send_mail(db, settings, smtp_server)
        (mail,) = smtp_server.messages
        assert mail["To"] == rep.email and mail["Subject"] == "Set a new password"
        assert "List-Unsubscribe" not in mail
        path = link_in(smtp_server)
        async with db.reader() as session:
            (stored,) = await session.scalars(select(PasswordReset))
        assert path.rsplit("/", 1)[1] not in stored.token_hash  # only the hash is kept

        too_short = await set_password(http, path, "short")
        assert too_short.status_code == 422 and "at least 10 characters" in too_short.text
        done = await set_password(http, path, NEW_PASSWORD)
        assert done.status_code == 303 and done.headers["location"] == "/dashboard"
        assert (await http.get("/dashboard")).status_code == 200  # logged in here
        ended = await other_device.get("/dashboard")  # and out everywhere else
        assert ended.status_code == 303 and ended.headers["location"].startswith("/login")

    async with page_client(http.base_url) as fresh:
        assert (await login(fresh, rep.email, PASSWORD)).status_code == 400
        assert (await login(fresh, rep.email, NEW_PASSWORD)).status_code == 303
    # Used once: the same link again is gone, also for setting a password.
    again = await http.get(path)
    assert again.status_code == 410 and "used already" in again.text
    async with page_client(http.base_url) as thief:
        page = await thief.get("/login")
        reused = await thief.post(path, data={"password": "yet-another-secret", "csrftoken": csrf_of(page)})
        assert reused.status_code == 410


async def test_an_unknown_address_gets_the_same_page_and_no_mail(
    db: Database, http: httpx.AsyncClient, settings: Settings, smtp_server: SmtpServer
) -> None:
    world = await make_program(db)
    known = await ask(http, world.admin.email)
    unknown = await ask(http, "nobody-here@example.com")
    assert unknown.status_code == known.status_code == 200
    assert without_csrf(unknown) == without_csrf(known)
    await send_mail(db, settings, smtp_server)
    assert [m["To"] for m in smtp_server.messages] == [world.admin.email]


async def test_known_and_unknown_addresses_run_the_same_statements_before_the_answer(
    db: Database, http: httpx.AsyncClient, settled: list[Settled]
) -> None:
    """The answer must not take longer for an address with an account (issue 19: it did, by two inserts, ~0.9 ms
    on SQLite): the statements run before the answer starts are the same for both, one for one."""
    world = await make_program(db)
    ran = {}
    for address in (world.admin.email, "nobody-here@example.com"):
        assert (await ask(http, address)).status_code == 200
        ran[address] = settled[0].before_answer
    known, unknown = ran.values()
    assert known == unknown
    assert any("login_attempts" in statement for statement in known)  # the request was counted
    assert not any("password_resets" in statement or "outbox" in statement for statement in known)
    async with db.reader() as session:  # and the link was still made, after the answer
        assert len((await session.scalars(select(PasswordReset))).all()) == 1


async def test_a_deactivated_user_gets_no_link(
    db: Database, http: httpx.AsyncClient, settings: Settings, smtp_server: SmtpServer
) -> None:
    world = await make_program(db)
    rep = await make_user(db, world, await make_member(db, world), Role.RESELLER_REP)
    gone = await http.post(f"/api/v1/users/{rep.user_id}/deactivate", headers=world.admin.auth)
    assert gone.status_code == 200
    assert (await ask(http, rep.email)).status_code == 200
    await send_mail(db, settings, smtp_server)
    assert smtp_server.messages == []


async def test_a_link_expires_after_an_hour_by_the_clock_and_a_tampered_one_is_not_found(
    db: Database,
    http: httpx.AsyncClient,
    settings: Settings,
    smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = await make_program(db)
    await ask(http, world.admin.email)
    await send_mail(db, settings, smtp_server)
    path = link_in(smtp_server)
    tampered = await http.get(path[:-3] + ("aaa" if not path.endswith("aaa") else "bbb"))
    assert tampered.status_code == 404 and "not valid" in tampered.text
    german = await http.get(path[:-3] + "zzz", headers={"Accept-Language": "de"})
    assert german.status_code == 404 and "Dieser Link ist ungültig" in german.text

    started = clock.utcnow()
    monkeypatch.setattr(clock, "utcnow", lambda: started + dt.timedelta(minutes=59))
    assert (await http.get(path)).status_code == 200
    monkeypatch.setattr(clock, "utcnow", lambda: started + dt.timedelta(minutes=61))
    expired = await http.get(path)
    assert expired.status_code == 410 and "expired" in expired.text
    expired_de = await http.get(path, headers={"Accept-Language": "de"})
    assert expired_de.status_code == 410 and "abgelaufen" in expired_de.text
    page = await http.get("/login")
    late = await http.post(path, data={"password": NEW_PASSWORD, "csrftoken": csrf_of(page)})
    assert late.status_code == 410
    assert (await login(http, world.admin.email, PASSWORD)).status_code == 303  # the old password still works


async def test_requests_are_throttled_per_address_known_or_not(
    db: Database, http: httpx.AsyncClient, settings: Settings, smtp_server: SmtpServer
) -> None:
    world = await make_program(db)
    for address in (world.admin.email, "nobody-here@example.com"):
        answers = [(await ask(http, address)).status_code for _ in range(4)]
        assert answers == [200, 200, 200, 429], address
    # Another address is not slowed by the flood to the first.
    assert (await ask(http, f"other-{world.admin.email}")).status_code == 200
    await send_mail(db, settings, smtp_server)
    assert len(smtp_server.messages) == 3  # three links to the known address, none to the others
