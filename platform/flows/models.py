"""Tables of flows: definitions, immutable published versions, instances pinned to their
version, user tasks, decisions and substitutes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from trellis.clock import utcnow
from trellis.db import Base

BIG_ID = BigInteger().with_variant(Integer(), "sqlite")
TRIGGERS = ("manual", "create", "stage", "field")
INSTANCE_STATUSES = ("running", "completed", "cancelled", "failed")
TASK_STATUSES = ("open", "completed", "cancelled")
DECISIONS = ("approve", "reject")


class Flow(Base):
    """A process definition of one entity type, started by hand or by a record event
    (``trigger``: manual, create, stage (entering ``trigger_stage``), field (a change of
    ``trigger_field``)), when the condition ``when`` holds."""

    __tablename__ = "flow"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    label: Mapped[str] = mapped_column(String(200))
    entity: Mapped[str] = mapped_column(String(40), index=True)
    trigger: Mapped[str] = mapped_column(String(10), default="manual")
    trigger_stage: Mapped[str | None] = mapped_column(String(40), nullable=True)
    trigger_field: Mapped[str | None] = mapped_column(String(40), nullable=True)
    when: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    live_version_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """the version new instances start on (the newest published one)"""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class FlowVersion(Base):
    """One version of a flow: a draft while ``published_at`` is empty, immutable after."""

    __tablename__ = "flow_version"
    __table_args__ = (UniqueConstraint("flow_id", "number"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    flow_id: Mapped[int] = mapped_column(ForeignKey("flow.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    bpmn: Mapped[str] = mapped_column(Text)
    hash: Mapped[str] = mapped_column(String(64))
    """sha256 of the BPMN XML: the key of the parsed spec every instance shares"""
    route: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    published_at: Mapped[datetime | None] = mapped_column(nullable=True)
    published_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class FlowInstance(Base):
    """A running (or finished) process about one record, pinned to its version. ``state`` is
    the process JSON without the spec; ``rev`` guards every save (``WHERE rev = :rev``)."""

    __tablename__ = "flow_instance"
    __table_args__ = (
        Index("ix_flow_instance_record", "entity", "record_id"),
        Index("ix_flow_instance_due", "status", "next_due_at"),
        Index("ix_flow_instance_version", "version_id", "status"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    flow_id: Mapped[int] = mapped_column(ForeignKey("flow.id", ondelete="CASCADE"))
    version_id: Mapped[int] = mapped_column(ForeignKey("flow_version.id"))
    entity: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(10), default="running")
    outcome: Mapped[str | None] = mapped_column(String(20), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    state: Mapped[str] = mapped_column(Text)
    rev: Mapped[int] = mapped_column(Integer, default=1)
    next_due_at: Mapped[datetime | None] = mapped_column(nullable=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)


class FlowTask(Base):
    """A user task of an instance: assigned to a user or to a role."""

    __tablename__ = "flow_task"
    __table_args__ = (
        Index("ix_flow_task_user", "assignee_user_id", "status"),
        Index("ix_flow_task_role", "assignee_role", "status"),
        UniqueConstraint("instance_id", "spiff_id"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("flow_instance.id", ondelete="CASCADE"), index=True
    )
    spiff_id: Mapped[str] = mapped_column(String(36))
    activity: Mapped[str] = mapped_column(String(100))
    label: Mapped[str] = mapped_column(String(200))
    assignee_user_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    assignee_role: Mapped[str | None] = mapped_column(String(40), nullable=True)
    delegated_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    due_at: Mapped[datetime | None] = mapped_column(nullable=True)
    status: Mapped[str] = mapped_column(String(10), default="open")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(nullable=True)


class FlowDecision(Base):
    """A decision on a task: by ``user_id``, for ``on_behalf_of`` when a substitute decided."""

    __tablename__ = "flow_decision"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("flow_task.id", ondelete="CASCADE"))
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("flow_instance.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    on_behalf_of: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    decision: Mapped[str] = mapped_column(String(10))
    comment: Mapped[str] = mapped_column(String(2000), default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Substitute(Base):
    """``substitute_id`` decides ``user_id``'s tasks from ``starts_on`` to ``ends_on``."""

    __tablename__ = "flow_substitute"
    __table_args__ = (Index("ix_flow_substitute_user", "user_id", "starts_on"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("auth_user.id", ondelete="CASCADE"))
    substitute_id: Mapped[int] = mapped_column(ForeignKey("auth_user.id", ondelete="CASCADE"))
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
