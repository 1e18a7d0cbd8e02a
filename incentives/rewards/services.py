"""The rewards domain's operations, the door its callers use: add and list catalog items, redeem, decide
(approve, reject, cancel), and the reconcile sweep's finish and fail. Reads are in `rewards.queries`.

Each state change is one unit of work, the ledger's part included: every operation joins the caller's
transaction (`db.transaction()`, or `Database.run`, which runs the unit again when a concurrent twin of the
same request committed first) and never begins or commits one itself, so a crash leaves a redemption before
or after a step, never inside one. The work is done in `catalog` (items), `redemptions` (the request) and
`decisions` (what follows it); `workflow` and `limits` hold what those two share.
"""

from __future__ import annotations

from incentives.rewards.catalog import create_reward, list_rewards
from incentives.rewards.decisions import (
    approve_redemption,
    cancel_redemption,
    fail_redemption,
    finish_redemption,
    reject_redemption,
)
from incentives.rewards.redemptions import MAX_QUANTITY, redeem

__all__ = [
    "MAX_QUANTITY",
    "approve_redemption",
    "cancel_redemption",
    "create_reward",
    "fail_redemption",
    "finish_redemption",
    "list_rewards",
    "redeem",
    "reject_redemption",
]
