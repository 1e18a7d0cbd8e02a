"""Errors the rewards domain raises besides the shared ones in incentives.errors."""

from __future__ import annotations

from incentives.errors import N_, DomainError


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
