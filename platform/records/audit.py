"""The audit log and the stage history of records.

Every record change writes one :class:`AuditEvent` holding what changed, field by field
(``{"field": [old, new]}``), with option keys rather than labels so a rename never rewrites
history. Stage moves also open and close :class:`StageVisit` rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, delete
from sqlalchemy.orm import Mapped, Session, mapped_column

from trellis.clock import as_utc, utcnow
from trellis.db import Base

BigId = BigInteger().with_variant(Integer(), "sqlite")


class AuditEvent(Base):
    """One change of one record: created, updated, stage, deleted, converted..."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_record", "entity", "record_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entity: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: who acted when no user did: a flow's outcome or service task is ``flow:<key>``
    via: Mapped[str | None] = mapped_column(String(60), nullable=True)
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class StageVisit(Base):
    """A stay of a record in a stage: entered (when, by whom) and left (when, by whom)."""

    __tablename__ = "stage_visit"
    __table_args__ = (Index("ix_stage_visit_record", "entity", "record_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entity: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int] = mapped_column(BigInteger)
    pipeline: Mapped[str] = mapped_column(String(40))
    stage: Mapped[str] = mapped_column(String(40))
    entered_at: Mapped[datetime] = mapped_column(default=utcnow)
    entered_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: as ``AuditEvent.via``: the flow that moved the record in
    entered_via: Mapped[str | None] = mapped_column(String(60), nullable=True)
    left_at: Mapped[datetime | None] = mapped_column(nullable=True)
    left_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    def duration(self, now: datetime | None = None) -> timedelta:
        """How long the record stayed (or, in its current stage, has stayed so far)."""
        end = as_utc(self.left_at or now or utcnow())
        return max(end - as_utc(self.entered_at), timedelta(0))


def acting_via(user_id: int | None, username: str) -> str | None:
    """What ``via`` records for an actor: its name when no user acts and it is not the plain
    system (``flow:<key>``), else nothing."""
    if user_id is not None or username == "system":
        return None
    return username[:60]


def forget_entity(session: Session, entity: str) -> None:
    """Drop the audit and stage history of a purged entity type."""
    session.execute(delete(AuditEvent).where(AuditEvent.entity == entity))
    session.execute(delete(StageVisit).where(StageVisit.entity == entity))
