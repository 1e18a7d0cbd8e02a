"""Reward catalog pages for partners: the catalog of a program with the wallet, and redeeming an item."""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from incentives.errors import N_, DomainError, NotFound
from incentives.rewards import queries, services
from incentives.rewards.models import Redemption
from incentives.rewards.scope import DECIDERS, REDEEMERS
from incentives.web import nav
from incentives.web.context import current_db, current_principal
from incentives.web.forms import error_message
from incentives.web.rewards_base import PARTNERS, chosen_program, int_param, page_context
from incentives.web.templating import is_htmx, render, see_other

# Few main entries (the header must fit a phone); redemptions and MDF budgets are one click away
# in the rewards area's own sub-navigation.
nav.register("/rewards", N_("Rewards"), PARTNERS | DECIDERS, order=40)


async def catalog(request: Request) -> Response:
    principal = current_principal(request)
    async with current_db(request).reader() as session:
        program_id, programs = await chosen_program(session, principal, request)
        rewards = await services.list_rewards(session, principal, program_id) if program_id else []
        wallet = None
        if program_id and not principal.acts_for_program:
            wallet = await queries.wallet(session, program_id, principal.org_id)
    return render(
        request,
        "rewards/catalog.html",
        page_context(
            request,
            rewards=rewards,
            programs=programs,
            program_id=program_id,
            wallet=wallet,
            can_redeem=principal.role in REDEEMERS,
            new_key=lambda: uuid.uuid4().hex,
        ),
    )


async def redeem(request: Request) -> Response:
    """Hold the points; answers the reward's card and (out of band) the balance. One request key → one redemption."""
    principal = current_principal(request)
    reward_id = int(request.path_params["id"])
    form = await request.form()
    key = str(form.get("request_key", "")) or uuid.uuid4().hex
    quantity = int_param(form.get("quantity")) or 1
    error = None
    redemption: Redemption | None = None
    db = current_db(request)
    try:
        redemption = await db.run(
            lambda session: services.redeem(
                session, principal, reward_id=reward_id, quantity=quantity, request_key=f"web:{key}"
            )
        )
    except DomainError as exc:
        if exc.status == 404:
            raise
        error = error_message(request, exc)
    if not is_htmx(request):
        return see_other("/redemptions" if error is None else "/rewards")
    async with db.reader() as session:
        reward = await queries.reward(session, reward_id)
        if reward is None:
            raise NotFound()
        wallet = await queries.wallet(session, reward.program_id, principal.org_id)
        others = [r for r in await services.list_rewards(session, principal, reward.program_id) if r.id != reward_id]
    return render(
        request,
        "rewards/_redeemed.html",
        page_context(
            request,
            reward=reward,
            others=others,
            wallet=wallet,
            redemption=redemption,
            error=error,
            can_redeem=True,
            new_key=lambda: uuid.uuid4().hex,
        ),
    )


routes = [
    Route("/rewards", catalog),
    Route("/rewards/{id:id}/redeem", redeem, methods=["POST"]),
]
