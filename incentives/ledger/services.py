"""Ledger operations: earn, batch awards, hold, post, void, redeem, adjust, reverse and expiry.

Only partner accounts cache their counters (the row every spend checks and locks). The program's
system accounts (issuance, sinks, expired, clawback) are sums of their transfers: caching them would
make the issuance row a lock that serializes every award of a program.

Every operation joins the unit of work its caller opened (`async with session.begin()`): the caller's
other writes and the ledger's commit or roll back together, and an operation called outside a transaction
is refused. Each (except the sweeps' steps) takes an idempotency key, unique per program in the database:
the same key with the same payload returns the original transfer and writes nothing; with another payload
it raises IdempotencyConflict. Concurrent twins never fail: spending operations look the key up under the
account lock, and awards skip a conflicting key and replay it.
"""

from __future__ import annotations

from incentives.ledger.book import Cause, Transfer
from incentives.ledger.checks import OutsideTransaction
from incentives.ledger.earning import Award, award_batch, award_points, reverse_award
from incentives.ledger.errors import InsufficientPoints
from incentives.ledger.expiry import DueExpiry, due_expiry, expire_account
from incentives.ledger.spending import adjust_points, hold_points, post_hold, redeem_points, timed_out_holds, void_hold

__all__ = [
    "Award",
    "Cause",
    "DueExpiry",
    "InsufficientPoints",
    "OutsideTransaction",
    "Transfer",
    "adjust_points",
    "award_batch",
    "award_points",
    "due_expiry",
    "expire_account",
    "hold_points",
    "post_hold",
    "redeem_points",
    "reverse_award",
    "timed_out_holds",
    "void_hold",
]
