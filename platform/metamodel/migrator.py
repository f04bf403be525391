"""Reads the record tables of a database and applies planned actions, inside the caller's
transaction (so a schema change commits or rolls back with the metamodel change)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Index,
    Inspector,
    MetaData,
    Numeric,
    Table,
    inspect,
    text,
)
from sqlalchemy import column as sa_column

from trellis.db import refresh_statistics
from trellis.metamodel.normalised import normalised_column
from trellis.metamodel.physical import (
    EXPRESSION,
    NEVER_NULL_COLUMNS,
    RECORD_TABLE_PREFIX,
    IndexSpec,
    build_table,
)
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


def read_record_tables(connection: Connection, table: str | None = None) -> dict[str, ActualTable]:
    """Snapshot of the record tables (``rec_*``): columns with comparable types, indexes.

    With ``table`` (a record table's name), only that table and its side tables are read: a
    change to one entity type does not read the other hundreds."""
    if table is not None and connection.dialect.name == "postgresql":
        return _read_postgresql(connection, table)
    inspector = inspect(connection)
    if table is not None and connection.dialect.name == "sqlite":
        # the names of this table and its side tables only (the inspector would list the
        # whole schema: hundreds of tables)
        names = list(
            connection.execute(
                SQLITE_TABLES, {"table": table, "sides": table + "__", "n": len(table) + 2}
            ).scalars()
        )
    else:
        names = inspector.get_table_names()
    tables = {}
    for name in names:
        if not name.startswith(RECORD_TABLE_PREFIX):
            continue
        if table is not None and name != table and not name.startswith(table + "__"):
            continue
        columns = {c["name"]: _signature(c["type"]) for c in inspector.get_columns(name)}
        tables[name] = ActualTable(name, columns, _indexes(connection, inspector, name))
    return tables


def _indexes(connection: Connection, inspector: Inspector, table: str) -> dict[str, IndexSpec]:
    """The named indexes of ``table``; one on an expression (a normalised value) has no
    columns and ``normalised="expression"``: its name says what it holds."""
    found = {}
    if connection.dialect.name == "sqlite":  # the inspector skips expression indexes here
        # every index and its columns in one statement (not one PRAGMA per index)
        columns: dict[str, list[str | None]] = {}
        unique: dict[str, bool] = {}
        for name, is_unique, column in connection.execute(SQLITE_INDEXES, {"table": table}):
            if name.startswith("sqlite_autoindex"):
                continue
            columns.setdefault(name, []).append(column)
            unique[name] = bool(is_unique)
        return {name: _index(name, columns[name], unique[name]) for name in columns}
    for ix in inspector.get_indexes(table):
        if ix["name"]:
            found[ix["name"]] = _index(ix["name"], ix["column_names"], bool(ix["unique"]))
    return found


#: SQLite's tables named ``:table`` or starting with ``:sides`` (``:n`` characters long)
SQLITE_TABLES = text(
    "SELECT name FROM sqlite_master WHERE type = 'table' "
    "AND (name = :table OR substr(name, 1, :n) = :sides) ORDER BY name"
)
#: SQLite's indexes of a table with their columns in order (an expression's column is NULL)
SQLITE_INDEXES = text(
    'SELECT l.name, l."unique", i.name FROM pragma_index_list(:table) AS l '
    "JOIN pragma_index_info(l.name) AS i ORDER BY l.seq, i.seqno"
)
#: PostgreSQL's catalog, read directly: the inspector's general queries cost about ten times
#: as much (it reads every table's columns and indexes to answer for one)
PG_TABLES = text(
    "SELECT 0 AS part, c.relname::text, a.attnum, a.attname::text, "
    "format_type(a.atttypid, a.atttypmod), NULL::boolean, NULL::boolean, NULL::text[] "
    "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
    "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' "
    "AND c.relname LIKE :pattern ESCAPE '\\' AND a.attnum > 0 AND NOT a.attisdropped "
    "UNION ALL "
    "SELECT 1, t.relname::text, 0, i.relname::text, NULL, x.indisunique, "
    "x.indexprs IS NOT NULL, "
    "array(SELECT a.attname::text FROM unnest(x.indkey) WITH ORDINALITY k(n, o) "
    "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.n ORDER BY k.o) "
    "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
    "JOIN pg_class t ON t.oid = x.indrelid "
    "WHERE t.relnamespace = current_schema()::regnamespace AND NOT x.indisprimary "
    "AND t.relname LIKE :pattern ESCAPE '\\' "
    "ORDER BY 1, 2, 3"
)
"""The columns (part 0, in order) and indexes (part 1) of the tables matching a pattern, in
one round trip."""


def _read_postgresql(connection: Connection, table: str) -> dict[str, ActualTable]:
    """:func:`read_record_tables` for ``table`` and its side tables, on PostgreSQL."""
    pattern = table.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%") + "%"

    def wanted(name: str) -> bool:
        return name == table or name.startswith(table + "__")

    columns: dict[str, dict[str, str | None]] = {}
    indexes: dict[str, dict[str, IndexSpec]] = {}
    for part, name, _n, item, kind, unique, expression, names in connection.execute(
        PG_TABLES, {"pattern": pattern}
    ):
        if not wanted(name):
            continue
        if part == 0:
            columns.setdefault(name, {})[item] = _pg_signature(kind)
            indexes.setdefault(name, {})
        elif name in indexes:  # the columns came first
            indexes[name][item] = _index(item, [None] if expression else list(names), unique)
    return {name: ActualTable(name, columns[name], indexes[name]) for name in columns}


def _pg_signature(kind: str) -> str | None:
    """What :func:`_signature` says of a type, from PostgreSQL's ``format_type``."""
    if kind == "bigint":
        return "bigint"
    if kind.startswith("numeric(") and "," in kind:
        return kind.replace(" ", "")
    return None


def _index(name: str, columns: list[str | None], unique: bool) -> IndexSpec:
    if None in columns:
        return IndexSpec(name, (), unique, normalised=EXPRESSION)
    return IndexSpec(name, tuple(columns), unique)  # type: ignore[arg-type]


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
            index = action.index
            if index.normalised:
                columns = [normalised_column(index.normalised, sa_column(index.columns[0]))]
                ops.create_index(index.name, action.table, columns, unique=index.unique)
            else:
                _create_index(connection, ops, action.table, index)
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
    refresh_statistics(
        connection,
        sorted({a.table for a in todo if isinstance(a, (CreateTable, CreateIndex, DropIndex))}),
    )
    return done


def _create_index(connection: Connection, ops: Operations, table: str, index: IndexSpec) -> None:
    if not (index.list_order and connection.dialect.name == "postgresql"):
        ops.create_index(index.name, table, list(index.columns), unique=index.unique)
        return
    # PostgreSQL puts NULLs last going up; the lists place them first (as SQLite does), so
    # the index does too and serves ORDER BY col ASC NULLS FIRST and its backward scan
    columns = Table(table, MetaData(), *(Column(c) for c in index.columns)).c
    ordered = [
        columns[c] if c in NEVER_NULL_COLUMNS else columns[c].asc().nulls_first()
        for c in index.columns
    ]
    Index(index.name, *ordered, unique=index.unique).create(connection)
