"""What every rewards page shares: the area's sub-navigation and labels, the page context, the program switch."""

from __future__ import annotations

from typing import Any

from babel.numbers import format_percent
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from incentives import i18n
from incentives.accounts.roles import TIER_LABELS, Role
from incentives.accounts.scope import Principal
from incentives.errors import N_, NotFound
from incentives.rewards import queries
from incentives.rewards.scope import DECIDERS
from incentives.web.ids import int_in_range
from incentives.web.jsonbody import MAX_INT_DIGITS

PARTNERS = {Role.RESELLER_MANAGER, Role.RESELLER_REP, Role.DISTRIBUTOR_MANAGER}
SUBNAV = [
    ("/rewards", N_("Catalog"), PARTNERS | DECIDERS),
    ("/redemptions", N_("Redemptions"), PARTNERS | DECIDERS),
    ("/mdf", N_("MDF budgets"), PARTNERS | DECIDERS),
    ("/wallet", N_("Wallet"), PARTNERS),
    ("/approvals", N_("Approvals"), DECIDERS),
    ("/rewards/manage", N_("Manage catalog"), {Role.ADMIN}),
    ("/rewards/manage", N_("Reward catalog"), DECIDERS - {Role.ADMIN}),
]
KIND_LABELS = {"mdf": N_("MDF budget"), "discount": N_("Discount"), "bonus": N_("Bonus")}
STATUS_LABELS = {
    "requested": N_("requested"),
    "pending": N_("waiting for approval"),
    "approved": N_("approved"),
    "fulfilled": N_("fulfilled"),
    "rejected": N_("rejected"),
    "cancelled": N_("cancelled"),
    "failed": N_("failed"),
    "submitted": N_("submitted"),
}
TRANSFER_LABELS = {
    "earn": N_("earned"),
    "hold": N_("held for a redemption"),
    "post": N_("redeemed"),
    "void": N_("released"),
    "redeem": N_("redeemed"),
    "expire": N_("expired"),
    "reverse": N_("reversed"),
    "adjust": N_("adjustment"),
}
CSS = "/static/rewards-1.css"


def int_param(value: Any) -> int | None:
    """A number from a query or form, None when absent, not a number or beyond any id (web/ids.py)."""
    text = str(value)
    if value is None or len(text) > MAX_INT_DIGITS:
        return None
    try:
        number = int(text)
    except ValueError:
        return None
    return number if int_in_range(number) else None


def page_context(request: Request, **extra: Any) -> dict[str, Any]:
    principal: Principal | None = request.state.principal
    locale: str = request.state.locale
    return {
        "percent": lambda fraction: format_percent(
            fraction, locale=i18n.babel_locale(locale), decimal_quantization=False
        ),
        "css": CSS,
        "subnav": [(path, label) for path, label, roles in SUBNAV if principal and principal.role in roles],
        "kinds": KIND_LABELS,
        "statuses": STATUS_LABELS,
        "transfer_labels": TRANSFER_LABELS,
        "tiers": TIER_LABELS,
        "Role": Role,
        **extra,
    }


async def chosen_program(session: AsyncSession, principal: Principal, request: Request) -> tuple[int | None, list[Any]]:
    programs = await queries.programs_of(session, principal)
    wanted = int_param(request.query_params.get("program_id"))
    ids = [p.id for p in programs]
    if wanted is not None and wanted not in ids:
        raise NotFound()
    return (wanted if wanted is not None else (ids[0] if ids else None)), programs
