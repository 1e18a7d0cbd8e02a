"""The partners' "how to earn points" page: each rule that can pay them in plain words with its condition
("+30 points — when you reserve a cold lead"), and the campaigns their tier and regions take part in."""

from __future__ import annotations

from dataclasses import dataclass, replace

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from incentives.accounts.roles import Role
from incentives.db import utcnow
from incentives.errors import N_, NotFound
from incentives.rules.describe import PointsShape, describe_points
from incentives.rules.earning import ways_to_earn
from incentives.rules.plain import Clause, clause, clauses_of
from incentives.web import nav
from incentives.web.context import current_db, current_principal
from incentives.web.rules import CSS, LABELS, last_day, name_of
from incentives.web.templating import render

EARNERS = {Role.RESELLER_MANAGER, Role.RESELLER_REP}
nav.register("/points/earn", N_("How to earn points"), EARNERS, order=45, more_for=EARNERS)

# Whole sentences per event and lead temperature: German declines the adjective, so no fragment is pasted in.
WHEN: dict[tuple[str, str], str] = {
    ("lead.reserved", ""): N_("When you reserve a lead"),
    ("lead.reserved", "cold"): N_("When you reserve a cold lead"),
    ("lead.reserved", "warm"): N_("When you reserve a warm lead"),
    ("lead.reserved", "hot"): N_("When you reserve a hot lead"),
    ("lead.feedback", ""): N_("When you give feedback on a lead"),
    ("lead.feedback", "cold"): N_("When you give feedback on a cold lead"),
    ("lead.feedback", "warm"): N_("When you give feedback on a warm lead"),
    ("lead.feedback", "hot"): N_("When you give feedback on a hot lead"),
    ("lead.won", ""): N_("When you win a deal"),
    ("lead.won", "cold"): N_("When you win a deal from a cold lead"),
    ("lead.won", "warm"): N_("When you win a deal from a warm lead"),
    ("lead.won", "hot"): N_("When you win a deal from a hot lead"),
    ("lead.lost", ""): N_("When you report a lost deal"),
    ("lead.lost", "cold"): N_("When you report a lost deal from a cold lead"),
    ("lead.lost", "warm"): N_("When you report a lost deal from a warm lead"),
    ("lead.lost", "hot"): N_("When you report a lost deal from a hot lead"),
    ("lead.returned", ""): N_("When you return a lead"),
    ("lead.returned", "cold"): N_("When you return a cold lead"),
    ("lead.returned", "warm"): N_("When you return a warm lead"),
    ("lead.returned", "hot"): N_("When you return a hot lead"),
}


@dataclass(frozen=True)
class Way:
    """One rule as a partner reads it; `clauses` None: its condition is more than the page can say."""

    name: str
    when: str
    points: PointsShape
    clauses: list[Clause] | None
    cap_per: str | None
    cap_max_points: int | None


def way_of(name: str, event: str, condition: str, points: PointsShape, cap: tuple[str | None, int | None]) -> Way:
    clauses = clauses_of(condition)
    temperature = clause(clauses, "temperature") if clauses else None
    key = str(temperature.value) if temperature else ""
    if temperature and points.by_temperature:  # the rule pays only this temperature: say its one amount
        points = replace(points, constant=points.by_temperature[key], by_temperature=None)
    others = None if clauses is None else [c for c in clauses if c.kind != "temperature"]
    return Way(name, WHEN.get((event, key), WHEN[(event, "")]), points, others, *cap)


async def earn_page(request: Request) -> Response:
    who = current_principal(request)
    if who.role not in EARNERS:
        raise NotFound()
    now = utcnow()
    async with current_db(request).reader() as session:
        earning = await ways_to_earn(session, who.org_id, now)
    versions = earning.rules
    ways = [
        way_of(name_of(request, v), v.event, v.condition, describe_points(v), (v.cap_per, v.cap_max_points))
        for v in versions
        if v.campaign_id is None
    ]
    extras = {
        item.campaign.id: [
            (name_of(request, v), describe_points(v)) for v in versions if v.campaign_id == item.campaign.id
        ]
        for item in earning.campaigns
    }
    context = {
        "ways": ways,
        "progress": earning.campaigns,
        "extras": extras,
        "reverses": earning.reverses,
        "last_day": last_day,
        "now": now,
        "name_of": name_of,
        "css": CSS,
        **LABELS,
    }
    return render(request, "rules/earn.html", context)


routes = [Route("/points/earn", earn_page)]
