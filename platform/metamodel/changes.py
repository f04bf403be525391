"""What every metamodel change shares: validation helpers, the schema sync, the version bump
and the configuration history. The operations themselves live in one module per concept
(:mod:`.entities`, :mod:`.fields`, :mod:`.option_lists`, :mod:`.pipelines`, :mod:`.rules`) and
are gathered in :class:`trellis.metamodel.service.MetamodelService`.

Services take a session and never commit: the caller owns the transaction, so the metamodel
rows and the DDL they cause commit or roll back together.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy import exc as sa_exc
from sqlalchemy import insert, literal, select, update
from sqlalchemy.orm import Session, joinedload

from trellis.accounts import SYSTEM, Actor
from trellis.clock import utcnow
from trellis.errors import NotFound, PermissionDenied, ValidationFailed
from trellis.metamodel.compiled import CompiledModel
from trellis.metamodel.fieldtypes import registry
from trellis.metamodel.migrator import apply_actions, read_record_tables
from trellis.metamodel.model_cache import MetamodelCache
from trellis.metamodel.models import ConfigChange, EntityType, Field, MetaState
from trellis.metamodel.physical import (
    KEY_PATTERN,
    RESERVED_KEYS,
    FieldLayout,
    ListIndexLayout,
    entity_tables,
    record_table_name,
)
from trellis.metamodel.planner import Action, plan_schema_changes

#: Other modules (conversion maps, templates, routes) add checks here: each returns sentences
#: naming what uses ``entity`` (or its ``field`` when given), which blocks archive and purge.
UsageCheck = Callable[[Session, str, str | None], list[str]]
USAGE_CHECKS: list[UsageCheck] = []
#: checks (same shape) naming what would break if a field changed its type: they block it
TYPE_CHANGE_CHECKS: list[UsageCheck] = []
#: Other modules (duplicate rules) add these: each returns the keys of the fields of an
#: entity type it compares, whose normalised values the schema then keeps indexed.
ComparedFields = Callable[[Session, str], set[str]]
COMPARED_FIELDS: list[ComparedFields] = []


class Errors(dict[str, list[str]]):
    """Collects problems by field name, so all of them are reported at once."""

    def add(self, key: str, message: str) -> None:
        self.setdefault(key, []).append(message)

    def raise_if_any(self) -> None:
        if self:
            raise ValidationFailed(dict(self))


def key_errors(key: Any, what: str = "key") -> list[str]:
    """A key is a lower-case identifier of at most 30 characters, not a reserved word."""
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        return [
            f"Use a {what} of 1-30 lower-case letters, digits or underscores, "
            "starting with a letter."
        ]
    if "__" in key:  # ``field__op`` names a filter; ``entity__field`` a side table
        return [f"A {what} must not contain a double underscore."]
    if key in RESERVED_KEYS:
        return [f"{key!r} is reserved; choose another {what}."]
    return []


def position_errors(position: Any) -> list[str]:
    """A position is a whole number that fits its (32-bit) column."""
    if isinstance(position, bool) or not isinstance(position, int):
        return ["Use a whole number."]
    if not -(2**31) <= position < 2**31:
        return ["Out of range."]
    return []


#: the length of every label column (String(100))
MAX_LABEL = 100


def label_errors(label: Any, max_length: int = MAX_LABEL) -> list[str]:
    if not isinstance(label, str) or not label.strip():
        return ["A label is required."]
    if len(label) > max_length:
        return [f"At most {max_length} characters."]
    return []


class RecordUpkeep(Protocol):
    """What a configuration change asks of the records layer, which sits above the metamodel
    (it writes records, the metamodel never does): the runtime passes the records layer's
    implementation (:data:`trellis.records.upkeep.RECORD_UPKEEP`) to the metamodel service."""

    def relocate_stage(
        self,
        session: Session,
        model: CompiledModel,
        actor: Actor,
        entity: str,
        moves: list[tuple[str, str, str, str]],
    ) -> None:
        """Move the records of each ``(from_pipeline, from_stage, to_pipeline, to_stage)``."""

    def forget_entity(self, session: Session, entity: str) -> None:
        """Drop the history (audit, stage visits) of a purged entity type's records."""


class MetamodelChanges:
    """Shared state and plumbing of metamodel operations."""

    def __init__(
        self,
        session: Session,
        cache: MetamodelCache,
        actor: Actor = SYSTEM,
        records: RecordUpkeep | None = None,
    ) -> None:
        if not actor.is_admin:
            raise PermissionDenied("Only administrators may change the configuration.")
        self.session = session
        self.cache = cache
        self.actor = actor
        self._records = records

    @property
    def records(self) -> RecordUpkeep:
        """The records layer's part of a change (moving records out of a removed stage...)."""
        if self._records is None:
            raise RuntimeError("This change needs the records layer: pass records=RECORD_UPKEEP.")
        return self._records

    @property
    def model(self) -> CompiledModel:
        """The compiled model as this transaction sees it (rebuilt after each change)."""
        return self.cache.get(self.session)

    @property
    def model_if_read(self) -> CompiledModel:
        """The compiled model, compiled only when a check reads it: most field types' settings
        checks never look, and compiling (after another change) costs a change several
        statements and the compile of an entity type."""
        return _ModelWhenRead(self)  # type: ignore[return-value]

    # -- lookups ---------------------------------------------------------------------------

    def entity_row(self, key: str, *, archived: bool | None = False) -> EntityType:
        """The entity type ``key``; archived ones only when ``archived`` is None or True.
        Its fields come in the same statement (every change reads them: the schema sync does)."""
        query = select(EntityType).where(EntityType.key == key)
        entity = self.session.scalars(query.options(joinedload(EntityType.fields))).unique().first()
        if entity is None or (archived is not None and entity.archived != archived):
            state = "archived " if archived else ""
            raise NotFound(f"No {state}entity type {key!r}.")
        return entity

    def field_row(self, entity: EntityType, key: str) -> Field:
        for field in entity.fields:
            if field.key == key:
                return field
        raise NotFound(f"Entity type {entity.key!r} has no field {key!r}.")

    def usages(self, entity: str, field: str | None = None) -> list[str]:
        """Everything in the configuration that refers to ``entity`` (or its ``field``)."""
        found: list[str] = []
        for check in USAGE_CHECKS:
            found.extend(check(self.session, entity, field))
        return found

    # -- after every change ----------------------------------------------------------------

    def sync_schema(self, entity: EntityType, drop: frozenset[str] = frozenset()) -> list[str]:
        """Plan and apply the table changes for ``entity``; drops only what ``drop`` names
        (``"table"`` or ``"table.column"``). Returns what was done, in words."""
        return sync_schema(self.session, entity, drop)

    def bump(self, action: str, target: str, detail: dict[str, Any] | None = None) -> None:
        """Record the change in the history and move the metamodel stamp."""
        if self.session.get_bind().dialect.name == "postgresql" and self._bump_in_one(
            action, target, detail or {}
        ):
            return
        move_stamp(self.session)
        self.session.add(
            ConfigChange(by=self.actor.user_id, action=action, target=target, detail=detail or {})
        )
        self.session.flush()

    def _bump_in_one(self, action: str, target: str, detail: dict[str, Any]) -> bool:
        """PostgreSQL: move the stamp (as :func:`move_stamp` does) and write the history row
        in one statement (a round trip less per change); False when there is no state row
        yet."""
        self.session.flush()  # pending rows first, as the ORM's own flush would send them
        stamp = uuid.uuid4().hex
        state, history = MetaState.__table__, ConfigChange.__table__
        moved = (
            update(state)
            .where(state.c.id == 1)
            .values(version=state.c.version + 1, stamp=stamp)
            .returning(state.c.id)
            .cte("moved")
        )
        values = {
            "at": utcnow(),
            "by": self.actor.user_id,
            "action": action,
            "target": target,
            "detail": detail,
        }
        row = select(*(literal(v, history.c[k].type) for k, v in values.items()))
        written = self.session.execute(
            insert(history).from_select(list(values), row.select_from(moved)).add_cte(moved)
        )
        if not written.rowcount:  # type: ignore[attr-defined]
            return False
        self.session.info[STAMP_MOVED] = stamp
        return True


#: ``session.info`` key: the stamp this session last moved the metamodel to (a model of
#: another stamp compiled before the change does not show it)
STAMP_MOVED = "trellis.stamp_moved"


def move_stamp(session: Session) -> None:
    """Move the metamodel stamp: every worker's next transaction compiles the model again
    (only what changed). Called by every configuration change a compiled model or what is
    kept with it (``CompiledModel.memo``) depends on."""
    stamp = uuid.uuid4().hex
    # one UPDATE, no read first (an ORM update: a loaded state row follows it)
    moved = session.execute(
        update(MetaState)
        .where(MetaState.id == 1)
        .values(version=MetaState.version + 1, stamp=stamp)
    )
    if not moved.rowcount:  # type: ignore[attr-defined]
        session.add(MetaState(id=1, version=1, stamp=stamp))
    session.info[STAMP_MOVED] = stamp


class _ModelWhenRead:
    """Stands for :attr:`MetamodelChanges.model` until an attribute is read."""

    def __init__(self, changes: MetamodelChanges) -> None:
        self._changes = changes

    def __getattr__(self, name: str) -> Any:
        return getattr(self._changes.model, name)


def sync_schema(
    session: Session, entity: EntityType, drop: frozenset[str] = frozenset()
) -> list[str]:
    """Plan and apply the table changes for ``entity`` (reading only its own tables); drops
    only what ``drop`` names (``"table"`` or ``"table.column"``). Returns what was done."""
    session.flush()
    connection = session.connection()
    compared = set().union(*(fields(session, entity.key) for fields in COMPARED_FIELDS))
    layouts = [
        FieldLayout(
            f.key,
            registry.get(f.type),
            f.settings or {},
            f.label,
            f.unique,
            f.indexed,
            f.key in compared,
            archived=f.archived,
        )
        for f in entity.fields
    ]
    declared = [ListIndexLayout.from_json(item) for item in entity.list_indexes or ()]
    wanted = entity_tables(entity.key, layouts, declared)
    actual = read_record_tables(connection, record_table_name(entity.key))
    actions = [a for a in plan_schema_changes(wanted, actual) if _allowed(a, drop)]
    try:
        with session.begin_nested():
            return apply_actions(connection, actions)
    except sa_exc.IntegrityError as exc:
        raise ValidationFailed(
            {"unique": ["Existing records have duplicate values; make them unique first."]}
        ) from exc
    except sa_exc.DBAPIError as exc:
        refused = f"The database refused the change: {exc.orig}"
        raise ValidationFailed({"_schema": [refused]}) from exc


def _allowed(action: Action, drop: frozenset[str]) -> bool:
    if not action.destructive:
        return True
    column = getattr(action, "column", None)
    return (f"{action.table}.{column}" if column else action.table) in drop
