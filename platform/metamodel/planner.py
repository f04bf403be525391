"""The schema planner: a pure function from (wanted tables, actual tables) to actions.

It does no I/O. :mod:`trellis.metamodel.migrator` reads the database into
:class:`ActualTable` snapshots and applies the actions. Destructive actions (dropping a column
or table) are planned like any other but flagged, so the caller decides: only a purge lets them
through; anything else that looks destructive is drift and left alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from trellis.metamodel.fieldtypes import ColumnSpec
from trellis.metamodel.physical import RECORD_TABLE_PREFIX, IndexSpec, TableSpec


@dataclass(frozen=True)
class ActualTable:
    """What the database has: column name -> type signature (None if not comparable)."""

    name: str
    columns: Mapping[str, str | None]
    indexes: Mapping[str, IndexSpec] = field(default_factory=dict)


@dataclass(frozen=True)
class Action:
    """One schema change. ``destructive`` ones lose data and need an explicit purge."""

    table: str
    destructive = False
    order = 0

    def describe(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class CreateTable(Action):
    spec: TableSpec = field(default=None)  # type: ignore[assignment]
    order = 0

    def describe(self) -> str:
        return f"create table {self.table}"


@dataclass(frozen=True)
class AddColumn(Action):
    column: ColumnSpec = field(default=None)  # type: ignore[assignment]
    order = 1

    def describe(self) -> str:
        return f"add column {self.table}.{self.column.name} ({self.column.signature})"


@dataclass(frozen=True)
class AlterColumnType(Action):
    column: ColumnSpec = field(default=None)  # type: ignore[assignment]
    old_signature: str = ""
    order = 2

    def describe(self) -> str:
        return (
            f"change type of {self.table}.{self.column.name} "
            f"from {self.old_signature} to {self.column.signature}"
        )


@dataclass(frozen=True)
class DropIndex(Action):
    name: str = ""
    order = 3

    def describe(self) -> str:
        return f"drop index {self.name} on {self.table}"


@dataclass(frozen=True)
class DropColumn(Action):
    column: str = ""
    destructive = True
    order = 4

    def describe(self) -> str:
        return f"drop column {self.table}.{self.column} (data is deleted)"


@dataclass(frozen=True)
class DropTable(Action):
    destructive = True
    order = 5

    def describe(self) -> str:
        return f"drop table {self.table} (data is deleted)"


@dataclass(frozen=True)
class CreateIndex(Action):
    index: IndexSpec = field(default=None)  # type: ignore[assignment]
    order = 6

    def describe(self) -> str:
        kind = "unique index" if self.index.unique else "index"
        return f"create {kind} {self.index.name} on {self.table}({', '.join(self.index.columns)})"


#: signatures the planner compares; others (text, bigint, ...) never change for a field
COMPARED_PREFIXES = ("numeric(",)


def plan_schema_changes(
    wanted: Iterable[TableSpec], actual: Mapping[str, ActualTable]
) -> list[Action]:
    """Actions that make the database match ``wanted``.

    Tables of ``actual`` that are not wanted (and are record tables) are planned as
    :class:`DropTable`; columns not wanted as :class:`DropColumn`. Both are destructive.
    Adding a column never rewrites the table (ADD COLUMN with no default is metadata-only on
    SQLite and PostgreSQL).
    """
    actions: list[Action] = []
    wanted_names = set()
    for spec in wanted:
        wanted_names.add(spec.name)
        have = actual.get(spec.name)
        if have is None:
            actions.append(CreateTable(spec.name, spec=spec))
            actions.extend(CreateIndex(spec.name, index=ix) for ix in spec.indexes)
            continue
        actions.extend(_column_actions(spec, have))
        actions.extend(_index_actions(spec, have))
    for name in actual:
        if name not in wanted_names and name.startswith(RECORD_TABLE_PREFIX):
            actions.append(DropTable(name))
    return sorted(actions, key=lambda a: a.order)


def _column_actions(spec: TableSpec, have: ActualTable) -> list[Action]:
    actions: list[Action] = []
    for column in spec.columns:
        if column.name not in have.columns:
            actions.append(AddColumn(spec.name, column=column))
            continue
        old = have.columns[column.name]
        if (
            old is not None
            and column.signature.startswith(COMPARED_PREFIXES)
            and old != column.signature
        ):
            actions.append(AlterColumnType(spec.name, column=column, old_signature=old))
    wanted = {c.name for c in spec.columns}
    actions.extend(DropColumn(spec.name, column=n) for n in have.columns if n not in wanted)
    return actions


def _index_actions(spec: TableSpec, have: ActualTable) -> list[Action]:
    actions: list[Action] = []
    wanted = {ix.name: ix for ix in spec.indexes}
    for name, ix in have.indexes.items():
        current = wanted.get(name)
        if current is None or not _same_index(current, ix):
            actions.append(DropIndex(spec.name, name=name))
    for name, ix in wanted.items():
        old = have.indexes.get(name)
        if old is None or not _same_index(ix, old):
            actions.append(CreateIndex(spec.name, index=ix))
    return actions


def _same_index(wanted: IndexSpec, have: IndexSpec) -> bool:
    """Whether the index the database has is the one wanted. An index on a normalised value
    is read back as "some expression": its name (which says the field and the kind) decides."""
    if wanted.unique != have.unique:
        return False
    if wanted.normalised or have.normalised:
        return bool(wanted.normalised and have.normalised)
    return wanted.columns == have.columns
