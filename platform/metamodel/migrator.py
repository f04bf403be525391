"""Reads the record tables of a database and applies planned actions, inside the caller's
transaction (so a schema change commits or rolls back with the metamodel change)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import BigInteger, Column, Connection, MetaData, Numeric, inspect

from trellis.metamodel.physical import RECORD_TABLE_PREFIX, IndexSpec, build_table
from trellis.metamodel.planner import (
    Action,
    ActualTable,
    AddColumn,
    AlterColumnType,
    CreateIndex,
    CreateTable,
    DropColumn,
    DropIndex,
    DropTable,
)

Progress = Callable[[int, int, Action], None]


def read_record_tables(connection: Connection) -> dict[str, ActualTable]:
    """Snapshot of every record table (``rec_*``): columns with comparable types, indexes."""
    inspector = inspect(connection)
    tables = {}
    for name in inspector.get_table_names():
        if not name.startswith(RECORD_TABLE_PREFIX):
            continue
        columns = {c["name"]: _signature(c["type"]) for c in inspector.get_columns(name)}
        indexes = {
            ix["name"]: IndexSpec(ix["name"], tuple(ix["column_names"]), bool(ix["unique"]))
            for ix in inspector.get_indexes(name)
            if ix["name"]
        }
        tables[name] = ActualTable(name, columns, indexes)
    return tables


def _signature(column_type: object) -> str | None:
    if isinstance(column_type, BigInteger):  # an integer field that may widen to a decimal
        return "bigint"
    if isinstance(column_type, Numeric) and getattr(column_type, "asdecimal", True) is not False:
        precision, scale = column_type.precision, column_type.scale
        if precision is not None:
            return f"numeric({precision},{scale or 0})"
    return None


def apply_actions(
    connection: Connection, actions: Iterable[Action], progress: Progress | None = None
) -> list[str]:
    """Run ``actions`` in order on ``connection``; returns what was done, in words."""
    todo = list(actions)
    ops = Operations(MigrationContext.configure(connection))
    sqlite = connection.dialect.name == "sqlite"
    done = []
    for number, action in enumerate(todo, start=1):
        if progress:
            progress(number, len(todo), action)
        if isinstance(action, CreateTable):
            build_table(action.spec, MetaData(), with_indexes=False).create(connection)
        elif isinstance(action, CreateIndex):
            ops.create_index(
                action.index.name,
                action.table,
                list(action.index.columns),
                unique=action.index.unique,
            )
        elif isinstance(action, AddColumn):
            ops.add_column(action.table, Column(action.column.name, action.column.type))
        elif isinstance(action, AlterColumnType):
            if sqlite:
                # SQLite's NUMERIC affinity keeps any precision; limits are the service's job.
                continue
            ops.alter_column(action.table, action.column.name, type_=action.column.type)
        elif isinstance(action, DropIndex):
            ops.drop_index(action.name, table_name=action.table)
        elif isinstance(action, DropColumn):
            table = connection.dialect.identifier_preparer.quote(action.table)
            column = connection.dialect.identifier_preparer.quote(action.column)
            # native DROP COLUMN (SQLite >= 3.35): no table rebuild, no cascade surprises
            connection.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN {column}")
        elif isinstance(action, DropTable):
            ops.drop_table(action.table)
        else:  # pragma: no cover - a new action type without a branch here
            raise TypeError(f"No way to apply {action!r}")
        done.append(action.describe())
    return done
