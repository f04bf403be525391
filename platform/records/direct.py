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
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection, Select
from sqlalchemy.engine import Dialect

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
        self._results: dict[tuple[Any, ...], tuple[tuple[str, Processor], ...]] = {}

    def rows(self, connection: Connection, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The statement's rows for ``params`` in ``connection``'s transaction, each a dict
        by column name."""
        statement, parameters = self._parameters(params)
        cursor = connection.connection.cursor()
        try:
            dispatch = connection.dispatch
            if dispatch.before_cursor_execute:
                for listener in dispatch.before_cursor_execute:
                    statement, parameters = listener(
                        connection, cursor, statement, parameters, None, False
                    )
            try:
                # the dialect's execute: what the platform's engine sets up around every
                # statement happens here too (on PostgreSQL, a held SAVEPOINT goes first)
                self.dialect.do_execute(cursor, statement, parameters, None)
                found = cursor.fetchall()
            except self.dialect.loaded_dbapi.Error as error:
                # as Connection.execute: wrapped in SQLAlchemy's exception, a lost connection
                # invalidated (this raises)
                connection._handle_dbapi_exception(error, statement, parameters, cursor, None)
                raise  # pragma: no cover (the line above raises)
            if dispatch.after_cursor_execute:
                dispatch.after_cursor_execute(
                    connection, cursor, statement, parameters, None, False
                )
            processors = self._processors(cursor.description)
        finally:
            cursor.close()
        names = self.names
        out = [dict(zip(names, row, strict=True)) for row in found]
        for name, process in processors:
            for row in out:
                row[name] = process(row[name])
        return out

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

    def _processors(self, description: Any) -> tuple[tuple[str, Processor], ...]:
        codes = tuple(d[1] for d in description)
        found = self._results.get(codes)
        if found is None:
            dialect = self.dialect
            found = self._results[codes] = tuple(
                (name, process)
                for name, impl, code in zip(self.names, self._impls, codes, strict=True)
                if (process := impl.result_processor(dialect, code)) is not None
            )
        return found
