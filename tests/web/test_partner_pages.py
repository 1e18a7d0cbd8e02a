"""Partners managed in the web (/partners): the list, adding a partner (its org and membership, or nothing), its
terms, inviting a user (an e-mail with a single-use, expiring set-password link), deactivating, and scope."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

import httpx
from sqlalchemy import func, select, update

from incentives.accounts.models import Membership, Org, PasswordReset, Program, User
from incentives.accounts.partners import PER_PAGE
from incentives.accounts.roles import Role
from incentives.config import Settings
from incentives.db import Database, utcnow
from incentives.mail import jobs
from tests.conftest import page_client
from tests.factories import PASSWORD, make_member, make_org, make_program, make_user
from tests.mail.smtp_server import SmtpServer, parts, smtp_server
from tests.web.test_pages import csrf_of, login

__all__ = ["smtp_server"]


def new_partner(csrf: str, **more: str) -> dict[str, str]:
    return {
        "csrftoken": csrf,
        "name": "Sonnenschein Solar GmbH",
        "kind": "reseller",
        "country": "DE",
        "tier": "silver",
        "competencies": "Wärmepumpen, PV",
        "certifications": "SHK-Meister",
        "regions": "de-80, DE-81",
        "capacity": "12",
        **more,
    }


async def orgs_named(db: Database, name: str) -> int:
    async with db.reader() as session:
        return await session.scalar(select(func.count()).select_from(Org).where(Org.name == name)) or 0


async def test_an_admin_adds_a_partner_and_sees_it_in_the_list(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    distributor = await make_member(db, world, kind="distributor")
    admin = await make_user(db, world, world.admin.org_id, Role.ADMIN, locale="de")
    await login(http, admin.email)
    form = await http.get("/partners/new")
    assert form.status_code == 200 and "Partner hinzufügen" in form.text
    added = await http.post(
        "/partners/new",
        data=new_partner(csrf_of(form), distributor_id=str(distributor), capacity="1.200"),
        follow_redirects=False,
    )
    assert added.status_code == 303, added.text
    org_id = int(added.headers["location"].split("/partners/")[1].split("?")[0])
    async with db.reader() as session:
        org = await session.get_one(Org, org_id)
        membership = await session.scalar(select(Membership).where(Membership.org_id == org_id))
    assert org.kind == "reseller" and org.registered_by_program_id == world.program_id
    assert membership is not None and membership.program_id == world.program_id
    assert membership.tier == "silver" and membership.capacity == 1200 and membership.distributor_id == distributor
    assert membership.regions == ["DE-80", "DE-81"] and membership.competencies == ["PV", "Wärmepumpen"]
    listed = await http.get("/partners", params={"q": "sonnenschein"})
    assert listed.status_code == 200 and "Sonnenschein Solar GmbH" in listed.text and "1 Partner" in listed.text
    assert "DE-80, DE-81" in listed.text and "1.200" in listed.text and "Noch keine Benutzer" in listed.text
    other = await http.get("/partners", params={"q": "gibt-es-nicht"})
    assert "Sonnenschein" not in other.text


async def test_bad_input_names_the_fields_keeps_the_values_and_adds_nothing(
    db: Database, http: httpx.AsyncClient
) -> None:
    world = await make_program(db)
    await login(http, world.admin.email)
    csrf = csrf_of(await http.get("/partners/new"))
    refused = await http.post(
        "/partners/new", data=new_partner(csrf, name="", regions="Bayern", capacity="viele", tier="diamond")
    )
    assert refused.status_code == 422
    for name in ("name", "regions", "capacity", "tier"):
        assert re.search(rf'id="f-{name}"[^>]*aria-invalid="true"', refused.text), name
    assert "Regions are country codes" in refused.text and 'value="viele"' in refused.text
    # A check of the service (the distributor) fails inside the unit of work: the org is not left behind.
    stranger = await make_org(db, world, "reseller")
    refused = await http.post("/partners/new", data=new_partner(csrf, distributor_id=str(stranger)))
    assert refused.status_code == 422 and "Must be a distributor that is a member" in refused.text
    assert 'value="Sonnenschein Solar GmbH"' in refused.text
    assert await orgs_named(db, "Sonnenschein Solar GmbH") == 0


async def test_competencies_are_chosen_from_the_programs_product_lines(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    async with db.transaction() as session:
        await session.execute(
            update(Program).where(Program.id == world.program_id).values(product_lines=["Wärmepumpen", "PV"])
        )
    await login(http, world.admin.email)
    form = await http.get("/partners/new")
    assert 'type="checkbox" name="competencies" value="Wärmepumpen"' in form.text
    data = new_partner(csrf_of(form))
    del data["competencies"]
    typo = await http.post("/partners/new", data={**data, "competencies": "Waermepumpen"})
    assert typo.status_code == 422 and "is not one of the program" in typo.text and "Waermepumpen" in typo.text
    added = await http.post("/partners/new", data={**data, "competencies": "PV"}, follow_redirects=False)
    assert added.status_code == 303


async def test_an_admin_edits_the_terms(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    org_id = await make_member(db, world)
    await login(http, world.admin.email)
    page = await http.get(f"/partners/{org_id}")
    assert page.status_code == 200 and 'value="DE-80"' in page.text
    data = {
        "csrftoken": csrf_of(page),
        "tier": "platinum",
        "competencies": "heat_pumps, pv",
        "certifications": "",
        "regions": "AT",
        "capacity": "",
        "distributor_id": "",
    }
    saved = await http.post(f"/partners/{org_id}", data=data, follow_redirects=False)
    assert saved.status_code == 303
    async with db.reader() as session:
        membership = await session.scalar(select(Membership).where(Membership.org_id == org_id))
    assert membership is not None and membership.tier == "platinum" and membership.regions == ["AT"]
    assert membership.capacity is None and membership.competencies == ["heat_pumps", "pv"]
    refused = await http.post(f"/partners/{org_id}", data={**data, "distributor_id": str(org_id), "tier": "gold"})
    assert refused.status_code == 422
    async with db.reader() as session:
        kept = await session.scalar(select(Membership.tier).where(Membership.org_id == org_id))
    assert kept == "platinum"


async def test_an_invited_user_sets_a_password_through_a_single_use_expiring_link(
    db: Database, http: httpx.AsyncClient, settings: Settings, smtp_server: SmtpServer, server: str
) -> None:
    world = await make_program(db)
    org_id = await make_member(db, world)
    await login(http, world.admin.email)
    csrf = csrf_of(await http.get(f"/partners/{org_id}"))
    wrong_role = {"csrftoken": csrf, "email": "neu@partner.example", "name": "Nina", "role": "distributor_manager"}
    refused = await http.post(f"/partners/{org_id}/users", data={**wrong_role, "locale": "de"})
    assert refused.status_code == 422 and "This role does not fit" in refused.text
    invited = await http.post(
        f"/partners/{org_id}/users", data={**wrong_role, "role": "reseller_rep", "locale": "de"}, follow_redirects=False
    )
    assert invited.status_code == 303
    again = await http.post(f"/partners/{org_id}/users", data={**wrong_role, "role": "reseller_rep", "locale": "de"})
    assert again.status_code == 422 and "already exists" in again.text
    await jobs.send_due(db, settings=dataclasses.replace(settings, smtp_url=smtp_server.url))
    (mail,) = smtp_server.messages
    assert mail["To"] == "neu@partner.example" and "Partnerprogramm" in str(mail["Subject"])
    text, _ = parts(mail)
    assert "7 Tagen" in text
    path = "/password/reset/" + text.split("/password/reset/")[1].split()[0]
    async with page_client(server, timeout=30, follow_redirects=False) as browser:
        form = await browser.get(path)
        assert form.status_code == 200
        done = await browser.post(path, data={"csrftoken": csrf_of(form), "password": "lang-genug-123"})
        assert done.status_code == 303 and (await browser.get("/dashboard")).status_code == 200
        assert (await browser.get(path)).status_code == 410  # used up
    async with db.reader() as session:
        user = await session.scalar(select(User).where(User.email == "neu@partner.example"))
    assert user is not None and user.role == "reseller_rep" and user.org_id == org_id and user.locale == "de"
    # A second user's link expires after 7 days.
    data = {"csrftoken": csrf, "email": "spaet@partner.example", "name": "Sam", "role": "reseller_manager"}
    await http.post(f"/partners/{org_id}/users", data={**data, "locale": "en"})
    await jobs.send_due(db, settings=dataclasses.replace(settings, smtp_url=smtp_server.url))
    text, _ = parts(smtp_server.messages[-1])
    late = "/password/reset/" + text.split("/password/reset/")[1].split()[0]
    async with db.reader() as session:
        expires = await session.scalar(select(func.max(PasswordReset.expires_at)))
    assert expires is not None and expires - utcnow() > dt.timedelta(days=6, hours=23)
    async with db.transaction() as session:
        await session.execute(update(PasswordReset).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    assert (await http.get(late)).status_code == 410


async def test_an_admin_deactivates_a_user_and_the_whole_partner(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    org_id = await make_member(db, world)
    rep = await make_user(db, world, org_id, Role.RESELLER_REP)
    manager = await make_user(db, world, org_id, Role.RESELLER_MANAGER)
    await login(http, world.admin.email)
    csrf = csrf_of(await http.get(f"/partners/{org_id}"))
    off = await http.post(f"/partners/{org_id}/users/{rep.user_id}/deactivate", data={"csrftoken": csrf})
    assert off.status_code == 303
    assert (await http.get("/api/v1/points", headers=rep.auth)).status_code == 401  # its token stops at once
    assert (await http.get("/api/v1/points", headers=manager.auth)).status_code == 200
    off = await http.post(f"/partners/{org_id}/deactivate", data={"csrftoken": csrf})
    assert off.status_code == 303
    async with db.reader() as session:
        active = await session.scalar(select(func.count()).where(User.org_id == org_id, User.active.is_(True)))
    assert active == 0
    listed = await http.get("/partners")
    assert "Deactivated" in listed.text
    # A user of another org cannot be reached through this partner's address.
    other = await make_member(db, world)
    stranger = await make_user(db, world, other, Role.RESELLER_REP)
    wrong = await http.post(f"/partners/{org_id}/users/{stranger.user_id}/deactivate", data={"csrftoken": csrf})
    assert wrong.status_code == 404


async def test_partner_managers_read_and_everybody_else_gets_404(db: Database, server: str) -> None:
    world = await make_program(db)
    org_id = await make_member(db, world)
    pam = await make_user(db, world, world.admin.org_id, Role.PARTNER_MANAGER, locale="en")
    reseller = await make_user(db, world, org_id, Role.RESELLER_MANAGER)
    distributor = await make_user(db, world, await make_member(db, world, "distributor"), Role.DISTRIBUTOR_MANAGER)
    agency = await make_user(db, world, await make_org(db, world, "agency"), Role.AGENCY)
    elsewhere = await make_program(db)
    foreign_pam = await make_user(db, elsewhere, elsewhere.admin.org_id, Role.PARTNER_MANAGER)
    foreign_org = await make_member(db, elsewhere)

    async with page_client(server, timeout=30, follow_redirects=False) as client:
        await login(client, pam.email)
        listed = await client.get("/partners")
        assert listed.status_code == 200 and 'href="/partners/new"' not in listed.text
        page = await client.get(f"/partners/{org_id}")
        assert page.status_code == 200 and f'action="/partners/{org_id}' not in page.text  # reads, no forms
        assert (await client.get(f"/partners/{foreign_org}")).status_code == 404
        csrf = csrf_of(page)
        refused = await client.post(f"/partners/{org_id}/deactivate", data={"csrftoken": csrf})
        assert refused.status_code == 403  # the service's rule: admins change partners
    for outsider in (reseller, distributor, agency, foreign_pam, elsewhere.admin):
        async with page_client(server, timeout=30, follow_redirects=False) as client:
            await login(client, outsider.email, PASSWORD)
            own_program = outsider in (foreign_pam, elsewhere.admin)
            paths = [f"/partners/{org_id}"] if own_program else ["/partners", "/partners/new", f"/partners/{org_id}"]
            for path in paths:
                assert (await client.get(path)).status_code == 404, (outsider.email, path)
            csrf = csrf_of(await client.get("/dashboard"))
            for path in (
                f"/partners/{org_id}",
                f"/partners/{org_id}/users",
                f"/partners/{org_id}/deactivate",
                f"/partners/{org_id}/users/{reseller.user_id}/deactivate",
            ):
                answer = await client.post(path, data={"csrftoken": csrf})
                assert answer.status_code == 404, (outsider.email, path, answer.status_code)


async def test_the_list_is_paged_and_in_the_nav_of_managers_only(db: Database, server: str) -> None:
    world = await make_program(db)
    for _ in range(PER_PAGE + 1):
        await make_member(db, world)
    pam = await make_user(db, world, world.admin.org_id, Role.PARTNER_MANAGER, locale="en")
    rep = await make_user(db, world, await make_member(db, world), Role.RESELLER_REP)
    async with page_client(server, timeout=30, follow_redirects=False) as client:
        await login(client, pam.email)
        first = await client.get("/partners")
        assert f"{PER_PAGE + 2} partners" in first.text and "Page 1 of 2" in first.text
        assert first.text.count('<a href="/partners/') == PER_PAGE and 'href="/partners"' in first.text
        second = await client.get("/partners", params={"page": "2"})
        assert "Page 2 of 2" in second.text and second.text.count('<a href="/partners/') == 2
    async with page_client(server, timeout=30, follow_redirects=False) as client:
        await login(client, rep.email)
        assert 'href="/partners"' not in (await client.get("/dashboard")).text
