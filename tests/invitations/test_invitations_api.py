"""Invitations over HTTP: an existing partner joins a second program with its one login; a new address signs up
through its single-use link; scope, duplicates, bad input and Idempotency-Key."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import httpx
from sqlalchemy import select, update

from incentives.accounts.models import Membership, User
from incentives.accounts.roles import Role
from incentives.config import Settings
from incentives.db import Database, utcnow
from incentives.invitations.models import Invitation
from incentives.mail import jobs
from incentives.notifications.models import Notification
from tests.conftest import page_client
from tests.factories import Actor, ProgramWorld, make_org, make_program, make_user
from tests.leads.helpers import make_lead, make_reseller
from tests.mail.smtp_server import SmtpServer, parts


def terms(world: ProgramWorld, email: str, **more: Any) -> dict[str, Any]:
    return {
        "program_id": world.program_id,
        "email": email,
        "tier": "silver",
        "competencies": ["heat_pumps"],
        "certifications": [],
        "regions": ["DE-80"],
        "capacity": 5,
        **more,
    }


async def partner_of_first_program(db: Database) -> tuple[ProgramWorld, Actor, Actor]:
    """A program with a reseller that has a manager and a rep."""
    first = await make_program(db)
    rep = await make_reseller(db, first)
    manager = await make_user(db, first, rep.org_id, Role.RESELLER_MANAGER)
    return first, manager, rep


async def send_mail(db: Database, settings: Settings, smtp: SmtpServer) -> None:
    await jobs.send_due(db, settings=dataclasses.replace(settings, smtp_url=smtp.url))


async def test_an_existing_partner_is_invited_accepts_and_sees_both_programs(
    db: Database, http: httpx.AsyncClient, settings: Settings, smtp_server: SmtpServer
) -> None:
    first, manager, rep = await partner_of_first_program(db)
    second = await make_program(db)
    invited = await http.post("/api/v1/invitations", headers=second.admin.auth, json=terms(second, manager.email))
    assert invited.status_code == 201, invited.text
    assert set(invited.json()) == {"id", "status", "membership_id"} and invited.json()["status"] == "pending"
    invitation_id = invited.json()["id"]
    # Until it accepts, the second program sees nothing of the partner.
    assert (await http.get(f"/api/v1/orgs/{manager.org_id}", headers=second.admin.auth)).status_code == 404
    # The managers get a notice in the app, the invited address an e-mail.
    async with db.reader() as session:
        notices = list(await session.scalars(select(Notification).where(Notification.kind == "invitation")))
    assert [(n.org_id, n.user_id) for n in notices] == [(manager.org_id, manager.user_id)]
    await send_mail(db, settings, smtp_server)
    (mail,) = smtp_server.messages
    assert mail["To"] == manager.email and "invites you" in mail["Subject"]
    assert "List-Unsubscribe" not in mail
    text, html = parts(mail)
    assert "/invitations" in text and "/invitations" in html
    # A rep of the org and the other program's admin cannot answer; the manager can, once.
    assert (await http.post(f"/api/v1/invitations/{invitation_id}/accept", headers=rep.auth)).status_code == 404
    foreign = await http.post(f"/api/v1/invitations/{invitation_id}/accept", headers=first.admin.auth)
    assert foreign.status_code == 404
    accepted = await http.post(f"/api/v1/invitations/{invitation_id}/accept", headers=manager.auth)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted" and accepted.json()["membership_id"]
    again = await http.post(f"/api/v1/invitations/{invitation_id}/decline", headers=manager.auth)
    assert again.status_code == 409 and again.json()["code"] == "invalid_state"
    async with db.reader() as session:
        membership = await session.scalar(
            select(Membership).where(Membership.program_id == second.program_id, Membership.org_id == manager.org_id)
        )
    assert membership is not None and (membership.tier, membership.regions, membership.capacity) == (
        "silver",
        ["DE-80"],
        5,
    )
    # Now the second program sees the org, and the partner's one login shows both programs.
    assert (await http.get(f"/api/v1/orgs/{manager.org_id}", headers=second.admin.auth)).status_code == 200
    now = utcnow()
    lead_one = await make_lead(db, first, now=now)
    lead_two = await make_lead(db, second, now=now)
    picklist = await http.get("/api/v1/picklist", headers=rep.auth)
    assert picklist.status_code == 200, picklist.text
    seen = {(item["lead_id"], item["program_id"]) for item in picklist.json()["items"]}
    assert {(lead_one.id, first.program_id), (lead_two.id, second.program_id)} <= seen
    wallets = await http.get("/api/v1/points", headers=rep.auth)
    assert {item["program_id"] for item in wallets.json()["items"]} == {first.program_id, second.program_id}
    # The inviting program heard the answer.
    async with db.reader() as session:
        answered = await session.scalar(select(Notification).where(Notification.kind == "invitation_answered"))
    assert answered is not None and answered.org_id == second.admin.org_id


async def test_a_new_address_signs_up_through_its_single_use_link(
    db: Database, http: httpx.AsyncClient, settings: Settings, smtp_server: SmtpServer, server: str
) -> None:
    world = await make_program(db)
    invited = await http.post("/api/v1/invitations", headers=world.admin.auth, json=terms(world, "neu@firma.example"))
    assert invited.status_code == 201, invited.text
    await send_mail(db, settings, smtp_server)
    (mail,) = smtp_server.messages
    assert mail["To"] == "neu@firma.example"
    text, _ = parts(mail)
    path = "/join/" + text.split("/join/")[1].split()[0]
    async with page_client(server, timeout=30, follow_redirects=False) as browser:
        form = await browser.get(path)
        assert form.status_code == 200 and "neu@firma.example" in form.text
        csrf = form.text.split('name="csrftoken" value="')[1].split('"')[0]
        short = await browser.post(
            path, data={"csrftoken": csrf, "org_name": "Neu GmbH", "name": "Nina Neu", "country": "DE", "password": "x"}
        )
        assert short.status_code == 422 and "10" in short.text
        fields = {
            "csrftoken": csrf,
            "org_name": "Neu GmbH",
            "name": "Nina Neu",
            "country": "AT",
            "password": "lang-genug-123",
        }
        joined = await browser.post(path, data=fields)
        assert joined.status_code == 303 and joined.headers["location"] == "/dashboard"
        assert (await browser.get("/dashboard")).status_code == 200  # logged in as the new manager
        used = await browser.get(path)
        assert used.status_code == 410
    async with db.reader() as session:
        user = await session.scalar(select(User).where(User.email == "neu@firma.example"))
        assert user is not None and user.role == "reseller_manager" and user.program_id is None
        membership = await session.scalar(select(Membership).where(Membership.org_id == user.org_id))
        invitation = await session.get_one(Invitation, invited.json()["id"])
    assert membership is not None and membership.program_id == world.program_id
    assert invitation.status == "accepted" and invitation.org_id == user.org_id
    # A tampered link is 404, an expired one 410.
    assert (await http.get("/join/not-a-token")).status_code == 404
    second = await http.post("/api/v1/invitations", headers=world.admin.auth, json=terms(world, "spaet@firma.example"))
    await send_mail(db, settings, smtp_server)
    text, _ = parts(smtp_server.messages[-1])
    late = "/join/" + text.split("/join/")[1].split()[0]
    async with db.transaction() as session:
        await session.execute(
            update(Invitation)
            .where(Invitation.id == second.json()["id"])
            .values(link_expires_at=utcnow() - dt.timedelta(seconds=1))
        )
    assert (await http.get(late)).status_code == 410


async def test_the_answer_never_tells_whether_an_address_exists_elsewhere(
    db: Database, http: httpx.AsyncClient
) -> None:
    _, manager, _ = await partner_of_first_program(db)
    other_admin = (await make_program(db)).admin
    world = await make_program(db)
    answers = []
    for email in (manager.email, other_admin.email, "niemand@nirgends.example"):
        response = await http.post("/api/v1/invitations", headers=world.admin.auth, json=terms(world, email))
        assert response.status_code == 201, response.text
        answers.append(sorted((key, value) for key, value in response.json().items() if key != "id"))
    assert answers[0] == answers[1] == answers[2]


async def test_duplicates_bad_input_scope_and_idempotency(db: Database, http: httpx.AsyncClient) -> None:
    world, manager, rep = await partner_of_first_program(db)
    enrolled = await http.post("/api/v1/invitations", headers=world.admin.auth, json=terms(world, manager.email))
    assert enrolled.status_code == 409 and enrolled.json()["code"] == "duplicate"
    bad = await http.post("/api/v1/invitations", headers=world.admin.auth, json=terms(world, "kein-at-zeichen"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["email"]
    # Program staff only: a partner of the program is refused, another program does not exist for it.
    assert (
        await http.post("/api/v1/invitations", headers=rep.auth, json=terms(world, "a@b.example"))
    ).status_code == 403
    other = await make_program(db)
    foreign = await http.post("/api/v1/invitations", headers=other.admin.auth, json=terms(world, "a@b.example"))
    assert foreign.status_code == 404
    manager_of_program = await make_user(db, world, world.admin.org_id, Role.PARTNER_MANAGER)
    key = {"Idempotency-Key": "invite-1"}
    body = terms(world, "einmal@firma.example")
    one = await http.post("/api/v1/invitations", headers={**manager_of_program.auth, **key}, json=body)
    two = await http.post("/api/v1/invitations", headers={**manager_of_program.auth, **key}, json=body)
    assert one.status_code == two.status_code == 201 and one.json() == two.json()
    assert two.headers.get("Idempotent-Replayed") == "true"
    again = await http.post("/api/v1/invitations", headers=manager_of_program.auth, json=body)
    assert again.status_code == 409 and again.json()["code"] == "duplicate"
    # A distributor that is not a member of the program is a 422 on distributor_id.
    distributor = await make_org(db, world, "distributor")
    refused = await http.post(
        "/api/v1/invitations",
        headers=world.admin.auth,
        json=terms(world, "d@firma.example", distributor_id=distributor),
    )
    assert refused.status_code == 422 and refused.json()["errors"][0]["loc"] == ["distributor_id"]


async def test_an_invitation_of_another_program_is_404_and_a_decline_enrols_nothing(
    db: Database, http: httpx.AsyncClient
) -> None:
    _, manager, _ = await partner_of_first_program(db)
    second, third = await make_program(db), await make_program(db)
    to_second = (
        await http.post("/api/v1/invitations", headers=second.admin.auth, json=terms(second, manager.email))
    ).json()
    # A manager of another partner org, in another program, cannot see or answer it.
    stranger_org = await make_reseller(db, third)
    stranger = await make_user(db, third, stranger_org.org_id, Role.RESELLER_MANAGER)
    for action in ("accept", "decline"):
        response = await http.post(f"/api/v1/invitations/{to_second['id']}/{action}", headers=stranger.auth)
        assert response.status_code == 404 and response.json()["code"] == "not_found"
        missing = await http.post(f"/api/v1/invitations/2000000000/{action}", headers=stranger.auth)
        assert missing.status_code == 404
    declined = await http.post(f"/api/v1/invitations/{to_second['id']}/decline", headers=manager.auth)
    assert declined.status_code == 200 and declined.json()["status"] == "declined"
    async with db.reader() as session:
        member = await session.scalar(
            select(Membership.id).where(Membership.program_id == second.program_id, Membership.org_id == manager.org_id)
        )
    assert member is None
    assert (await http.get(f"/api/v1/orgs/{manager.org_id}", headers=second.admin.auth)).status_code == 404


async def test_the_e_mail_to_a_new_address_speaks_the_programs_language(
    db: Database, http: httpx.AsyncClient, settings: Settings, smtp_server: SmtpServer
) -> None:
    world = await make_program(db)
    patched = await http.patch(
        f"/api/v1/programs/{world.program_id}", headers=world.admin.auth, json={"default_locale": "de"}
    )
    assert patched.status_code == 200, patched.text
    invited = await http.post("/api/v1/invitations", headers=world.admin.auth, json=terms(world, "de@firma.example"))
    assert invited.status_code == 201
    await send_mail(db, settings, smtp_server)
    (mail,) = smtp_server.messages
    assert "lädt Sie in sein Partnerprogramm ein" in mail["Subject"]
    text, html = parts(mail)
    assert "Passwort festlegen" in html and "7 Tagen" in text and "Unsubscribe" not in text
