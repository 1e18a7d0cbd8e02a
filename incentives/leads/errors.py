"""Errors of the leads domain, with the stable codes of API.md."""

from __future__ import annotations

from incentives.errors import N_, DomainError


class AlreadyReserved(DomainError):
    status = 409
    code = "already_reserved"
    title = N_("This lead was already reserved by another partner.")


class FeedbackRequired(DomainError):
    status = 403
    code = "feedback_required"
    title = N_("Please give the overdue feedback on your leads before you reserve new ones.")
