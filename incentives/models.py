"""Imports every domain's tables, so that Base.metadata knows the whole schema."""

from incentives.accounts.models import ApiToken, LoginAttempt, Membership, Org, Program, User
from incentives.idempotency import IdempotencyRecord

__all__ = ["ApiToken", "IdempotencyRecord", "LoginAttempt", "Membership", "Org", "Program", "User"]
