"""The metamodel stored as data: entity types, fields, option lists, pipelines and rules.

These are the platform's own tables (migrated with Alembic). Records do not live here: each
entity type has a runtime table built from these rows by :mod:`trellis.metamodel.schema`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from trellis.accounts import Role
from trellis.clock import utcnow
from trellis.db import Base


class EntityType(Base):
    """A kind of record (lead, deal, ...). ``key`` is a validated identifier and never changes."""

    __tablename__ = "meta_entity"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    label: Mapped[str] = mapped_column(String(100))
    label_plural: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    title_template: Mapped[str] = mapped_column(String(300), default="")
    #: keys of the fields a kanban card shows under the title (in the fields' order)
    card_fields: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: the list indexes an administrator declared: ``[{key, filters, sort, include}]``, kept
    #: by the schema planner (see :class:`trellis.metamodel.physical.ListIndexLayout`)
    list_indexes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    archived: Mapped[bool] = mapped_column(default=False)
    #: moves (a new random stamp) whenever the entity type or anything it owns (fields,
    #: pipelines, stages, rules) changes; see :func:`mark_changed_entities`
    revision: Mapped[str] = mapped_column(String(32), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    fields: Mapped[list[Field]] = relationship(
        back_populates="entity", order_by="Field.position", cascade="all, delete-orphan"
    )
    pipelines: Mapped[list[Pipeline]] = relationship(
        back_populates="entity", order_by="Pipeline.position", cascade="all, delete-orphan"
    )
    rules: Mapped[list[Rule]] = relationship(
        back_populates="entity", order_by="Rule.id", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"<EntityType {self.key}>"


class Field(Base):
    """A field of an entity type; its physical column(s) follow from its type and key."""

    __tablename__ = "meta_field"
    __table_args__ = (UniqueConstraint("entity_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("meta_entity.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(100))
    help_text: Mapped[str] = mapped_column(Text, default="")
    type: Mapped[str] = mapped_column(String(20))
    required: Mapped[bool] = mapped_column(default=False)
    default: Mapped[Any] = mapped_column(JSON, nullable=True)
    unique: Mapped[bool] = mapped_column(default=False)
    indexed: Mapped[bool] = mapped_column(default=False)
    position: Mapped[int] = mapped_column(default=0)
    archived: Mapped[bool] = mapped_column(default=False)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    entity: Mapped[EntityType] = relationship(back_populates="fields")

    def __repr__(self) -> str:
        return f"<Field {self.entity.key if self.entity else '?'}.{self.key}:{self.type}>"


class OptionList(Base):
    """A shared list of options; list fields of any entity type may point at it."""

    __tablename__ = "meta_option_list"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    label: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")

    options: Mapped[list[Option]] = relationship(
        back_populates="option_list", order_by="Option.position", cascade="all, delete-orphan"
    )


class Option(Base):
    """One choice of a list. Records store ``key``; the label is free text and may change."""

    __tablename__ = "meta_option"
    __table_args__ = (UniqueConstraint("list_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("meta_option_list.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(default=0)
    color: Mapped[str] = mapped_column(String(20), default="")
    active: Mapped[bool] = mapped_column(default=True)

    option_list: Mapped[OptionList] = relationship(back_populates="options")


class Pipeline(Base):
    """A stage pipeline of an entity type (e.g. the deal directions "Sales", "Wholesale")."""

    __tablename__ = "meta_pipeline"
    __table_args__ = (UniqueConstraint("entity_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("meta_entity.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(default=0)

    entity: Mapped[EntityType] = relationship(back_populates="pipelines")
    stages: Mapped[list[Stage]] = relationship(
        back_populates="pipeline", order_by="Stage.position", cascade="all, delete-orphan"
    )


STAGE_KINDS = ("open", "success", "failure")

#: the stages a record may move to from a stage (read only when the stage limits its moves)
stage_transitions = Table(
    "meta_stage_transition",
    Base.metadata,
    Column("from_stage_id", ForeignKey("meta_stage.id", ondelete="CASCADE"), primary_key=True),
    Column("to_stage_id", ForeignKey("meta_stage.id", ondelete="CASCADE"), primary_key=True),
)

#: the roles that may move records into a stage (none listed: anyone who may update the record)
stage_roles = Table(
    "meta_stage_role",
    Base.metadata,
    Column("stage_id", ForeignKey("meta_stage.id", ondelete="CASCADE"), primary_key=True),
    Column("role_id", ForeignKey("auth_role.id", ondelete="CASCADE"), primary_key=True),
)


class Stage(Base):
    """An ordered stage with a meaning: ``open``, ``success`` or ``failure``.

    Who moves records where: with ``limit_moves`` a record in this stage moves only to
    ``next_stages`` (none: it stays; without ``limit_moves`` it may move anywhere);
    ``enter_roles`` are the roles that may move records into it (none: anyone who may update
    the record); a ``flow_only`` stage is entered only as the outcome of a flow.
    """

    __tablename__ = "meta_stage"
    __table_args__ = (UniqueConstraint("pipeline_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pipeline_id: Mapped[int] = mapped_column(ForeignKey("meta_pipeline.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(default=0)
    color: Mapped[str] = mapped_column(String(20), default="")
    kind: Mapped[str] = mapped_column(String(10), default="open")
    limit_moves: Mapped[bool] = mapped_column(default=False)
    flow_only: Mapped[bool] = mapped_column(default=False)

    pipeline: Mapped[Pipeline] = relationship(back_populates="stages")
    next_stages: Mapped[list[Stage]] = relationship(
        secondary=stage_transitions,
        primaryjoin=lambda: Stage.id == stage_transitions.c.from_stage_id,
        secondaryjoin=lambda: Stage.id == stage_transitions.c.to_stage_id,
        order_by=lambda: Stage.position,
    )
    enter_roles: Mapped[list[Role]] = relationship(secondary=stage_roles, order_by="Role.key")


RULE_KINDS = ("required", "validation")


class Rule(Base):
    """A required-field rule or a validation rule of an entity type.

    ``key`` names it (``required_<field>``, ``validation_<n>`` unless given).
    ``required``: ``field_key`` must have a value, always, when ``condition`` holds, or once the
    record is at ``from_stage`` of its pipeline or later. ``validation``: ``expression`` must
    hold, otherwise ``message`` is reported (under ``field_key`` if given).
    """

    __tablename__ = "meta_rule"
    __table_args__ = (Index("uq_meta_rule_entity_key", "entity_id", "key", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("meta_entity.id", ondelete="CASCADE"))
    #: names the rule in config packs (unique per entity type; never changes)
    key: Mapped[str] = mapped_column(String(60), default="")
    kind: Mapped[str] = mapped_column(String(12))
    field_key: Mapped[str | None] = mapped_column(String(40), nullable=True)
    condition: Mapped[str] = mapped_column(Text, default="")
    from_stage_id: Mapped[int | None] = mapped_column(
        ForeignKey("meta_stage.id", ondelete="RESTRICT"), nullable=True
    )
    expression: Mapped[str] = mapped_column(Text, default="")
    message: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(default=True)

    entity: Mapped[EntityType] = relationship(back_populates="rules")
    from_stage: Mapped[Stage | None] = relationship()


class MetaState(Base):
    """One row: a counter and a stamp bumped by every metamodel change.

    Workers compare the stamp with their cached compiled metamodel and rebuild when it moved.
    A stamp (not only the counter) is compared so a rolled-back change is never mistaken for a
    committed one that reused its number.
    """

    __tablename__ = "meta_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(default=0)
    stamp: Mapped[str] = mapped_column(String(32), default="")


class ConfigChange(Base):
    """History of configuration changes: who changed what, when."""

    __tablename__ = "meta_change"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    by: Mapped[int | None] = mapped_column(nullable=True)
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


def _owner(row: object) -> EntityType | None:
    """The entity type a metamodel row belongs to (None for other rows)."""
    if isinstance(row, EntityType):
        return row
    if isinstance(row, Field | Pipeline | Rule):
        return row.entity
    if isinstance(row, Stage):
        return row.pipeline.entity if row.pipeline is not None else None
    return None


@event.listens_for(Session, "before_flush")
def mark_changed_entities(session: Session, _context: object, _instances: object) -> None:
    """Give every entity type whose rows (or whose stages' roles) change in this flush a new
    ``revision``.

    The compiled-model cache recompiles only the entity types whose revision moved, so this
    runs on every flush, whatever path changed the rows. A row taken out of its parent's
    collection leaves the parent changed, so removals are caught through the parent."""
    changed = (*session.new, *session.dirty, *session.deleted)
    if not changed:
        return
    touched: dict[int, EntityType] = {}
    with session.no_autoflush:
        roles = [r.id for r in changed if isinstance(r, Role) and r.id is not None]
        owners = [_owner(row) for row in changed]
        if roles:  # a stage shows the labels of the roles that may move records into it
            owners.extend(
                session.scalars(
                    select(EntityType)
                    .join(Pipeline)
                    .join(Stage)
                    .join(stage_roles)
                    .where(stage_roles.c.role_id.in_(roles))
                )
            )
        for entity in owners:
            if entity is not None and entity not in session.deleted:
                touched[id(entity)] = entity
    for entity in touched.values():
        entity.revision = uuid.uuid4().hex
