"""Errors the ledger raises besides the shared ones in incentives.errors."""

from __future__ import annotations

from incentives.errors import N_, DomainError


class InsufficientPoints(DomainError):
    status = 422
    code = "insufficient_points"
    title = N_("Not enough points available.")
