"""The invitations table: what a program typed about a partner it invites, and how the invitation ended."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from incentives.db import Base, UTCDateTime, utcnow


class Invitation(Base):
    """An offer of membership in a program, to the org of an existing user or to a new e-mail address.

    `org_id` is the invited org (for a new address: set when the invitee creates it). The inviting program sees
    only what it typed here; the org becomes visible to it through the membership that acceptance creates.
    A new address gets a set-password link: only its SHA-256 is kept, and `link_used_at` makes it single-use.
    """

    __tablename__ = "invitations"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'accepted', 'declined')", name="status_known"),
        CheckConstraint("tier IN ('platinum', 'gold', 'silver', 'registered')", name="tier_known"),
        CheckConstraint("capacity IS NULL OR capacity >= 0", name="capacity_not_negative"),
        Index("ix_invitations_program_email", "program_id", "email"),
        Index("ix_invitations_org", "org_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    email: Mapped[str] = mapped_column(String(254))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("orgs.id"))
    tier: Mapped[str] = mapped_column(String(20))
    competencies: Mapped[list[str]] = mapped_column(JSON, default=list)
    certifications: Mapped[list[str]] = mapped_column(JSON, default=list)
    regions: Mapped[list[str]] = mapped_column(JSON, default=list)
    capacity: Mapped[int | None] = mapped_column(Integer)
    distributor_id: Mapped[int | None] = mapped_column(ForeignKey("orgs.id"))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    invited_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    link_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    link_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    link_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
