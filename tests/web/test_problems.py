"""Problem bodies: an error's extra members never replace the RFC 9457 ones."""

from __future__ import annotations

from incentives.errors import InvalidState
from incentives.web.problems import problem_body


def test_an_extra_member_never_replaces_a_standard_one() -> None:
    error = InvalidState(extra={"status": "fulfilled", "code": "x", "type": "y", "overdue": [3]})
    body = problem_body(error, "en", "/api/v1/redemptions/1/approve")
    assert body["status"] == 409 and body["code"] == "invalid_state" and body["type"].endswith("/invalid_state")
    assert body["extra_status"] == "fulfilled" and body["extra_code"] == "x" and body["extra_type"] == "y"
    assert body["overdue"] == [3]  # members without a clash stay where API.md documents them
