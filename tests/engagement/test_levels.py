"""Levels: the program setting over the API (validation, translated 422s) and a partner's progress from the
ledger's points of the last 12 months, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
from sqlalchemy import select

from incentives.accounts.models import Membership
from incentives.db import Database
from incentives.engagement.levels import level_of
from incentives.ledger import services as ledger
from incentives.ledger.book import Cause
from incentives.ledger.services import Award
from tests.factories import make_member, make_program

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
LEVELS = [
    {"key": "starter", "name": {"de": "Einsteiger", "en": "Starter"}, "threshold": 0},
    {"key": "pro", "name": {"de": "Profi", "en": "Pro"}, "threshold": 100},
    {"key": "master", "name": {"de": "Meister", "en": "Master"}, "threshold": 400},
]


async def test_new_programs_get_the_default_levels(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    answer = await http.get(f"/api/v1/programs/{world.program_id}", headers=world.admin.auth)
    assert answer.status_code == 200, answer.text
    levels = answer.json()["levels"]
    assert [(level["key"], level["threshold"]) for level in levels] == [
        ("bronze", 0),
        ("silver", 500),
        ("gold", 2000),
        ("platinum", 5000),
    ]
    assert levels[1]["name"] == {"de": "Silber", "en": "Silver"}


async def test_an_admin_sets_levels_and_they_never_touch_the_tier(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    org = await make_member(db, world, tier="silver")
    url = f"/api/v1/programs/{world.program_id}"
    answer = await http.patch(url, headers=world.admin.auth, json={"levels": LEVELS})
    assert answer.status_code == 200, answer.text
    assert answer.json()["levels"] == LEVELS
    assert (await http.get(url, headers=world.admin.auth)).json()["levels"] == LEVELS
    await _earn(db, world.program_id, org, [(450, NOW - dt.timedelta(days=3))])
    async with db.reader() as session:
        level = await level_of(session, world.program_id, org, NOW)
    assert (level.key, level.points, level.next) == ("master", 450, None)
    membership = await http.get(f"/api/v1/orgs/{org}", headers=world.admin.auth)
    assert membership.status_code == 200
    async with db.reader() as session:
        tier = await session.scalar(select(Membership.tier).where(Membership.org_id == org))
    assert tier == "silver"


def _with(index: int, **changes: Any) -> list[dict[str, Any]]:
    levels = [dict(level) for level in LEVELS]
    levels[index] = {**levels[index], **changes}
    return levels


async def test_bad_levels_answer_translated_422s_and_change_nothing(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    url = f"/api/v1/programs/{world.program_id}"
    german = {**world.admin.auth, "Accept-Language": "de"}
    cases: list[tuple[Any, str]] = [
        (_with(1, key="starter"), "Level keys must be unique."),
        (_with(2, threshold=100), "Thresholds must rise from one level to the next."),
        (list(reversed(LEVELS)), "The first level must start at 0 points."),
        (_with(0, threshold=-5), "Must be at least 0."),
        (_with(1, threshold=2.5), "Must be an integer."),
        (_with(1, name={"de": "Profi"}), "This field is required."),
        (_with(1, name={"de": "Profi", "en": "  "}), "Must not be empty."),
        (_with(1, key="Pro Level"), "Has the wrong format."),
        ([], "Must have at least 1 entries."),
    ]
    for levels, message in cases:
        answer = await http.patch(url, headers=world.admin.auth, json={"levels": levels})
        assert answer.status_code == 422, (levels, answer.text)
        body = answer.json()
        assert body["code"] == "validation_error"
        assert message in [error["msg"] for error in body["errors"]], (levels, body)
        assert body["errors"][0]["loc"][0] == "levels"
    answer = await http.patch(url, headers=german, json={"levels": _with(1, key="starter")})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["msg"] == "Die Schlüssel der Stufen müssen eindeutig sein."
    assert answer.json()["title"] == "Die Eingabe ist ungültig."
    unchanged = (await http.get(url, headers=world.admin.auth)).json()["levels"]
    assert unchanged[0]["key"] == "bronze"


async def _earn(db: Database, program_id: int, org_id: int, awards: list[tuple[int, dt.datetime]]) -> list[int]:
    ids = []
    for points, at in awards:
        async with db.transaction() as session:
            transfer = await ledger.award_points(
                session, program_id=program_id, org_id=org_id, points=points, key=f"t:{org_id}:{at}:{points}", now=at
            )
        ids.append(transfer.id)
    return ids


async def test_progress_counts_the_last_12_months_less_reversals(db: Database) -> None:
    world = await make_program(db)
    org, other = await make_member(db, world), await make_member(db, world)
    a_year = dt.timedelta(days=366)
    ids = await _earn(
        db,
        world.program_id,
        org,
        [
            (3000, NOW - a_year - dt.timedelta(days=2)),  # too old: does not count
            (900, NOW - dt.timedelta(days=200)),
            (400, NOW - dt.timedelta(days=10)),
            (160, NOW - dt.timedelta(hours=1)),
        ],
    )
    await _earn(db, world.program_id, other, [(9000, NOW - dt.timedelta(days=1))])  # another partner's
    async with db.transaction() as session:
        await ledger.reverse_award(
            session, program_id=world.program_id, award_id=ids[2], key="rev:1", now=NOW - dt.timedelta(days=5)
        )
        await ledger.adjust_points(
            session,
            program_id=world.program_id,
            org_id=org,
            points=200,
            key="adj:1",
            cause=Cause(reason="Messe"),
            now=NOW - dt.timedelta(days=4),
        )
    async with db.reader() as session:
        level = await level_of(session, world.program_id, org, NOW)
    # 900 + 400 − 400 + 160 + 200 = 1,260: Silver (500), 740 points to Gold (2,000).
    assert (level.key, level.name_de, level.name_en, level.threshold, level.points) == (
        "silver",
        "Silber",
        "Silver",
        500,
        1260,
    )
    assert level.next is not None
    assert (level.next.key, level.next.name_en, level.next.threshold, level.next.points_needed) == (
        "gold",
        "Gold",
        2000,
        740,
    )
    assert level.percent == (1260 - 500) * 100 // 1500
    async with db.reader() as session:
        fresh = await level_of(session, world.program_id, await make_member(db, world), NOW)
        later = await level_of(session, world.program_id, org, NOW + dt.timedelta(days=170))
    assert (fresh.key, fresh.points, fresh.next and fresh.next.points_needed) == ("bronze", 0, 500)
    # Half a year on, the 900 of day −200 have left the window.
    assert (later.key, later.points) == ("bronze", 360)


async def test_an_award_batch_counts_like_single_awards(db: Database) -> None:
    world = await make_program(db)
    org = await make_member(db, world)
    async with db.transaction() as session:
        await ledger.award_batch(
            session,
            program_id=world.program_id,
            awards=[Award(org_id=org, points=250, key=f"b:{i}") for i in range(3)],
            now=NOW - dt.timedelta(days=1),
        )
    async with db.reader() as session:
        level = await level_of(session, world.program_id, org, NOW)
    assert (level.key, level.points, level.next and level.next.key) == ("silver", 750, "gold")
