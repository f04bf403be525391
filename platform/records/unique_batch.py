"""The stored holders of a batch's unique values, looked up with one statement per unique
field (in chunks) instead of one per record and field: ``create_many`` (an import, a
conversion, a pack's records) checks every new record's unique values against them.

A value is matched as the per-record check's ``filter_clause(..., "eq", ...)`` matches it:
the statement compares the same column with ``IN`` (which SQLite and PostgreSQL define as
one ``=`` per item, with the same conversions), and the rows are matched back to the values
by what the database compared, the value as sent to the driver (the column type's bind
processing applied) against the column's value as the driver reads it, unconverted: equal
in Python exactly when equal in SQL for the types batched here (texts, whole numbers, dates;
on SQLite numbers with places are doubles on both sides, on PostgreSQL Decimals). A date and
time is left to the per-record check: its aware operand against the naive column is
compared by PostgreSQL in the session's time zone, which Python's comparison would not."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, bindparam, select, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from trellis.metamodel.compiled import CompiledEntity, CompiledField

#: the types whose ``eq`` filter is one column's ``=`` with the operand (money: its amount;
#: user: an id, a username being looked up by the per-record check)
BATCHED_TYPES = frozenset(
    {"text", "email", "phone", "url", "list", "integer", "reference", "user", "date"}
    | {"decimal", "money"}
)
#: values in one statement (SQLite allowed at most 999 bound values before 3.32)
CHUNK = 900
#: a value the batch did not look up (the caller asks the database itself)
NOT_ASKED = object()


class StoredHolders:
    """The stored record (``id``, ``owner_id``) holding each looked-up unique value, or None
    when none does; :data:`NOT_ASKED` for a value not looked up."""

    def __init__(self) -> None:
        self._keys: dict[str, Callable[[Any], Any]] = {}  # field -> value as sent
        self._asked: set[tuple[str, Any]] = set()
        self._found: dict[tuple[str, Any], Any] = {}

    def holder(self, f: CompiledField, plain: Any) -> Any:
        """The holder of ``f``'s ``plain`` value (as ``filter_clause`` takes it)."""
        key = self._keys.get(f.key)
        if key is None or not _batchable(f, plain):
            return NOT_ASKED
        sent = (f.key, key(plain))
        if sent not in self._asked:
            return NOT_ASKED
        return self._found.get(sent)

    def look_up(
        self, session: Session, ent: CompiledEntity, records: Iterable[Mapping[str, Any]]
    ) -> None:
        """Look up the unique values of ``records`` (values by field key), one statement per
        unique field and :data:`CHUNK` values."""
        records = list(records)
        dialect = session.get_bind().dialect
        for f in ent.value_hooks.unique:
            column = _eq_column(f, ent)
            if column is None:
                continue
            process = column.type.dialect_impl(dialect).bind_processor(dialect)
            key = process if process is not None else _same
            self._keys[f.key] = key
            wanted: dict[Any, Any] = {}
            for values in records:
                value = values.get(f.key)
                if f.type.is_empty(value):
                    continue
                plain = f.type.to_plain(f, value)
                if _batchable(f, plain):
                    wanted.setdefault(key(plain), plain)
            self._asked.update((f.key, sent) for sent in wanted)
            self._fetch(session, ent, f, column, list(wanted.values()), key)

    def _fetch(
        self,
        session: Session,
        ent: CompiledEntity,
        f: CompiledField,
        column: ColumnElement[Any],
        plain: list[Any],
        key: Callable[[Any], Any],
    ) -> None:
        """The holders of ``plain`` (values of ``f``), :data:`CHUNK` at a time: each row's
        column read as the driver gives it (no result processing), to compare as sent."""
        table = ent.table
        query = select(type_coerce(column, NullType()), table.c.id, table.c.owner_id).where(
            column.in_(bindparam("values", expanding=True))
        )
        for start in range(0, len(plain), CHUNK):
            rows = session.execute(query, {"values": plain[start : start + CHUNK]})
            for stored, record_id, owner_id in rows:
                # (a value held twice, which the unique index prevents: either holder, as
                # the per-record check's LIMIT 1 gives either)
                self._found.setdefault((f.key, stored), _Holder(record_id, owner_id))


class _Holder(NamedTuple):
    """A stored record holding a value (as the per-record check's row: ``id``, ``owner_id``)."""

    id: int
    owner_id: int | None


def _same(value: Any) -> Any:
    return value


def _batchable(f: CompiledField, plain: Any) -> bool:
    """Whether ``f``'s ``plain`` value is compared as one column's ``=`` (a username in a
    user field is compared with a subquery's id)."""
    return f.type.name != "user" or type(plain) is int


def _eq_column(f: CompiledField, ent: CompiledEntity) -> ColumnElement[Any] | None:
    """The column the ``eq`` filter of ``f`` compares with its operand, or None to leave
    ``f`` to the per-record check."""
    if f.type.name not in BATCHED_TYPES:
        return None
    if f.type.name == "user":  # (its filter_clause resolves usernames; an id is ``=``)
        return ent.table.c[f.type.columns(f)[0].name]
    return f.type.filter_column(f, ent.table)
