"""The notifications table: a message id with parameters, for one org or one user of it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from incentives.db import Base, UTCDateTime, utcnow


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_recipient", "org_id", "user_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"))
    # None: everyone of the org (program roles act for their program's manufacturer org).
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(60))
    # An untranslated message id (N_) and its parameters, translated when shown in the reader's language.
    message: Mapped[str] = mapped_column(String(500))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    link: Mapped[str | None] = mapped_column(String(500))
    # Makes a sweep's notification once-only: the same key is never stored twice.
    dedup_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ToastCursor(Base):
    """How far a user has seen award toasts: the id of the last notification shown to it as a toast.

    Award notices go to the whole org; each of its users sees each toast once, on whatever page is open.
    """

    __tablename__ = "toast_cursors"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    last_id: Mapped[int] = mapped_column(Integer, default=0)


class PushSubscription(Base):
    """A browser's Web Push subscription (PushManager.subscribe): where to send and the keys to encrypt with."""

    __tablename__ = "push_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    endpoint: Mapped[str] = mapped_column(String(1000), unique=True)
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_pushed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class PushCursor(Base):
    """The id of the last notification handed to Web Push: one row, moved forward by compare-and-set."""

    __tablename__ = "push_cursor"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_id: Mapped[int] = mapped_column(Integer, default=0)
