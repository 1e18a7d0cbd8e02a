"""The matching-weights preview: who the last 50 leads would have gone to under other weights; changes nothing."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from incentives.db import utcnow
from incentives.errors import NotFound
from incentives.leads import matching_preview
from incentives.validation import Strict
from incentives.web.api.base import Api, database, json_response, parse_body, path_id, principal
from incentives.web.api.schemas import MatchingWeights

api = Api()


class PreviewIn(Strict):
    matching_weights: MatchingWeights


class LeadPreviewOut(BaseModel):
    lead_id: int
    offered_at: dt.datetime
    offered: list[int]
    would_offer: list[int]
    changed: bool


class PreviewOut(BaseModel):
    items: list[LeadPreviewOut]
    changed: int


@api.route(
    "POST",
    "/api/v1/programs/{id:id}/matching-preview",
    summary="Who the program's last 50 offered leads would have gone to (first wave) under these weights (managers)",
    body=PreviewIn,
    response=PreviewOut,
    errors=(NotFound,),
)
async def post_matching_preview(request: Request) -> Response:
    body = await parse_body(request, PreviewIn)
    weights = body.matching_weights.model_dump(exclude_none=True)
    async with database(request).reader() as session:
        found = await matching_preview.preview(session, principal(request), path_id(request), weights, utcnow())
    items = [
        LeadPreviewOut(
            lead_id=p.lead_id, offered_at=p.offered_at, offered=p.offered, would_offer=p.would_offer, changed=p.changed
        )
        for p in found
    ]
    return json_response(PreviewOut(items=items, changed=sum(p.changed for p in found)).model_dump())
