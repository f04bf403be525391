"""A batch of new rows sent to PostgreSQL (psycopg) by ``COPY ... FROM STDIN``.

A pipelined ``executemany`` of a prepared INSERT (``records.direct``) still costs psycopg
Python work per row and the server a Bind and an Execute per row; ``COPY`` streams the rows in
one message flow, each row written by psycopg's C code (``Copy.write_row``): a batch of a
thousand record rows and their audit rows takes about half the time. A batch of
:data:`COPY_FROM_ROWS` rows or more goes this way; a single row keeps its prepared INSERT.

:class:`CopyInsert` copies the rows of a :class:`~trellis.records.direct.DirectInsert`: the
values go through the same bind processors in the same order (:meth:`DirectInsert.columns_of`),
and psycopg adapts them to text as it does the INSERT's parameters, so what is stored is what
the INSERT stores. Where the two could differ (a value of another Python type than its column
takes, an aware datetime for a ``TIMESTAMP WITHOUT TIME ZONE``, which a COPY would store
without its offset while the INSERT converts it) the batch is left to the INSERT. An INSERT
returning the id takes the ids from the id column's sequence first, in one statement, and
copies them with the rows: the ids come back in the order of the rows.

The COPY runs as ``Connection.execute`` runs a statement: statement listeners told (the rows
as its parameters, as an ``executemany``), through the dialect's ``do_execute_no_params``
(the platform's wrappers: on PostgreSQL a SAVEPOINT the engine holds back is sent before it,
see ``db._hold_savepoint_commands``; a COPY cannot ride libpq's pipeline), a driver error
raised as SQLAlchemy raises it (a unique violation as an ``IntegrityError``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Connection, DateTime, Insert
from sqlalchemy.engine import Dialect

from trellis.records.direct import (
    DirectInsert,
    OtherKeys,
    direct_insert_of,
    insert_many,
    insert_returning_each,
    run_statement,
    statement_listeners,
)

#: the fewest rows sent by COPY: below, the pipelined INSERT (one round trip; the COPY of
#: record rows takes two, the ids first) is as fast (measured: see benchmarks/README.md)
COPY_FROM_ROWS = 5

#: the ids of ``rows`` new rows from the sequence of a table's serial id column, in order
IDS_SQL = (
    "SELECT nextval(sequence.name) FROM (SELECT pg_get_serial_sequence(%(table)s, %(column)s)"
    "::regclass AS name OFFSET 0) AS sequence, generate_series(1, %(rows)s)"
)

_NONE = type(None)


class NotCopied(ValueError):
    """Rows a :class:`CopyInsert` does not copy (see :meth:`CopyInsert.columns_of`), found
    before anything runs: they go by the INSERT."""


class CopyInsert:
    """The ``COPY`` of the rows of ``direct`` (an INSERT with no ``RETURNING`` or returning
    just the table's serial id). A statement it cannot copy (a column of a type it does not
    know to copy as the INSERT stores it; another ``RETURNING``) is refused (ValueError)."""

    def __init__(self, direct: DirectInsert) -> None:
        dialect = direct.dialect
        table = direct.statement.table
        quote = dialect.identifier_preparer
        columns = [table.c[key] for key, _process in direct.parameters]
        returning = list(direct.compiled.effective_returning or ())
        #: the parameters of :data:`IDS_SQL` (None: no ids to take)
        self.ids_of: dict[str, Any] | None = None
        if returning:
            (id_column,) = returning  # (unpacking: a ValueError for more)
            identity = id_column.identity
            if (
                list(table.primary_key) != [id_column]
                or id_column.autoincrement not in (True, "auto")
                or (identity is not None and identity.always)  # (would refuse a COPY's ids)
            ):
                raise ValueError(f"Not an id of a sequence that takes ours: {id_column}")
            self.ids_of = {"table": quote.format_table(table), "column": id_column.name}
            columns.insert(0, id_column)
        self.direct = direct
        self.sql = (
            f"COPY {quote.format_table(table)}"
            f" ({', '.join(quote.format_column(c) for c in columns)}) FROM STDIN"
        )
        #: per parameter: the Python types its column takes (after the bind processor), and
        #: whether a datetime must be naive
        self._types = tuple(
            _copied_types(table.c[key].type, dialect, process) for key, process in direct.parameters
        )

    def columns_of(self, rows: list[dict[str, Any]]) -> list[list[Any]]:
        """The values of ``rows`` column by column as the INSERT would send them
        (:meth:`DirectInsert.columns_of`); :class:`NotCopied` when one could be stored
        otherwise by a COPY, :class:`~trellis.records.direct.OtherKeys` for rows of other
        keys."""
        columns = self.direct.columns_of(rows)
        for values, (types, naive) in zip(columns, self._types, strict=True):
            found = set(map(type, values))
            found.discard(_NONE)
            if not found <= types:
                raise NotCopied(f"Values of {sorted(t.__name__ for t in found - types)}")
            if naive and found and any(v.tzinfo is not None for v in set(values) if v is not None):
                raise NotCopied("An aware datetime for a TIMESTAMP WITHOUT TIME ZONE")
        return columns

    def rows_returning(
        self, connection: Connection, columns: list[list[Any]]
    ) -> list[tuple[Any, ...]]:
        """Copy the rows of ``columns`` (see :meth:`columns_of`) with new ids taken from the
        id column's sequence: the ids, each as a ``RETURNING`` row, in the order of the
        rows."""
        if self.ids_of is None:
            raise ValueError("No ids to take: see rows")
        direct, dialect = self.direct, self.direct.dialect
        taken, description = run_statement(
            connection, dialect, IDS_SQL, {**self.ids_of, "rows": len(columns[0])}
        )
        returned = direct.returned(taken, description)  # (the id, as RETURNING gives it)
        ids = [row[0] for row in returned]
        run_copy(connection, dialect, self.sql, list(zip(ids, *columns, strict=True)))
        return returned

    def rows(self, connection: Connection, columns: list[list[Any]]) -> None:
        """Copy the rows of ``columns`` (see :meth:`columns_of`; a statement without
        ``RETURNING``)."""
        if self.ids_of is not None:
            raise ValueError("Ids to take: see rows_returning")
        run_copy(connection, self.direct.dialect, self.sql, list(zip(*columns, strict=True)))


def _copied_types(column_type: Any, dialect: Dialect, process: Any) -> tuple[frozenset[type], bool]:
    """The Python types a column of ``column_type`` is copied from, as its INSERT's
    parameters (after the bind processor ``process``) are stored alike: psycopg writes them
    as the text the INSERT sends. A float is not among them (the INSERT's float8 is rounded
    into a NUMERIC, a COPY's text is not). With whether a datetime must be naive."""
    impl = column_type.dialect_impl(dialect)
    if isinstance(impl, JSON):  # (psycopg's Json of the value, as the processor makes it)
        return frozenset({type(process({}) if process else {})}), False
    try:
        python = impl.python_type
    except NotImplementedError:
        raise ValueError(f"A column of {impl!r}: not copied") from None
    if python is float:
        raise ValueError("A float column: not copied")
    if python is Decimal:
        return frozenset({Decimal, int}), False
    return frozenset({python}), isinstance(impl, DateTime) and not impl.timezone


def copies(connection: Connection, rows: list[dict[str, Any]]) -> bool:
    """Whether ``rows`` go by COPY on ``connection``: psycopg, :data:`COPY_FROM_ROWS` rows or
    more, the connection not in pipeline mode (``db.sent_together``: COPY cannot ride it)."""
    if len(rows) < COPY_FROM_ROWS or connection.dialect.driver != "psycopg":
        return False
    from psycopg import pq  # (the driver of this connection only)

    raw: Any = connection.connection.dbapi_connection
    return raw.pgconn.pipeline_status == pq.PipelineStatus.OFF  # type: ignore[no-any-return]


def copy_or_insert_returning_each(
    kept: dict[Any, Any], connection: Connection, statement: Insert, rows: list[dict[str, Any]]
) -> list[tuple[Any, ...]] | None:
    """The ``RETURNING`` rows (the ids) of ``rows`` inserted by ``statement`` (the INSERT of
    one row returning the serial id), in the order of ``rows``: by COPY when :func:`copies`
    and the rows can be copied (see :class:`CopyInsert`), else as
    :func:`~trellis.records.direct.insert_returning_each` (None: the caller runs SQLAlchemy's
    sorted multi-row INSERT)."""
    copied = _copied(kept, connection, statement, rows)
    if copied is not None:
        copy, columns = copied
        return copy.rows_returning(connection, columns)
    return insert_returning_each(kept, connection, statement, rows)


def copy_or_insert_many(
    kept: dict[Any, Any], connection: Connection, statement: Insert, rows: list[dict[str, Any]]
) -> None:
    """Insert ``rows`` by ``statement`` (without ``RETURNING``): by COPY when :func:`copies`
    and the rows can be copied (see :class:`CopyInsert`), else as
    :func:`~trellis.records.direct.insert_many`."""
    copied = _copied(kept, connection, statement, rows)
    if copied is not None:
        copy, columns = copied
        copy.rows(connection, columns)
        return
    insert_many(kept, connection, statement, rows)


def _copied(
    kept: dict[Any, Any], connection: Connection, statement: Insert, rows: list[dict[str, Any]]
) -> tuple[CopyInsert, list[list[Any]]] | None:
    """The :class:`CopyInsert` of ``statement`` and the columns of ``rows`` it copies; None
    when the rows go by the INSERT (found before anything ran)."""
    copy = _copy_insert(kept, connection, statement, rows)
    if copy is None:
        return None
    try:
        return copy, copy.columns_of(rows)
    except (NotCopied, OtherKeys):
        return None


def _copy_insert(
    kept: dict[Any, Any], connection: Connection, statement: Insert, rows: list[dict[str, Any]]
) -> CopyInsert | None:
    """The :class:`CopyInsert` of ``statement`` for the keys of ``rows``, kept in ``kept``
    (the statements kept with a compiled entity type); None when the rows do not go by COPY
    (:func:`copies`) or the statement cannot."""
    if not copies(connection, rows):
        return None
    dialect = connection.dialect
    key = ("copy", statement, dialect, tuple(rows[0]))
    copy = kept.get(key, _UNKNOWN)
    if copy is _UNKNOWN:
        direct = direct_insert_of(kept, dialect, statement, rows[0])
        try:
            copy = None if direct is None else CopyInsert(direct)
        except ValueError:
            copy = None
        kept[key] = copy
    return copy  # type: ignore[no-any-return]


_UNKNOWN = object()


def run_copy(connection: Connection, dialect: Dialect, statement: str, rows: list[Any]) -> None:
    """Run the ``COPY ... FROM STDIN`` ``statement`` of ``rows`` (tuples, in the statement's
    columns) on a cursor of ``connection``'s driver connection as ``Connection.execute``
    would run it: statement listeners told (the rows as the parameters of an
    ``executemany``), the dialect's ``do_execute_no_params`` (what the platform's engine sets
    up around every statement happens here too: a held SAVEPOINT goes first), driver errors
    wrapped."""
    cursor = connection.connection.cursor()
    before, after = statement_listeners(connection)
    try:
        if before:
            for listener in before:
                statement, rows = listener(connection, cursor, statement, rows, None, True)
        try:
            dialect.do_execute_no_params(_Copying(cursor, rows), statement, None)
        except dialect.loaded_dbapi.Error as error:
            # as Connection.execute: wrapped in SQLAlchemy's exception (this raises)
            connection._handle_dbapi_exception(error, statement, rows, cursor, None)
            raise  # pragma: no cover (the line above raises)
        if after:
            after(connection, cursor, statement, rows, None, True)
    finally:
        cursor.close()


class _Copying:
    """A psycopg cursor whose ``execute`` of a ``COPY ... FROM STDIN`` (called by the
    dialect's ``do_execute_no_params``) writes ``rows`` into it."""

    def __init__(self, cursor: Any, rows: list[Any]) -> None:
        self._cursor = cursor
        self._rows = rows

    def execute(self, statement: str) -> None:
        with self._cursor.copy(statement) as copy:
            write = copy.write_row
            for row in self._rows:
                write(row)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)
