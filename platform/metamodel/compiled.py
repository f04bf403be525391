"""The compiled metamodel: everything a request needs, built once per metamodel version.

What the compiler (:mod:`trellis.metamodel.compiler`) builds from the metamodel rows: record
tables as SQLAlchemy ``Table`` objects, input schemas, parsed expressions, option lists and
pipelines, each entity type's prepared statements, row readers and value hooks.
:class:`trellis.metamodel.model_cache.MetamodelCache` keeps one model per stamp.

Each compiled entity type has its own ``MetaData``: an old model, once evicted, takes with it
the tables only it used. The tables and the input schema are built on first use.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property, partial
from operator import itemgetter
from typing import Any

import marshmallow as ma
from sqlalchemy import (
    ColumnElement,
    Insert,
    MetaData,
    Select,
    Table,
    Update,
    bindparam,
    insert,
    select,
    update,
)

from trellis.errors import NotFound
from trellis.expressions import CompiledExpression
from trellis.metamodel.fieldtypes import FieldType
from trellis.metamodel.fieldtypes.base import ValueChecker
from trellis.metamodel.fieldtypes.input_fields import fast_input_of
from trellis.metamodel.loading import InputLoader, input_loader
from trellis.metamodel.memo import built_once
from trellis.metamodel.normalised import COMPARABLE, kind_of, normalised_column
from trellis.metamodel.physical import FieldLayout, build_table, entity_tables


@dataclass(frozen=True)
class CompiledOption:
    key: str
    label: str
    position: int
    color: str
    active: bool


@dataclass(frozen=True)
class CompiledOptionList:
    key: str
    label: str
    options: dict[str, CompiledOption]


@dataclass(frozen=True)
class CompiledField:
    """A field ready for use: its type object and settings resolved."""

    id: int
    key: str
    label: str
    help_text: str
    type: FieldType
    required: bool
    default: Any
    unique: bool
    indexed: bool
    position: int
    archived: bool
    settings: dict[str, Any]

    @property
    def type_name(self) -> str:
        return self.type.name

    @cached_property
    def operand_input(self) -> ma.fields.Field:
        """The input field that reads this field's filter operands, built once (no type's
        input field depends on anything but the field's settings)."""
        return self.type.input_field(self, None)

    @cached_property
    def operand_fast(self) -> Callable[[Any], Any] | None:
        """:attr:`operand_input`'s fast path (see ``FieldType.fast_input``): what its
        ``deserialize`` gives for the common operands, :data:`SLOW` for others; None: none."""
        return fast_input_of(self.operand_input)


@dataclass(frozen=True)
class CompiledStage:
    key: str
    label: str
    position: int
    color: str
    kind: str
    #: the stages of the pipeline a record here may move to; None: any (see ``Stage``)
    next_stages: frozenset[str] | None = None
    #: role key -> label of the roles that may move records here; empty: anyone who may update
    enter_roles: dict[str, str] = field(default_factory=dict)
    #: entered only as the outcome of a flow
    flow_only: bool = False


@dataclass(frozen=True)
class CompiledPipeline:
    key: str
    label: str
    position: int
    stages: dict[str, CompiledStage]

    def first_stage(self) -> CompiledStage:
        """Where new records start: the first open stage (or the first stage)."""
        return self._first_stage

    @cached_property  # (asked for each record created: found once per compiled pipeline)
    def _first_stage(self) -> CompiledStage:
        stages = list(self.stages.values())
        return next((s for s in stages if s.kind == "open"), stages[0])

    def success_stage(self) -> CompiledStage | None:
        return next((s for s in self.stages.values() if s.kind == "success"), None)


@dataclass(frozen=True)
class CompiledRule:
    """A rule with its expressions parsed. See :class:`trellis.metamodel.models.Rule`."""

    id: int
    kind: str
    field_key: str | None
    condition: CompiledExpression | None
    from_pipeline: str | None
    from_stage: str | None
    expression: CompiledExpression | None
    message: str

    @cached_property
    def field_keys(self) -> frozenset[str]:
        """The field keys the rule depends on: its field and the names in its expressions."""
        names = {self.field_key} if self.field_key else set()
        for expression in (self.condition, self.expression):
            if expression is not None:
                names |= expression.names_used
        return frozenset(names)


class RowValues:
    """A record row's field values, by field key in field order, as each field's reader reads
    them: the fields read as they are stored (a reader that is an ``itemgetter`` of one
    column) are taken in one ``itemgetter`` call, the others by their readers; a field kept
    in a side table (no reader) is left to the caller to set (its place is kept)."""

    def __init__(
        self, readers: Iterable[tuple[str, Callable[[Mapping[str, Any]], Any] | None]]
    ) -> None:
        keys, columns, others = [], [], []
        for key, read in readers:
            keys.append(key)
            items = read.__reduce__()[1] if type(read) is itemgetter else ()
            if len(items) == 1:
                columns.append(items[0])
            else:
                columns.append("id")  # a place held for the reader's value (or the side's)
                if read is not None:
                    others.append((key, read))
        self.keys = tuple(keys)
        if len(columns) > 1:
            self._columns: Callable[[Mapping[str, Any]], Any] = itemgetter(*columns)
        else:  # itemgetter of one item gives the value, not a tuple of it
            self._columns = lambda row: tuple(row[c] for c in columns)
        self._others = tuple(others)

    def __call__(self, row: Mapping[str, Any]) -> dict[str, Any]:
        values = dict(zip(self.keys, self._columns(row), strict=True))
        for key, read in self._others:
            values[key] = read(row)
        return values


@dataclass
class CompiledEntity:
    key: str
    label: str
    label_plural: str
    description: str
    title_template: str
    archived: bool
    fields: dict[str, CompiledField]
    archived_fields: dict[str, CompiledField]
    pipelines: dict[str, CompiledPipeline]
    rules: list[CompiledRule]
    title_keys: tuple[str, ...] = ()
    #: the active fields a kanban card shows, in order
    card_fields: tuple[str, ...] = ()
    #: the entity type's revision this was compiled from
    revision: str = ""
    #: every field, archived ones too, in table order: what the tables are built from
    table_fields: tuple[CompiledField, ...] = ()
    #: the model this was compiled for, weakly (the input fields' ``model`` argument)
    compiled_for: Callable[[], CompiledModel | None] = lambda: None
    _building: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    @property
    def has_pipelines(self) -> bool:
        return bool(self.pipelines)

    # The tables and the input schema are most of a compile's cost and are built on first
    # use: a worker catching up with a change to one entity type builds them only once a
    # request uses that type (once per compiled entity type, under a lock, so every thread
    # shares the same Table objects and SQLAlchemy's statement cache keeps working).

    def _once(self, name: str, build: Callable[[], Any]) -> Any:
        return built_once(self.__dict__, name, build, self._building)

    @property
    def table(self) -> Table:
        """The record table (a SQLAlchemy ``Table`` in a ``MetaData`` of its own)."""
        return self._once("_tables", self._build_tables)[0]

    @property
    def side_tables(self) -> dict[str, Table]:
        """The side tables of multi-valued fields, by field key."""
        return self._once("_tables", self._build_tables)[1]

    @property
    def input_schema(self) -> ma.Schema:
        """The marshmallow schema of API and form input (active fields)."""
        return self._once("_input_schema", self._build_input_schema)

    def _build_tables(self) -> tuple[Table, dict[str, Table]]:
        layouts = [
            FieldLayout(
                f.key, f.type, f.settings, f.label, f.unique, f.indexed, archived=f.archived
            )
            for f in self.table_fields
        ]
        specs = entity_tables(self.key, layouts)
        metadata = MetaData()  # its own: kept entity types never hold on to replaced ones
        with_sides = [f for f in self.table_fields if f.type.side_table(f, "") is not None]
        sides = {
            f.key: build_table(spec, metadata)
            for spec, f in zip(specs[1:], with_sides, strict=True)
        }
        return build_table(specs[0], metadata), sides

    def _build_input_schema(self) -> ma.Schema:
        model = self.compiled_for()
        schema = InputSchema.from_dict(
            {f.key: f.type.input_field(f, model) for f in self.fields.values()},  # type: ignore[arg-type]
            name=f"{self.key.title()}Input",
        )
        return schema()

    @cached_property
    def insert_returning_id(self) -> Insert:
        """The INSERT of record rows, their ids back in the order of the rows (one row or
        many): built once per compiled entity, so SQLAlchemy compiles it once too."""
        return insert(self.table).returning(self.table.c.id, sort_by_parameter_order=True)

    @cached_property
    def insert_one_returning_id(self) -> Insert:
        """The INSERT of one record row, its id back (sorting ids into the order of the rows
        is for many rows and costs SQLAlchemy work on every execution)."""
        return insert(self.table).returning(self.table.c.id)

    @cached_property
    def update_by_version(self) -> Update:
        """The UPDATE of one record row at the version it was read (bound as ``_of_id`` and
        ``_of_version``, names no field key can have; the columns set are the other
        parameters): built once per compiled entity, so SQLAlchemy compiles it once per set
        of columns."""
        t = self.table
        return update(t).where(
            t.c.id == bindparam("_of_id"), t.c.version == bindparam("_of_version")
        )

    @cached_property
    def select_by_id(self) -> Select:
        """The SELECT of one record row by its id (bound as ``id``): built once per compiled
        entity, so a read of one record neither builds nor compiles a statement."""
        return select(self.table).where(self.table.c.id == bindparam("id"))

    @cached_property
    def direct_statements(self) -> dict[Any, Any]:
        """Statements of this entity type's tables compiled per dialect to run on the
        driver's cursor (``trellis.records.direct``), kept with the compiled entity type."""
        return {}

    @cached_property
    def page_statements(self) -> dict[Any, Any]:
        """List page statements prepared per shape (see ``trellis.records.prepared``): kept
        with the compiled entity type, whose tables they read."""
        return {}

    @cached_property
    def row_readers(self) -> tuple[tuple[str, Callable[[Mapping[str, Any]], Any] | None], ...]:
        """Each active field's key and how its value is read from a record row (None for a
        field kept in a side table), in field order: worked out once per compiled entity
        type, so reading a page of records calls one prepared reader per value."""
        return tuple(
            (key, None if key in self.side_tables else f.type.reader(f))
            for key, f in self.fields.items()
        )

    @cached_property
    def scaled_row_readers(
        self,
    ) -> tuple[tuple[str, Callable[[Mapping[str, Any]], Any] | None], ...]:
        """:attr:`row_readers` for rows whose NUMERIC columns hold Decimals with each
        column's places already (see ``FieldType.scaled_reader``): SQLAlchemy's rows on a
        database without native decimals (SQLite), whose numbers it fits to the column's
        scale as it reads them, so they are not fitted a second time."""
        return tuple(
            (key, None if key in self.side_tables else f.type.scaled_reader(f))
            for key, f in self.fields.items()
        )

    @cached_property
    def values_reader(self) -> RowValues:
        """A record row's field values as :attr:`row_readers` read them, in one call."""
        return RowValues(self.row_readers)

    @cached_property
    def scaled_values_reader(self) -> RowValues:
        """A record row's field values as :attr:`scaled_row_readers` read them, in one call."""
        return RowValues(self.scaled_row_readers)

    @cached_property
    def input_loader(self) -> InputLoader:
        """How a write loads its input values (see ``trellis.metamodel.loading``): built
        once per compiled entity type."""
        return input_loader(self.fields)

    @cached_property
    def comparable_columns(self) -> dict[str, ColumnElement[Any]]:
        """Each active field a duplicate rule may compare, in its comparable form (the
        expression of its index, see ``normalised``), by key: built once per compiled entity
        type."""
        return {
            key: normalised_column(kind_of(f.type.name), self.table.c[f.type.columns(f)[0].name])
            for key, f in self.fields.items()
            if f.type.name in COMPARABLE
        }

    @cached_property
    def row_columns(self) -> tuple[tuple[str, str | None], ...]:
        """Each active field's key and the one column its value is stored in as it is (None:
        the type's ``to_row`` makes the columns), in field order."""
        return tuple((key, f.type.column_of(f)) for key, f in self.fields.items())

    @cached_property
    def row_writers(
        self,
    ) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, Convert], ...]]:
        """:attr:`row_columns` split for writing rows: the (key, column) of the values stored
        as they are, and the (key, ``to_row`` of the field) of the others (side-table fields
        included: their ``to_row`` gives no column)."""
        direct = tuple((key, column) for key, column in self.row_columns if column is not None)
        converted = tuple(
            (key, partial(self.fields[key].type.to_row, self.fields[key]))
            for key, column in self.row_columns
            if column is None
        )
        return direct, converted

    @cached_property
    def value_hooks(self) -> ValueHooks:
        """What a write does with each active field's values, worked out once per compiled
        entity type (see :class:`ValueHooks`)."""
        return ValueHooks.of(self.fields)

    def default_pipeline(self) -> CompiledPipeline | None:
        return next(iter(self.pipelines.values()), None)


Convert = Callable[[Any], Any]


@dataclass(frozen=True)
class ValueHooks:
    """The field types' value hooks of an entity type's active fields, prepared once: only
    the ``to_plain`` and ``to_audit`` that change a value (a type that keeps
    the base's identity has none), so a write makes one prepared call per value where one
    is needed and none elsewhere; and which fields are required, have a default, hold users
    or references or are unique, so a write skips the checks no field needs."""

    #: every active field's empty value, in field order
    empty: dict[str, Any]
    #: the keys of the fields with a default (deserialised on every write, as before)
    defaulted: frozenset[str]
    plain: tuple[tuple[str, Convert], ...]
    audit: dict[str, Convert]
    #: each active field's ``is_empty``
    is_empty: dict[str, Callable[[Any], bool]]
    #: the value checkers of the fields whose type checks more than its input field
    checkers: dict[str, ValueChecker]
    #: each active field's key, its own ``is_empty`` (None: the base's) and ``to_audit``
    #: (None: the value as it is), in field order: what a create's audit row is made with
    audit_plan: tuple[tuple[str, Callable[[Any], bool] | None, Convert | None], ...]
    #: the keys of the active fields kept in side tables
    side_keys: tuple[str, ...]
    required: tuple[str, ...]
    has_users: bool
    has_references: bool
    unique: tuple[CompiledField, ...]

    @classmethod
    def of(cls, fields: Mapping[str, CompiledField]) -> ValueHooks:
        def overrides(f: CompiledField, name: str) -> bool:
            return getattr(type(f.type), name) is not getattr(FieldType, name)

        return cls(
            empty={key: f.type.empty_value for key, f in fields.items()},
            defaulted=frozenset(key for key, f in fields.items() if f.default is not None),
            plain=tuple(
                (key, partial(f.type.to_plain, f))
                for key, f in fields.items()
                if overrides(f, "to_plain")
            ),
            audit={
                key: partial(f.type.to_audit, f)
                for key, f in fields.items()
                if overrides(f, "to_audit") or overrides(f, "to_plain")
            },
            is_empty={key: f.type.is_empty for key, f in fields.items()},
            checkers={
                key: checker
                for key, f in fields.items()
                if (checker := f.type.value_checker(f)) is not None
            },
            audit_plan=tuple(
                (
                    key,
                    f.type.is_empty if overrides(f, "is_empty") else None,
                    partial(f.type.to_audit, f)
                    if overrides(f, "to_audit") or overrides(f, "to_plain")
                    else None,
                )
                for key, f in fields.items()
            ),
            side_keys=tuple(
                key for key, f in fields.items() if f.type.side_table(f, "") is not None
            ),
            required=tuple(key for key, f in fields.items() if f.required),
            has_users=any(f.type.name == "user" for f in fields.values()),
            has_references=any(f.type.name == "reference" for f in fields.values()),
            unique=tuple(f for f in fields.values() if f.unique),
        )


@dataclass
class CompiledModel:
    """All entity types (archived ones in ``archived_entities``) and option lists."""

    stamp: str
    version: int
    entities: dict[str, CompiledEntity] = field(default_factory=dict)
    archived_entities: dict[str, CompiledEntity] = field(default_factory=dict)
    option_lists: dict[str, CompiledOptionList] = field(default_factory=dict)
    #: keys of the entity types compiled for this model (the others were kept from an
    #: earlier one)
    recompiled: tuple[str, ...] = ()
    #: configuration read with this model and kept as long as it (the conversion maps and
    #: duplicate rules, see ``conversion.setup``), by its reader's key: every change of it
    #: moves the metamodel stamp, so it is as current as the model (see ``memo.built_once``)
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def entity(self, key: str) -> CompiledEntity:
        try:
            return self.entities[key]
        except KeyError:
            raise NotFound(f"No entity type {key!r}.") from None


class InputSchema(ma.Schema):
    """Base of the entity types' input schemas. Not registered in marshmallow's class
    registry, which keeps every registered class for good (one more per compile)."""

    class Meta:
        register = False
