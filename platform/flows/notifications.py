"""In-app notifications: a message for a user about a record, read or unread.

Written as plain rows in the transaction of the change that caused them (they do not leave
the system, so they need no outbox); the app shows the unread count in its menu.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from trellis.clock import utcnow
from trellis.db import Base

MESSAGE_LENGTH = 500


class Notification(Base):
    """One message for one user; ``read_at`` is empty until they have seen it."""

    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_user_read", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("auth_user.id", ondelete="CASCADE"))
    message: Mapped[str] = mapped_column(String(MESSAGE_LENGTH))
    entity: Mapped[str | None] = mapped_column(String(40), nullable=True)
    record_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: what sent it, in words ("automation 'big_deal'")
    source: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(nullable=True)


def notify(
    session: Session,
    user_ids: Iterable[int],
    message: str,
    *,
    entity: str | None = None,
    record_id: int | None = None,
    source: str = "",
) -> list[Notification]:
    """One unread notification per user (each user once)."""
    now = utcnow()
    rows = [
        Notification(
            user_id=user_id,
            message=message[:MESSAGE_LENGTH],
            entity=entity,
            record_id=record_id,
            source=source[:200],
            created_at=now,
        )
        for user_id in dict.fromkeys(user_ids)
    ]
    session.add_all(rows)
    session.flush()
    return rows


def unread_count(session: Session, user_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        )
        or 0
    )


def notifications_of(session: Session, user_id: int, limit: int = 100) -> list[Notification]:
    """The user's latest notifications, newest first."""
    return list(
        session.scalars(
            select(Notification)
            .where(Notification.user_id == user_id)
            .order_by(Notification.created_at.desc(), Notification.id.desc())
            .limit(limit)
        )
    )


def mark_read(session: Session, user_id: int, ids: Iterable[int] | None = None) -> int:
    """Mark the user's notifications read (the ones named, or all); returns how many."""
    query = update(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None)
    )
    if ids is not None:
        query = query.where(Notification.id.in_(list(ids)))
    return session.execute(query.values(read_at=utcnow())).rowcount
