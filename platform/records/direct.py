"""Prepared SELECTs run on the driver's cursor: compiled once, rows as SQLAlchemy gives them.

``Connection.execute`` of a statement that is already compiled and cached still sets up an
execution context, a result and its metadata, and a row object per row; for a list page of 51
rows that is a fifth of the whole call. :class:`DirectSelect` keeps the statement compiled
for its dialect and runs it on the session connection's DBAPI cursor, with SQLAlchemy's own
bind processors (per bound parameter type) and result processors (per column type and the
type the driver reports, worked out on the first rows and kept), so every value is the one
``Connection.execute(...).mappings()`` gives: the same datetimes, dates, Decimals, booleans
and JSON on SQLite and PostgreSQL. Expanding parameters (``in`` lists) are expanded as
SQLAlchemy expands them. Statement event listeners (``before_cursor_execute`` and
``after_cursor_execute``) are told as they are for any statement, and a driver error is
raised as SQLAlchemy raises it (wrapped, disconnects handled).

:class:`DirectInsert` does the same for the INSERT of one row of a fixed set of columns (a
record row, an audit row): the values go through SQLAlchemy's bind processors in the
compiled statement's order, the ``RETURNING`` row (if any) comes back through its result
processors. On PostgreSQL a batch of a few rows or more goes by COPY instead
(``records.copy_rows``, built on :meth:`DirectInsert.columns_of`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date
from functools import partial
from typing import Any

from sqlalchemy import Connection, Insert, Select, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import InsertmanyvaluesSentinelOpts

Processor = Callable[[Any], Any]


class DirectSelect:
    """A SELECT compiled once for ``dialect``; :meth:`rows` runs it on a connection."""

    def __init__(self, statement: Select[Any], dialect: Dialect) -> None:
        self.statement = statement
        self.compiled = statement.compile(dialect=dialect)
        self.dialect = dialect
        columns = list(statement.selected_columns)
        #: the rows' keys: what ``.mappings()`` of the statement's result has
        self.names = tuple(c.name for c in columns)
        self._impls = tuple(c.type.dialect_impl(dialect) for c in columns)
        self._binds: dict[str, Processor] = {}
        for name, bind in self.compiled.binds.items():
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                self._binds[name] = process
        self._expands = bool(self.compiled.post_compile_params)
        #: the result processors by the type codes of the driver's description
        self._results: dict[tuple[Any, ...], tuple[tuple[int, Processor], ...]] = {}

    def rows(self, connection: Connection, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The statement's rows for ``params`` in ``connection``'s transaction, each a dict
        by column name."""
        statement, parameters = self._parameters(params)
        found, description = run_statement(connection, self.dialect, statement, parameters)
        processors = self._processors(description)
        names = self.names
        if not processors or not found:
            return [dict(zip(names, row, strict=True)) for row in found]
        # column by column: each processor mapped over its column, then the rows zipped
        # back (a quarter less time than setting each processed value in each row's dict)
        columns: list[Any] = list(zip(*found, strict=True))
        for i, process in processors:
            columns[i] = map(process, columns[i])
        return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]

    def _parameters(self, params: Mapping[str, Any]) -> tuple[str, Any]:
        """The SQL (expanded when it has ``in`` lists) and the driver's parameters."""
        compiled = self.compiled
        if self._expands:
            state = compiled.construct_expanded_state(params)
            statement, values, order = state.statement, state.parameters, state.positiontup
            binds = {**self._binds, **state.processors} if state.processors else self._binds
        else:
            statement, values = compiled.string, compiled.construct_params(params)
            order, binds = compiled.positiontup, self._binds
        if self.dialect.positional:  # a tuple, as SQLAlchemy hands them to the driver
            return statement, self.dialect.execute_sequence_format(
                [
                    binds[name](values[name]) if name in binds else values[name]
                    for name in order or ()
                ]
            )
        return statement, {
            name: binds[name](value) if name in binds else value for name, value in values.items()
        }

    def _processors(self, description: Any) -> tuple[tuple[int, Processor], ...]:
        return _result_processors(self._results, self.dialect, self._impls, description)


class OtherKeys(ValueError):
    """Rows for a :class:`DirectInsert` whose keys are not all its statement's, found before
    anything runs: :func:`insert_many` and :func:`insert_returning_each` then leave the rows
    to SQLAlchemy (so a batch's keys are looked at once, not once more by the caller)."""


class DirectInsert:
    """The INSERT ``statement`` of one row with exactly the columns ``keys``, compiled once
    for ``dialect``; :meth:`row` runs it on a connection. A statement that needs SQLAlchemy
    to compute a value itself (a column default of a column not in ``keys``) or to rename a
    parameter is refused (ValueError): it is run by ``Connection.execute`` instead."""

    def __init__(self, statement: Insert, keys: Sequence[str], dialect: Dialect) -> None:
        self.statement = statement
        self.keys = frozenset(keys)
        compiled = statement.compile(dialect=dialect, column_keys=sorted(keys))
        if compiled.insert_prefetch or compiled.escaped_bind_names or compiled.post_compile_params:
            raise ValueError(f"Not an INSERT of its parameters as they are: {compiled.string}")
        self.compiled = compiled
        self.dialect = dialect
        self.sql = compiled.string
        names = compiled.positiontup if dialect.positional else list(compiled.binds)
        binds = compiled.binds
        if set(names or ()) != self.keys or {binds[n].key for n in binds} != self.keys:
            raise ValueError(f"The INSERT does not take exactly {sorted(keys)}")
        self._names = tuple(names or ())
        #: each parameter's key, in the driver's order, and its bind processor (or None)
        self._order = tuple(
            (name, binds[name].type.dialect_impl(dialect).bind_processor(dialect))
            for name in names or ()
        )
        #: each parameter's key and how a column of its values is processed (None: as is)
        self._columns = tuple((name, column_processor(process)) for name, process in self._order)
        returning = list(compiled.effective_returning or ())
        #: on SQLite, the INSERT without its RETURNING when that returns only the rowid (see
        #: :meth:`rows_returning`)
        self._rowid_sql = _without_rowid_returning(statement, keys, dialect, returning, names)
        self.names = tuple(c.name for c in returning)
        self._impls = tuple(c.type.dialect_impl(dialect) for c in returning)
        self._results: dict[tuple[Any, ...], tuple[tuple[int, Processor], ...]] = {}

    def row(self, connection: Connection, values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """Insert ``values`` (a value for each of the statement's keys, no other) in
        ``connection``'s transaction; the ``RETURNING`` row (None without one)."""
        if values.keys() != self.keys:
            raise ValueError(f"Values for {sorted(values)}, the INSERT takes {sorted(self.keys)}")
        ordered = [
            values[name] if process is None else process(values[name])
            for name, process in self._order
        ]
        if self.dialect.positional:
            parameters: Any = self.dialect.execute_sequence_format(ordered)
        else:
            parameters = dict(zip(self._names, ordered, strict=True))
        found, description = run_statement(
            connection, self.dialect, self.sql, parameters, fetch=bool(self.names), prepared=True
        )
        if not self.names:
            return None
        processors = _result_processors(self._results, self.dialect, self._impls, description)
        row = list(found[0])
        for i, process in processors:
            row[i] = process(row[i])
        return tuple(row)

    def rows_returning(
        self, connection: Connection, rows: Sequence[Mapping[str, Any]]
    ) -> list[tuple[Any, ...]]:
        """Insert each of ``rows`` (as :meth:`row`): the ``RETURNING`` rows in the order of
        ``rows``. On psycopg one ``executemany`` that keeps each row's ``RETURNING`` row
        (libpq's pipeline: the statement parsed once, every row in one round trip). On SQLite,
        an INSERT returning only the rowid is one ``executemany`` without ``RETURNING``, the
        ids counted back from ``last_insert_rowid()``: in one statement on a connection that
        holds the write lock SQLite gives each row one more than the largest rowid before it
        (its rowid algorithm; the tables have no triggers and no AUTOINCREMENT), so the rows
        get consecutive ids. Anything else is one statement a row on one cursor, what
        SQLAlchemy does itself for a dialect that cannot sort a multi-row INSERT's
        ``RETURNING`` rows, without its work per row. The values go through the bind
        processors column by column."""
        parameters = self._parameters_of(rows)
        if self._rowid_sql is not None and parameters:
            _run_many(connection, self.dialect, self._rowid_sql, parameters)
            found, _ = run_statement(connection, self.dialect, "SELECT last_insert_rowid()", ())
            ((last,),) = found
            return [(rowid,) for rowid in range(last - len(parameters) + 1, last + 1)]
        if self.dialect.driver == "psycopg":
            found, description = _run_many(
                connection, self.dialect, self.sql, parameters, returning=True
            )
        else:
            found, description = _run_each(connection, self.dialect, self.sql, parameters)
        return self.returned(found, description)

    def returned(self, found: list[Any], description: Any) -> list[tuple[Any, ...]]:
        """The driver's rows ``found`` of the statement's ``RETURNING`` columns (described by
        the driver's ``description``) through their result processors."""
        processors = _result_processors(self._results, self.dialect, self._impls, description)
        if not processors:
            return found
        out = []
        for returned in found:
            row = list(returned)
            for i, process in processors:
                row[i] = process(row[i])
            out.append(tuple(row))
        return out

    def rows(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert ``rows`` (each as :meth:`row`; a statement without ``RETURNING``) with one
        ``executemany`` on the driver's cursor."""
        if self.names:
            raise ValueError("An INSERT with RETURNING: see rows_returning")
        _run_many(connection, self.dialect, self.sql, self._parameters_of(rows))

    def _parameters_of(self, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """The driver's parameters of ``rows`` (see :meth:`columns_of`)."""
        columns = self.columns_of(rows)
        if self.dialect.positional:
            form = self.dialect.execute_sequence_format
            return [form(row) for row in zip(*columns, strict=True)]
        return [dict(zip(self._names, row, strict=True)) for row in zip(*columns, strict=True)]

    def columns_of(self, rows: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
        """The driver's values of ``rows`` column by column, in the order of the statement's
        parameters (:attr:`parameters`), through the bind processors (a value that is the
        very object of the row before is processed once: the time of a batch, say)."""
        keys = self.keys
        if any(values.keys() != keys for values in rows):
            raise OtherKeys(f"Rows of other keys than {sorted(keys)}")
        return [
            [values[name] for values in rows]
            if process is None
            else process([values[name] for values in rows])
            for name, process in self._columns
        ]

    @property
    def parameters(self) -> tuple[tuple[str, Processor | None], ...]:
        """The statement's parameters in the driver's order: each one's key and bind
        processor (None without one)."""
        return self._order


def _without_rowid_returning(
    statement: Insert,
    keys: Sequence[str],
    dialect: Dialect,
    returning: list[Any],
    names: Sequence[str] | None,
) -> str | None:
    """On SQLite, the SQL of ``statement`` without its ``RETURNING`` when that returns just
    the table's rowid (its one ``INTEGER`` primary key) and the parameters stay in the same
    order; None otherwise."""
    if dialect.name != "sqlite" or len(returning) != 1:
        return None
    table = statement.table
    (column,) = returning
    if list(getattr(table, "primary_key", ())) != [column]:
        return None
    if column.type.compile(dialect=dialect) != "INTEGER":  # (BIGINT is no rowid alias)
        return None
    plain = insert(table).compile(dialect=dialect, column_keys=sorted(keys))
    if plain.positiontup != list(names or ()) or plain.insert_prefetch or plain.effective_returning:
        return None
    return plain.string


def column_processor(process: Processor | None) -> Callable[[list[Any]], list[Any]] | None:
    """How :meth:`DirectInsert.columns_of` runs a column of values through the bind
    processor ``process`` (None: the values go as they are): :func:`_processed`; for a
    processor that writes a date as its ISO text (SQLite's DATE formats a dict of the
    date's parts, ~2 us a value), ``date.isoformat`` of each date and ``process`` of
    anything else."""
    if process is None:
        return None
    if _writes_iso_dates(process):
        return partial(_dates_processed, process)
    return partial(_processed, process)


#: dates that tell a processor writing ISO dates (four-digit years, padded parts) from others
_SAMPLE_DATES = (date(2026, 11, 24), date(1, 2, 3), date(987, 6, 5), date(9999, 12, 31))


def _writes_iso_dates(process: Processor) -> bool:
    try:
        return all(process(day) == day.isoformat() for day in _SAMPLE_DATES)
    except Exception:  # (a processor of another type refuses a date)
        return False


def _dates_processed(process: Processor, values: list[Any]) -> list[Any]:
    """``process`` of each of ``values``, a ``date``'s as its ISO text without the call."""
    return [value.isoformat() if type(value) is date else process(value) for value in values]


def _processed(process: Processor, values: list[Any]) -> list[Any]:
    """``process`` of each of ``values``, once for a run of the same object (a column that
    starts with one: the time of a batch, say; else by ``map``, without a test per value)."""
    if len(values) < 2 or values[0] is not values[1]:
        return list(map(process, values))
    out = []
    last: Any = _UNKNOWN
    done = None
    for value in values:
        if value is not last:
            last, done = value, process(value)
        out.append(done)
    return out


def insert_many(
    kept: dict[Any, Any], connection: Connection, statement: Insert, rows: list[dict[str, Any]]
) -> None:
    """Insert ``rows`` by ``statement`` (without ``RETURNING``) in ``connection``'s
    transaction with one ``executemany`` on the driver's cursor (see
    :meth:`DirectInsert.rows`), as SQLAlchemy runs it where it does not rewrite it into
    multi-row INSERTs (SQLite, psycopg); by ``Connection.execute`` otherwise, or when the
    rows' keys differ or the statement cannot run directly."""
    dialect = connection.dialect
    direct = (
        None
        if dialect.use_insertmanyvalues_wo_returning
        else direct_insert_of(kept, dialect, statement, rows[0])
    )
    if direct is not None:
        try:
            direct.rows(connection, rows)
            return
        except OtherKeys:  # (found before anything ran)
            pass
    connection.execute(statement, rows)


def insert_one(
    kept: dict[Any, Any], connection: Connection, statement: Insert, values: Mapping[str, Any]
) -> tuple[Any, ...] | None:
    """Insert the one row ``values`` by ``statement`` in ``connection``'s transaction; its
    ``RETURNING`` row (None without one). Run as a :class:`DirectInsert`, kept in ``kept``
    (the statements kept with a compiled entity type) per statement, dialect and keys; a
    statement that cannot be (see :class:`DirectInsert`) by ``Connection.execute``."""
    direct = direct_insert_of(kept, connection.dialect, statement, values)
    if direct is None:
        result = connection.execute(statement, values)
        return tuple(result.one()) if result.returns_rows else None
    return direct.row(connection, values)


def insert_returning_each(
    kept: dict[Any, Any], connection: Connection, statement: Insert, rows: list[dict[str, Any]]
) -> list[tuple[Any, ...]] | None:
    """The ``RETURNING`` rows of ``rows`` inserted by ``statement`` (the INSERT of one row,
    its ``RETURNING`` unsorted) in the order of ``rows``, on the driver's cursor (see
    :meth:`DirectInsert.rows_returning`): one pipelined ``executemany`` on psycopg (a batch
    too small for COPY, see ``records.copy_rows``), one ``executemany`` and the last rowid on
    SQLite. None for another driver, rows of other keys or a statement that cannot run
    directly: the caller then runs SQLAlchemy's sorted multi-row INSERT.

    On PostgreSQL that INSERT (``INSERT ... SELECT ... FROM (VALUES ...) ORDER BY``) of 1,000
    rows costs 5x the pipelined rows: psycopg parses its text of thousands of placeholders on
    every batch, the server plans and sorts it."""
    dialect = connection.dialect
    sorts = dialect.insertmanyvalues_implicit_sentinel != InsertmanyvaluesSentinelOpts.NOT_SUPPORTED
    if sorts and dialect.driver != "psycopg":
        return None
    direct = direct_insert_of(kept, dialect, statement, rows[0])
    if direct is None:
        return None
    try:
        return direct.rows_returning(connection, rows)
    except OtherKeys:  # (found before anything ran)
        return None


def direct_insert_of(
    kept: dict[Any, Any], dialect: Dialect, statement: Insert, values: Mapping[str, Any]
) -> DirectInsert | None:
    """The :class:`DirectInsert` of ``statement`` for ``values``' keys, kept in ``kept``;
    None for a statement that cannot run directly."""
    key = ("insert_one", statement, dialect, tuple(values))
    direct = kept.get(key, _UNKNOWN)
    if direct is _UNKNOWN:
        try:
            direct = DirectInsert(statement, list(values), dialect)
        except ValueError:
            direct = None
        kept[key] = direct
    return direct  # type: ignore[no-any-return]


_UNKNOWN = object()


def run_statement(
    connection: Connection,
    dialect: Dialect,
    statement: str,
    parameters: Any,
    fetch: bool = True,
    prepared: bool = False,
) -> tuple[list[Any], Any]:
    """Run ``statement`` on a cursor of ``connection``'s driver connection as
    ``Connection.execute`` would (statement listeners told, the dialect's ``do_execute``,
    driver errors wrapped); its rows (when ``fetch``) and the cursor's description.
    ``prepared``: on psycopg, run prepared on the server (see :class:`_Prepared`)."""
    found, description = _run_each(
        connection, dialect, statement, [parameters], "all" if fetch else None, prepared
    )
    return found[0], description


def _run_each(
    connection: Connection,
    dialect: Dialect,
    statement: str,
    parameters: list[Any],
    fetch: str | None = "one",
    prepared: bool = False,
) -> tuple[list[Any], Any]:
    """Run ``statement`` once for each of ``parameters`` on one cursor of ``connection``'s
    driver connection, as ``Connection.execute`` would each time (see :func:`run_statement`): what
    each run gives (its one row for ``"one"``, its rows for ``"all"``, nothing for None), in
    order, and the cursor's description."""
    cursor = connection.connection.cursor()
    runs = _Prepared(cursor, False) if prepared and dialect.driver == "psycopg" else cursor
    found: list[Any] = []
    before, after = statement_listeners(connection)
    try:
        for params in parameters:
            sql = statement
            if before:
                for listener in before:
                    sql, params = listener(connection, cursor, sql, params, None, False)
            try:
                # the dialect's execute: what the platform's engine sets up around every
                # statement happens here too (on PostgreSQL, a held SAVEPOINT goes first)
                dialect.do_execute(runs, sql, params, None)
                if fetch == "one":
                    found.append(cursor.fetchone())
                elif fetch == "all":
                    found.append(cursor.fetchall())
                else:
                    found.append([])
            except dialect.loaded_dbapi.Error as error:
                # as Connection.execute: wrapped in SQLAlchemy's exception, a lost connection
                # invalidated (this raises)
                connection._handle_dbapi_exception(error, sql, params, cursor, None)
                raise  # pragma: no cover (the line above raises)
            if after:
                after(connection, cursor, sql, params, None, False)
        return found, cursor.description
    finally:
        cursor.close()


def _run_many(
    connection: Connection,
    dialect: Dialect,
    statement: str,
    parameters: list[Any],
    returning: bool = False,
) -> tuple[list[Any], Any]:
    """``executemany`` of ``statement`` for ``parameters`` on a cursor of ``connection``'s
    driver connection, as ``Connection.execute`` of many rows would (see
    :func:`run_statement`); with ``returning`` (psycopg only) the one row each run returned,
    in order, and the cursor's description."""
    cursor = connection.connection.cursor()
    before, after = statement_listeners(connection)
    try:
        if before:
            for listener in before:
                statement, parameters = listener(
                    connection, cursor, statement, parameters, None, True
                )
        try:
            # the dialect's executemany (wrapped by the platform: see _run_each)
            psycopg = dialect.driver == "psycopg"
            dialect.do_executemany(
                _Prepared(cursor, returning) if psycopg else cursor, statement, parameters, None
            )
            found = _returned_rows(cursor) if returning else []
        except dialect.loaded_dbapi.Error as error:
            connection._handle_dbapi_exception(error, statement, parameters, cursor, None)
            raise  # pragma: no cover (the line above raises)
        if after:
            after(connection, cursor, statement, parameters, None, True)
        return found, cursor.description
    finally:
        cursor.close()


class _Prepared:
    """A psycopg cursor whose ``execute`` and ``executemany`` (called by the dialect's
    ``do_execute`` and ``do_executemany``) run the statement prepared on the server (parsed
    and planned once per connection, not once per run or row); ``executemany`` with
    ``returning`` keeps what each run returns.

    The engine has psycopg's automatic preparing off (see :func:`trellis.db.make_engine`: a
    prepared SELECT fails once a column it returns changes type). An INSERT of a record or
    audit row returns at most its id, whose type never changes; the server re-plans a
    prepared statement whose table changed."""

    def __init__(self, cursor: Any, returning: bool) -> None:
        self._cursor = cursor
        self._returning = returning

    def execute(self, statement: str, parameters: Any) -> None:
        with self._preparing():
            self._cursor.execute(statement, parameters)

    def executemany(self, statement: str, parameters: Any) -> None:
        with self._preparing():
            self._cursor.executemany(statement, parameters, returning=self._returning)

    @contextlib.contextmanager
    def _preparing(self) -> Iterator[None]:
        """psycopg prepares every statement run in the block (its threshold 0 meanwhile)."""
        raw = self._cursor.connection
        threshold = raw.prepare_threshold
        raw.prepare_threshold = 0
        try:
            yield
        finally:
            raw.prepare_threshold = threshold

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


def _returned_rows(cursor: Any) -> list[Any]:
    """The one row each run of a psycopg ``executemany(..., returning=True)`` returned."""
    found = [cursor.fetchone()]
    while cursor.nextset():
        found.append(cursor.fetchone())
    return found


def statement_listeners(connection: Connection) -> tuple[Any, Any]:
    """The connection's ``before_cursor_execute`` and ``after_cursor_execute`` listeners
    (each falsy when there are none), looked for only when the connection or its engine has
    events at all, as SQLAlchemy itself asks."""
    if not (connection._has_events or connection.engine._has_events):
        return None, None
    dispatch = connection.dispatch
    return dispatch.before_cursor_execute, dispatch.after_cursor_execute


def _result_processors(
    kept: dict[tuple[Any, ...], tuple[tuple[int, Processor], ...]],
    dialect: Dialect,
    impls: tuple[Any, ...],
    description: Any,
) -> tuple[tuple[int, Processor], ...]:
    """The result processors of the columns of types ``impls`` for the type
    codes of the driver's ``description``, each with its column's position, worked out once
    per set of codes (in ``kept``)."""
    codes = tuple(d[1] for d in description)
    found = kept.get(codes)
    if found is None:
        found = kept[codes] = tuple(
            (i, process)
            for i, (impl, code) in enumerate(zip(impls, codes, strict=True))
            if (process := impl.result_processor(dialect, code)) is not None
        )
    return found
