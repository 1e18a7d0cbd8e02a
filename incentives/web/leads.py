"""Lead pages for partners: the pick list (live, HTMX), reserving, my leads with one-step feedback and return;
the lead detail every role sees; and the labels every lead page shares."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from incentives import i18n
from incentives.accounts import queries as accounts
from incentives.accounts.qualification import program_checklist
from incentives.accounts.roles import Role
from incentives.accounts.scope import Principal
from incentives.db import utcnow
from incentives.errors import N_, DomainError, NotFound
from incentives.leads import matching, picklist, queries, services
from incentives.leads.errors import AlreadyReserved
from incentives.leads.models import FeedbackStatus, LeadEvent, LeadOffer, LeadStatus
from incentives.rules import preview
from incentives.web import nav, unchanged
from incentives.web.context import current_db, current_principal
from incentives.web.events import page_topics
from incentives.web.templating import hx_redirect, is_htmx, remember_moment, render, see_other

nav.register("/picklist", N_("Pick list"), {Role.RESELLER_MANAGER, Role.RESELLER_REP}, order=10)
nav.register("/leads/mine", N_("My leads"), {Role.RESELLER_MANAGER, Role.RESELLER_REP}, order=20)

TEMPERATURE_LABELS = {"hot": N_("hot"), "warm": N_("warm"), "cold": N_("cold")}
STATUS_LABELS = {
    "new": N_("new"),
    "qualified": N_("qualified"),
    "offered": N_("offered"),
    "reserved": N_("reserved"),
    "won": N_("won"),
    "lost": N_("lost"),
    "unclaimed": N_("unclaimed"),
    "invalid": N_("invalid"),
}
INVALID_LABELS = {
    "fake": N_("fake enquiry"),
    "duplicate": N_("duplicate"),
    "no_need": N_("not a real need"),
}
FEEDBACK_LABELS = {
    "contacted": N_("contacted"),
    "meeting": N_("meeting"),
    "proposal": N_("proposal"),
    "won": N_("won"),
    "lost": N_("lost"),
    "not_reachable": N_("not reachable"),
}
VALUE_BAND_LABELS = {
    "under_10k": N_("under 10,000 €"),
    "10k_50k": N_("10,000–50,000 €"),
    "50k_250k": N_("50,000–250,000 €"),
    "over_250k": N_("over 250,000 €"),
    "unknown": N_("value unknown"),
}
PART_LABELS = {
    "competence": N_("Competence"),
    "tier": N_("Tier"),
    "conversion": N_("Past conversion"),
    "proximity": N_("Proximity"),
    "capacity": N_("Free capacity"),
    "fairness": N_("Fairness"),
}
EVENT_LABELS = {
    "created": N_("created"),
    "qualified": N_("qualified"),
    "offered": N_("offered"),
    "escalated": N_("escalated"),
    "reserved": N_("reserved"),
    "feedback": N_("feedback given"),
    "feedback_overdue": N_("feedback overdue"),
    "returned": N_("returned"),
    "reoffered": N_("offered again"),
    "manager_reoffer": N_("offered again by a manager"),
    "unclaimed": N_("unclaimed"),
    "status_corrected": N_("status corrected by a manager"),
    "invalidated": N_("marked invalid"),
}
OFFER_STATE_LABELS = {"open": N_("open"), "returned": N_("returned"), "withdrawn": N_("withdrawn")}
LABELS = {
    "temperatures": TEMPERATURE_LABELS,
    "statuses": STATUS_LABELS,
    "feedbacks": FEEDBACK_LABELS,
    "bands": VALUE_BAND_LABELS,
    "parts": PART_LABELS,
    "event_kinds": EVENT_LABELS,
    "offer_states": OFFER_STATE_LABELS,
    "invalid_reasons": INVALID_LABELS,
}


def _picker(request: Request) -> Principal:
    who = current_principal(request)
    if who.role not in services.PICKERS:
        raise NotFound()
    return who


def hours_left(expires_at: dt.datetime | None, now: dt.datetime) -> int:
    if expires_at is None:
        return 0
    return max(0, int((expires_at - now).total_seconds() // 3600))


async def picklist_page(request: Request) -> Response:
    who = _picker(request)
    temperature = request.query_params.get("temperature") or None
    if temperature not in (None, "hot", "warm", "cold"):
        temperature = None
    sort = request.query_params.get("sort") or "time_left"
    seen = await unchanged.versions_before_reading(request, await page_topics(request, who))
    now = utcnow()
    async with current_db(request).reader() as session:
        result = await picklist.pick_list(session, who.org_id, now, temperature=temperature, sort=sort)
        earns = await preview.reserve_preview(session, who.org_id, [item.lead_id for item in result.items], now)
        # The gate names what it waits for: the partner's own overdue leads, each answerable right here.
        overdue = await queries.reserved_among(session, who.org_id, result.blocked_by) if result.blocked_by else []
        earnings = await preview.feedback_preview(session, who.org_id, overdue, now) if overdue else {}
    context = {
        "pick": result,
        "overdue": overdue,
        "earnings": earnings,
        "earns": earns,
        "now": now,
        "temperature": temperature,
        "sort": sort,
        "hours_left": hours_left,
        **LABELS,
    }
    rendered = render(request, "leads/picklist.html", context, block="picklist")
    return unchanged.stamp(request, rendered, seen, fresh_until(result.items, now))


def fresh_until(items: list[picklist.Teaser], now: dt.datetime) -> float:
    """When the clock alone changes the list: the next "hours left" to tick down (or never, as far as it knows)."""
    ticks = [
        (item.expires_at - now).total_seconds() % 3600 for item in items if item.expires_at and item.expires_at > now
    ]
    return now.timestamp() + min(ticks, default=unchanged.FRESH_SECONDS)


async def reserve(request: Request) -> Response:
    """Reserve from the pick list: the winner goes straight to the full lead, the others learn it in place."""
    who = _picker(request)
    lead_id = int(request.path_params["id"])
    async with current_db(request).reader() as session:
        earns = await preview.reserve_preview(session, who.org_id, [lead_id], utcnow())
    try:
        async with current_db(request).transaction() as session:
            await services.reserve_lead(session, who, lead_id)
    except AlreadyReserved as exc:
        async with current_db(request).reader() as session:
            lead = await queries.lead(session, lead_id)
        if lead is not None and lead.reserved_by_org_id == who.org_id:  # a double click of the winner
            return hx_redirect(f"/leads/{lead_id}") if is_htmx(request) else see_other(f"/leads/{lead_id}")
        return _card_message(request, lead_id, exc)
    except DomainError as exc:
        if not is_htmx(request):
            raise
        return _card_message(request, lead_id, exc)
    remember_moment(request, "reserved", earns.get(lead_id, 0))
    return hx_redirect(f"/leads/{lead_id}") if is_htmx(request) else see_other(f"/leads/{lead_id}")


def _card_message(request: Request, lead_id: int, error: DomainError) -> Response:
    return render(
        request,
        "leads/includes/card_message.html",
        {"lead_id": lead_id, "error": error},
        status_code=200 if is_htmx(request) else error.status,
    )


async def my_leads(request: Request) -> Response:
    who = _picker(request)
    now = utcnow()
    async with current_db(request).reader() as session:
        own = await queries.own_leads(session, who.org_id)
        earnings = await preview.feedback_preview(session, who.org_id, own.open, now)
    context = {"leads": own.open, "closed": own.closed, "earnings": earnings, "now": now, **LABELS}
    return render(request, "leads/mine.html", context)


async def lead_detail(request: Request) -> Response:
    return await render_detail(request, int(request.path_params["id"]))


async def render_detail(request: Request, lead_id: int, error: DomainError | None = None) -> Response:
    """The lead's page; with the `error` of a manager's correction shown in place."""
    who = current_principal(request)
    async with current_db(request).reader() as session:
        lead, full = await services.lead_for(session, who, lead_id)
        offers: list[tuple[LeadOffer, str]] = []
        trail: list[LeadEvent] = []
        at_capacity: list[int] = []
        if full and who.acts_for_program:
            offers = await queries.offers_of(session, lead.id)
            trail = await queries.trail_of(session, lead.id)
            if lead.status in (LeadStatus.OFFERED, LeadStatus.UNCLAIMED):
                at_capacity = await matching.full_partners(session, lead, lead.program_id)
        reserver = await accounts.org(session, lead.reserved_by_org_id) if lead.reserved_by_org_id else None
        mine = lead.reserved_by_org_id == who.org_id and who.role in services.PICKERS
        earnings = await preview.feedback_preview(session, who.org_id, [lead], utcnow()) if mine and full else {}
        checklist = await program_checklist(session, lead.program_id) if full and who.acts_for_program else []
    return render(
        request,
        "leads/detail.html",
        {
            "lead": lead,
            "full": full,
            "mine": mine,
            "offers": offers,
            "trail": trail,
            "reserver": reserver,
            "earnings": earnings,
            "now": utcnow(),
            "manager": who.role in services.MANAGERS,
            "enters_leads": who.role in services.LEAD_ENTRY,
            "checklist": checklist,
            "checklist_names": {item["key"]: item["name"] for item in checklist},
            "hours_left": hours_left,
            "manager_error": error,
            "at_capacity": len(at_capacity),
            **LABELS,
        },
        status_code=error.status if error else 200,
    )


async def feedback(request: Request) -> Response:
    who = _picker(request)
    lead_id = int(request.path_params["id"])
    form = await request.form()
    status = str(form.get("status", ""))
    error: DomainError | None = None
    try:
        if status not in FeedbackStatus.__members__.values():
            raise DomainError(N_("Please choose what happened."))
        deal_value = deal_value_of(str(form.get("deal_value", "")), request.state.locale)
        earns = await _feedback_earns(request, who, lead_id, status)
        async with current_db(request).transaction() as session:
            await services.give_feedback(
                session,
                who,
                lead_id,
                status=status,
                note=str(form.get("note", "")) or None,
                deal_value=deal_value,
                lost_reason=str(form.get("lost_reason", "")) or None,
            )
    except NotFound:
        raise
    except DomainError as exc:
        error = exc
    if error is None:
        remember_moment(request, "feedback", earns)
        # Answered from the pick list's gate: back to the pick list, which may take reservations again.
        then = "/picklist" if form.get("next") == "/picklist" else "/leads/mine"
        return hx_redirect(then) if is_htmx(request) else see_other(then)
    async with current_db(request).reader() as session:
        lead = await queries.lead(session, lead_id)
        if lead is None:
            raise NotFound()
        own = lead.reserved_by_org_id == who.org_id
        earnings = await preview.feedback_preview(session, who.org_id, [lead], utcnow()) if own else {}
    return render(
        request,
        "leads/includes/feedback_form.html",
        {
            "lead": lead,
            "error": error,
            "earnings": earnings,
            "now": utcnow(),
            "next": "/picklist" if form.get("next") == "/picklist" else None,
            "typed": {name: str(form.get(name, "")) for name in ("status", "deal_value", "lost_reason", "note")},
            **LABELS,
        },
        status_code=200 if is_htmx(request) else error.status,
    )


async def _feedback_earns(request: Request, who: Principal, lead_id: int, status: str) -> int:
    """What feedback `status` on the lead earns now (0 for a lead that is not the partner's open one)."""
    async with current_db(request).reader() as session:
        lead = await queries.lead(session, lead_id)
        if lead is None or lead.reserved_by_org_id != who.org_id:
            return 0
        earnings = await preview.feedback_preview(session, who.org_id, [lead], utcnow())
    return earnings.get(lead_id, {}).get(status, 0)


async def return_to_pool(request: Request) -> Response:
    who = _picker(request)
    lead_id = int(request.path_params["id"])
    form = await request.form()
    async with current_db(request).transaction() as session:
        await services.return_lead(session, who, lead_id, str(form.get("reason", "")))
    return hx_redirect("/leads/mine") if is_htmx(request) else see_other("/leads/mine")


def deal_value_of(raw: str, locale: str) -> Decimal | None:
    """The deal value as the reader types it: 18.500,50 in German, 18,500.50 in English."""
    try:
        value = i18n.parse_number(raw, locale)
    except ValueError as exc:
        raise DomainError(N_("Please enter the deal value as a number.")) from exc
    if value is None:
        return None
    if value <= 0 or value >= Decimal("1000000000"):
        raise DomainError(N_("Please enter the deal value as a number."))
    return value.quantize(Decimal("0.01"))


routes = [
    Route("/picklist", picklist_page),
    Route("/leads/mine", my_leads),
    Route("/leads/{id:id}", lead_detail),
    Route("/leads/{id:id}/reserve", reserve, methods=["POST"]),
    Route("/leads/{id:id}/feedback", feedback, methods=["POST"]),
    Route("/leads/{id:id}/return", return_to_pool, methods=["POST"]),
]
