"""Imports every domain's tables, so that Base.metadata knows the whole schema."""

from incentives.accounts.models import ApiToken, LoginAttempt, Membership, Org, PasswordReset, Program, User
from incentives.engagement.models import (
    Achievement,
    AchievementEarning,
    AchievementHit,
    AchievementTally,
)
from incentives.idempotency import IdempotencyRecord
from incentives.invitations.models import Invitation
from incentives.leaderboard.models import LeaderboardPoints, LeaderboardRank, LeaderboardState
from incentives.leads.models import Lead, LeadEvent, LeadOffer, OutboxEvent, StreakState
from incentives.ledger.models import LedgerAccount, LedgerLot, LedgerLotUse, LedgerTransfer
from incentives.mail.models import MailSettings, OutboxMail, UsedActionLink
from incentives.notifications.models import Notification, ToastCursor
from incentives.rewards.models import MdfAllocation, MdfClaim, Redemption, Reward, RewardUsage
from incentives.rules.models import Campaign, Rule, RuleAward, RuleCapUsage, RuleSkip, RuleVersion
from incentives.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookSubscription

__all__ = [
    "Achievement",
    "AchievementEarning",
    "AchievementHit",
    "AchievementTally",
    "ApiToken",
    "Campaign",
    "IdempotencyRecord",
    "Invitation",
    "Lead",
    "LeadEvent",
    "LeadOffer",
    "LeaderboardPoints",
    "LeaderboardRank",
    "LeaderboardState",
    "LedgerAccount",
    "LedgerLot",
    "LedgerLotUse",
    "LedgerTransfer",
    "LoginAttempt",
    "MailSettings",
    "MdfAllocation",
    "MdfClaim",
    "Membership",
    "Notification",
    "Org",
    "OutboxEvent",
    "OutboxMail",
    "PasswordReset",
    "Program",
    "Redemption",
    "Reward",
    "RewardUsage",
    "Rule",
    "RuleAward",
    "RuleCapUsage",
    "RuleSkip",
    "RuleVersion",
    "StreakState",
    "ToastCursor",
    "UsedActionLink",
    "User",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookSubscription",
]
