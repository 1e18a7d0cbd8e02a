"""Leads endpoints of API.md: create, qualify, offer, pick list, reserve, feedback, return, read, list."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from incentives.db import utcnow
from incentives.errors import N_, Duplicate, FieldError, Forbidden, InvalidState, NotFound, ValidationFailed
from incentives.leads import corrections, matching, picklist, queries, services
from incentives.leads.errors import AlreadyReserved, FeedbackRequired
from incentives.leads.models import Lead, LeadStatus
from incentives.leads.schemas import CorrectionIn, FeedbackIn, InvalidIn, LeadIn, QualifyIn, ReofferIn, ReturnIn
from incentives.web.api.base import Api, database, json_response, page_limit, parse_body, path_id, principal, query_int
from incentives.web.api.schemas import money_json

api = Api()
MANAGED = (Forbidden, NotFound, InvalidState)  # a manager's step on a lead of the program


def full_lead(lead: Lead) -> dict[str, Any]:
    return {
        "id": lead.id,
        "program_id": lead.program_id,
        "external_id": lead.external_id,
        "status": lead.status,
        "company": lead.company,
        "contact": {"name": lead.contact_name, "email": lead.contact_email, "phone": lead.contact_phone},
        "country": lead.country,
        "postal_code": lead.postal_code,
        "city": lead.city,
        "lat": lead.lat,
        "lon": lead.lon,
        "industry": lead.industry,
        "product_line": lead.product_line,
        "temperature": lead.temperature,
        "estimated_value": money_json(lead.estimated_value),
        "required_certifications": lead.required_certifications,
        "notes": lead.notes,
        "source": lead.source,
        "qualification": lead.qualification,
        **_progress(lead),
    }


def _progress(lead: Lead) -> dict[str, Any]:
    return {
        "wave": lead.wave,
        "offered_at": lead.offered_at,
        "expires_at": lead.expires_at,
        "reserved_by": lead.reserved_by_org_id,
        "reserved_at": lead.reserved_at,
        "feedback_due_at": lead.feedback_due_at,
        "last_feedback": lead.last_feedback,
        "deal_value": money_json(lead.deal_value),
        "lost_reason": lead.lost_reason,
        "invalid": {"reason": lead.invalid_reason, "note": lead.invalid_note} if lead.invalid_reason else None,
    }


def teaser(lead: Lead) -> dict[str, Any]:
    return {
        "id": lead.id,
        "lead_id": lead.id,
        "program_id": lead.program_id,
        "status": lead.status,
        "temperature": lead.temperature,
        "product_line": lead.product_line,
        "industry": lead.industry,
        "country": lead.country,
        "postal_prefix": (lead.postal_code or "")[:2] or None,
        "value_band": picklist.value_band(lead.estimated_value),
        "wave": lead.wave,
        "offered_at": lead.offered_at,
        "expires_at": lead.expires_at,
    }


@api.route("POST", "/api/v1/leads", summary="Create a lead", body=LeadIn, status=201, errors=(Forbidden, Duplicate))
async def post_lead(request: Request) -> Response:
    body = await parse_body(request, LeadIn)
    async with database(request).transaction() as session:
        lead = await services.create_lead(session, principal(request), body.to_input())
    return json_response({"id": lead.id, "status": lead.status}, 201)


@api.route(
    "POST",
    "/api/v1/leads/{id:id}/qualify",
    summary="Qualify a new lead",
    body=QualifyIn,
    body_required=False,
    errors=MANAGED,
)
async def post_qualify(request: Request) -> Response:
    body = await parse_body(request, QualifyIn) if await request.body() else QualifyIn()
    async with database(request).transaction() as session:
        lead = await services.qualify_lead(session, principal(request), path_id(request), checked=body.checklist)
    return json_response({"id": lead.id, "status": lead.status})


@api.route("POST", "/api/v1/leads/{id:id}/offer", summary="Offer a qualified lead (wave 1)", errors=MANAGED)
async def post_offer(request: Request) -> Response:
    async with database(request).transaction() as session:
        lead, offers = await services.offer_lead(session, principal(request), path_id(request))
        full = await matching.full_partners(session, lead, lead.program_id)
    return json_response(
        {
            "id": lead.id,
            "status": lead.status,
            "wave": lead.wave,
            "expires_at": lead.expires_at,
            "offered_to": [{"org_id": o.org_id, "score": o.score, "breakdown": o.breakdown} for o in offers],
            # Hard capacity mode: partners of the lead's region left out because they hold their capacity.
            "left_out_at_capacity": full,
        }
    )


@api.route("GET", "/api/v1/picklist", summary="Teasers of the leads offered to your org", errors=(ValidationFailed,))
async def get_picklist(request: Request) -> Response:
    who = principal(request)
    if who.role not in services.PICKERS:
        return json_response({"can_reserve": False, "blocked_by": [], "items": []})
    temperature = request.query_params.get("temperature")
    if temperature not in (None, "hot", "warm", "cold"):
        raise ValidationFailed(
            [FieldError(("query", "temperature"), N_("Must be one of: %(expected)s."), expected="hot, warm, cold")]
        )
    async with database(request).reader() as session:
        result = await picklist.pick_list(
            session, who.org_id, utcnow(), temperature=temperature, sort=request.query_params.get("sort", "time_left")
        )
    return json_response(
        {
            "can_reserve": result.can_reserve,
            "blocked_by": result.blocked_by,
            "items": [
                {
                    "lead_id": t.lead_id,
                    "program_id": t.program_id,
                    "temperature": t.temperature,
                    "product_line": t.product_line,
                    "industry": t.industry,
                    "country": t.country,
                    "postal_prefix": t.postal_prefix,
                    "value_band": t.value_band,
                    "offered_at": t.offered_at,
                    "expires_at": t.expires_at,
                    "can_reserve": t.can_reserve,
                }
                for t in result.items
            ],
        }
    )


@api.route(
    "POST",
    "/api/v1/leads/{id:id}/reserve",
    summary="Reserve a lead: first come, first served",
    errors=(AlreadyReserved, FeedbackRequired, NotFound),
)
async def post_reserve(request: Request) -> Response:
    async with database(request).transaction() as session:
        lead = await services.reserve_lead(session, principal(request), path_id(request))
    return json_response(full_lead(lead))


@api.route(
    "POST",
    "/api/v1/leads/{id:id}/feedback",
    summary="Report what happened",
    body=FeedbackIn,
    errors=(NotFound, InvalidState),
)
async def post_feedback(request: Request) -> Response:
    body = await parse_body(request, FeedbackIn)
    async with database(request).transaction() as session:
        lead = await services.give_feedback(
            session,
            principal(request),
            path_id(request),
            status=body.status,
            note=body.note,
            deal_value=body.deal_value,
            lost_reason=body.lost_reason,
        )
    return json_response(full_lead(lead))


@api.route(
    "POST",
    "/api/v1/leads/{id:id}/return",
    summary="Give a reserved lead back",
    body=ReturnIn,
    errors=(NotFound, InvalidState),
)
async def post_return(request: Request) -> Response:
    body = await parse_body(request, ReturnIn)
    async with database(request).transaction() as session:
        lead = await services.return_lead(session, principal(request), path_id(request), body.reason)
    return json_response({"id": lead.id, "status": lead.status, "wave": lead.wave})


@api.route(
    "POST",
    "/api/v1/leads/{id:id}/reoffer",
    summary="Offer a lead again from wave 1 (manager)",
    body=ReofferIn,
    errors=MANAGED,
)
async def post_reoffer(request: Request) -> Response:
    body = await parse_body(request, ReofferIn)
    async with database(request).transaction() as session:
        lead = await services.reoffer_lead(session, principal(request), path_id(request), body.reason)
    return json_response({"id": lead.id, "status": lead.status, "wave": lead.wave})


@api.route(
    "POST",
    "/api/v1/leads/{id:id}/correct",
    summary="Correct a lead's feedback status (manager); the points follow the correction",
    body=CorrectionIn,
    errors=MANAGED,
)
async def post_correct(request: Request) -> Response:
    body = await parse_body(request, CorrectionIn)
    async with database(request).transaction() as session:
        lead = await corrections.correct_status(
            session,
            principal(request),
            path_id(request),
            status=body.status,
            reason=body.reason,
            deal_value=body.deal_value,
            lost_reason=body.lost_reason,
        )
    return json_response(full_lead(lead))


@api.route(
    "POST",
    "/api/v1/leads/{id:id}/invalidate",
    summary="Mark a lead invalid (manager): fake, duplicate or no real need; what it paid is taken back",
    body=InvalidIn,
    errors=MANAGED,
)
async def post_invalidate(request: Request) -> Response:
    body = await parse_body(request, InvalidIn)
    async with database(request).transaction() as session:
        lead = await corrections.mark_invalid(
            session, principal(request), path_id(request), reason=body.reason, note=body.note
        )
    return json_response(full_lead(lead))


@api.route(
    "GET",
    "/api/v1/leads/{id:id}",
    summary="A lead: in full for its reserver and managers, else a teaser",
    errors=(NotFound,),
)
async def get_lead(request: Request) -> Response:
    who = principal(request)
    async with database(request).reader() as session:
        lead, full = await services.lead_for(session, who, path_id(request))
        body = full_lead(lead) if full else teaser(lead)
        if full and who.acts_for_program:
            offers = [offer for offer, _ in await queries.offers_of(session, lead.id)]
            body["offers"] = [
                {
                    "org_id": o.org_id,
                    "wave": o.wave,
                    "score": o.score,
                    "state": o.state,
                    "breakdown": o.breakdown,
                    "offered_at": o.offered_at,
                }
                for o in offers
            ]
    return json_response(body)


@api.route("GET", "/api/v1/leads", summary="Leads in your scope", errors=(ValidationFailed,))
async def list_leads(request: Request) -> Response:
    who = principal(request)
    params = request.query_params
    limit = page_limit(request)
    cursor = query_int(request, "cursor")
    status = params.get("status") or None
    if status is not None and status not in {s.value for s in LeadStatus}:
        raise ValidationFailed(
            [
                FieldError(
                    ("query", "status"),
                    N_("Must be one of: %(expected)s."),
                    expected=", ".join(s.value for s in LeadStatus),
                )
            ]
        )
    program_id = query_int(request, "program_id")
    async with database(request).reader() as session:
        page, next_id = await queries.leads_in_scope(
            session, services.lead_scope(who), status=status, program_id=program_id, before=cursor, limit=limit
        )
    return json_response(
        {
            "items": [full_lead(lead) for lead in page],
            "next_cursor": None if next_id is None else str(next_id),
        }
    )
