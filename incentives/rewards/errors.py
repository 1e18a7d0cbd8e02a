"""Errors the rewards domain raises besides the shared ones in incentives.errors, and the ledger's refusal for
want of points in the form a redeemer reads."""

from __future__ import annotations

from incentives.errors import N_, DomainError
from incentives.ledger.errors import InsufficientPoints


class OutOfStock(DomainError):
    status = 422
    code = "out_of_stock"
    title = N_("This reward is out of stock.")


class LimitReached(DomainError):
    status = 422
    code = "limit_reached"
    title = N_("Your limit for this reward in this period is reached.")


class RewardUnavailable(DomainError):
    status = 422
    code = "reward_unavailable"
    title = N_("This reward cannot be redeemed at the moment.")


def with_shortfall(exc: InsufficientPoints) -> InsufficientPoints:
    """The ledger's refusal, with the shortfall the redeemer needs to know."""
    available, points = int(exc.params.get("available", 0)), int(exc.params.get("points", 0))
    shortfall = max(points - available, 0)
    return InsufficientPoints(
        N_("%(shortfall)s more points are needed: %(available)s are available, %(points)s are needed."),
        params={"available": available, "points": points, "shortfall": shortfall},
        extra={"available": available, "points": points, "shortfall": shortfall},
    )
