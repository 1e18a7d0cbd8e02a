"""The feedback status path of a lead: contacted → meeting → proposal → won | lost (not_reachable before them).

Feedback pays for progress: a status the lead reaches for the first time is new; the same status again is a
note that pays nothing; a status behind the one reached is refused (only a manager may correct it).
"""

from __future__ import annotations

from incentives.errors import N_, InvalidState
from incentives.leads.models import FeedbackStatus

# Not reachable comes before any contact: a lead that was reached cannot become "not reachable" again.
RANK: dict[str, int] = {
    FeedbackStatus.NOT_REACHABLE: 0,
    FeedbackStatus.CONTACTED: 1,
    FeedbackStatus.MEETING: 2,
    FeedbackStatus.PROPOSAL: 3,
    FeedbackStatus.WON: 4,
    FeedbackStatus.LOST: 4,
}

BACKWARDS = N_("This lead is further along already; its status cannot go back. Your partner manager can correct it.")


def is_new_status(reached: str | None, status: str) -> bool:
    """Whether `status` moves the lead forward from the status `reached` (None: no feedback yet).

    Raises InvalidState when it would go back."""
    if reached is None:
        return True
    if status == reached:
        return False
    if RANK[status] <= RANK[reached]:
        raise InvalidState(BACKWARDS)
    return True


def undone_by(reached: str | None, corrected: str) -> set[str]:
    """The statuses a manager's correction from `reached` to `corrected` takes back (their awards follow)."""
    if reached is None or reached == corrected:
        return set()
    undone = {status for status, rank in RANK.items() if RANK[corrected] < rank <= RANK[reached]}
    if RANK[corrected] == RANK[reached]:  # won ↔ lost
        undone.add(reached)
    return undone - {corrected}
