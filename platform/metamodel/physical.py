"""Physical names and table layouts derived from the metamodel.

Names are built only from validated keys (``^[a-z][a-z0-9_]*$``) plus fixed prefixes, and are
shortened with a hash past PostgreSQL's 63-character limit. No user text reaches SQL otherwise.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
)

from trellis.metamodel.fieldtypes import ColumnSpec, FieldType
from trellis.metamodel.normalised import COMPARABLE, kind_of, normalised_column
from trellis.patterns import fixed

RECORD_TABLE_PREFIX = "rec_"
MAX_IDENTIFIER = 63
KEY_PATTERN = fixed(r"^[a-z][a-z0-9_]{0,29}$")  # RE2: "$" is the very end

#: columns every record table has; field keys may not take these names
SYSTEM_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("id", BigInteger().with_variant(Integer(), "sqlite"), "pk"),
    ColumnSpec("version", Integer(), "integer"),
    ColumnSpec("created_at", DateTime(), "timestamp"),
    ColumnSpec("updated_at", DateTime(), "timestamp"),
    ColumnSpec("created_by", BigInteger(), "bigint"),
    ColumnSpec("updated_by", BigInteger(), "bigint"),
    ColumnSpec("owner_id", BigInteger(), "bigint"),
    ColumnSpec("pipeline", String(40), "varchar(40)"),
    ColumnSpec("stage", String(40), "varchar(40)"),
)
#: system columns the record service always fills: a sort or an index has no NULLs to place
NEVER_NULL_COLUMNS = frozenset({"id", "version", "created_at", "updated_at"})
RESERVED_KEYS = frozenset(
    {c.name for c in SYSTEM_COLUMNS}
    | {"title", "owner", "links", "history", "stage_history", "q", "sort", "page", "per_page"}
    | {"after", "total"}
)


def physical_name(*parts: str) -> str:
    """Join ``parts`` with ``_``; past 63 characters keep a prefix and add a short hash."""
    name = "_".join(parts)
    if len(name) <= MAX_IDENTIFIER:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name[: MAX_IDENTIFIER - 9]}_{digest}"


def record_table_name(entity_key: str) -> str:
    """The table of an entity type's records."""
    return physical_name(RECORD_TABLE_PREFIX + entity_key)


#: ``IndexSpec.normalised`` of an index read from the database that is on an expression
EXPRESSION = "expression"


@dataclass(frozen=True)
class IndexSpec:
    """An index the metamodel asks for.

    ``normalised`` (a kind of :mod:`trellis.metamodel.normalised`) makes it an index on the
    normalised value of its one column instead of on the column; its name says which kind."""

    name: str
    columns: tuple[str, ...]
    unique: bool = False
    normalised: str = ""
    list_order: bool = False
    """An index for list order (columns then ``id``): built ``NULLS FIRST`` on PostgreSQL
    (the columns that may be empty), so one index serves a sort both ways with empty values
    placed as SQLite places them."""


@dataclass(frozen=True)
class TableSpec:
    """A table the metamodel asks for: columns, primary key and indexes."""

    name: str
    columns: tuple[ColumnSpec, ...]
    primary_key: tuple[str, ...] = ("id",)
    indexes: tuple[IndexSpec, ...] = field(default_factory=tuple)

    def column(self, name: str) -> ColumnSpec | None:
        return next((c for c in self.columns if c.name == name), None)


@dataclass(frozen=True)
class FieldLayout:
    """What the physical layer needs to know of a field (archived ones included)."""

    key: str
    type: FieldType
    settings: dict
    label: str = ""
    unique: bool = False
    indexed: bool = False
    #: a duplicate rule compares it: its comparable form is indexed
    compared: bool = False
    archived: bool = False


def list_index(table: str, name: str, *columns: str) -> IndexSpec:
    """An index that serves a list filtered on its leading columns and sorted by its last
    column, with ``id`` as the tie-breaker (see ``records.query.sort_keys``)."""
    return IndexSpec(physical_name("ix", table, name), (*columns, "id"), list_order=True)


#: list columns a list index may name besides the fields: the filterable and sortable system
#: columns by the key a filter or sort uses (``owner`` is the column ``owner_id``)
LIST_SYSTEM_COLUMNS = {
    "owner": "owner_id",
    "created_by": "created_by",
    "pipeline": "pipeline",
    "stage": "stage",
    "created_at": "created_at",
    "updated_at": "updated_at",
    "version": "version",
}
#: the physical name of a declared list index starts with this (``ix_`` names the others)
LIST_INDEX_PREFIX = "lx"


@dataclass(frozen=True)
class ListIndexLayout:
    """A list index an administrator declared for an entity type (``meta_entity.list_indexes``):
    the fields a list filters on with equality, then the field it is sorted by, then ``id``,
    then the fields it only reads (a range filter such as ``amount >= 50000``), so that the
    page and its capped count are read from the index alone."""

    key: str
    filters: tuple[str, ...] = ()
    sort: str | None = None
    include: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, item: dict) -> ListIndexLayout:
        return cls(
            item["key"],
            tuple(item.get("filters") or ()),
            item.get("sort") or None,
            tuple(item.get("include") or ()),
        )


def list_index_columns(
    index: ListIndexLayout, fields: Iterable[FieldLayout]
) -> tuple[str, ...] | None:
    """The columns of a declared list index, or None while one of its fields is archived,
    gone or has no column an index can hold (a multiple choice)."""
    active = {f.key: f for f in fields if not f.archived}

    def columns_of(key: str) -> list[str] | None:
        if key in LIST_SYSTEM_COLUMNS:
            return [LIST_SYSTEM_COLUMNS[key]]
        f = active.get(key)
        covered = list(f.type.indexable_columns(f)) if f is not None else []
        return covered[:1] or None  # a money field: its amount, as lists filter and sort it

    columns: list[str] = []
    for key in (*index.filters, *((index.sort,) if index.sort else ())):
        found = columns_of(key)
        if found is None:
            return None
        columns.extend(c for c in found if c not in columns)
    columns.append("id")
    for key in index.include:
        found = columns_of(key)
        if found is None:
            return None
        columns.extend(c for c in found if c not in columns)
    return tuple(columns)


def entity_tables(
    entity_key: str,
    fields: Iterable[FieldLayout],
    list_indexes: Iterable[ListIndexLayout] = (),
) -> list[TableSpec]:
    """The record table of an entity type plus one side table per multi-valued field.

    The indexes are what lists, kanban columns and filters use: the owner (lists limited to
    one's own records), pipeline and stage by last change (kanban columns), created and
    updated moments, each reference, and each field marked indexed (filters and sorting) while
    it is not archived; each one ends with ``id`` so that it serves the list's order too.
    Then the list indexes the administrator declared (see :class:`ListIndexLayout`), while
    all their fields are active."""
    fields = list(fields)
    table = record_table_name(entity_key)
    columns = list(SYSTEM_COLUMNS)
    indexes = [
        list_index(table, "owner_id", "owner_id"),
        list_index(table, "pipeline_stage", "pipeline", "stage", "updated_at"),
        list_index(table, "created_at", "created_at"),
        list_index(table, "updated_at", "updated_at"),
    ]
    sides: list[TableSpec] = []
    for f in fields:
        columns.extend(f.type.columns(f))
        covered = tuple(f.type.indexable_columns(f))
        compared = f.compared and f.type.name in COMPARABLE
        kind = kind_of(f.type.name)
        if covered and f.unique:
            indexes.append(IndexSpec(physical_name("uq", table, f.key), covered, unique=True))
        elif covered and not f.archived and (f.indexed or f.type.name in ("reference", "user")):
            indexes.append(list_index(table, f.key, *covered))
        elif covered and compared and not kind:
            indexes.append(IndexSpec(physical_name("ix", table, f.key), covered))
        if covered and compared and kind:
            name = physical_name("nx", table, f.key, kind)
            indexes.append(IndexSpec(name, covered[:1], normalised=kind))
        side = f.type.side_table(f, table)
        if side is not None:
            sides.append(
                TableSpec(
                    name=side.name,
                    columns=(
                        ColumnSpec("record_id", BigInteger(), "bigint"),
                        ColumnSpec("value", side.value_type, "value"),
                    ),
                    primary_key=("record_id", "value"),
                    indexes=(IndexSpec(physical_name("ix", side.name, "value"), ("value",)),),
                )
            )
    for declared in list_indexes:
        wanted = list_index_columns(declared, fields)
        if wanted is not None:
            name = physical_name(LIST_INDEX_PREFIX, table, declared.key)
            indexes.append(IndexSpec(name, wanted, list_order=True))
    return [TableSpec(table, tuple(columns), ("id",), tuple(indexes)), *sides]


def build_table(spec: TableSpec, metadata: MetaData, with_indexes: bool = True) -> Table:
    """A SQLAlchemy ``Table`` for ``spec`` in ``metadata`` (for queries and CREATE TABLE)."""
    columns = []
    for c in spec.columns:
        if spec.primary_key == ("id",) and c.name == "id":
            columns.append(Column("id", c.type, primary_key=True, autoincrement=True))
        else:
            columns.append(Column(c.name, c.type, nullable=c.name not in spec.primary_key))
    constraints = []
    if spec.primary_key != ("id",):
        constraints.append(
            PrimaryKeyConstraint(*spec.primary_key, name=physical_name("pk", spec.name))
        )
    table = Table(spec.name, metadata, *columns, *constraints)
    for ix in spec.indexes if with_indexes else ():
        if ix.normalised:
            Index(ix.name, normalised_column(ix.normalised, table.c[ix.columns[0]]))
        else:
            Index(ix.name, *(table.c[c] for c in ix.columns), unique=ix.unique)
    return table
