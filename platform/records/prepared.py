"""List pages by statements prepared once per entity type and shape.

A list's SQL depends on which fields it filters with which operators, its sort, the caller's
read scope and whether it counts; the operands, the caller's id, the page and the count's cap
are bound parameters. Such a statement is built once per compiled entity type and shape and
run again with new values, so a list neither builds SQLAlchemy expressions nor works out the
statement's cache key per request. Filters whose SQL depends on the operand itself (no value,
true or false, an empty list) are part of the shape; filters whose types build conditions of
their own and searches are built per request as before. A page by cursor is a statement per
segment of the order (see ``paging.after_segments``), the cursor's values bound too (which of
them are empty is part of the shape). The statements run compiled on the driver's cursor
(``records.direct``): no execution context, result object or row object per request.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, bindparam, select
from sqlalchemy.engine import Dialect

from trellis.metamodel.compiled import CompiledEntity, CompiledModel
from trellis.records.direct import DirectSelect
from trellis.records.paging import after_segments
from trellis.records.query import (
    Filter,
    SortKey,
    bound_column,
    bound_condition,
    condition,
    order_clauses,
)

#: shapes kept per compiled entity type (the oldest goes when a new one comes)
MAX_SHAPES = 64
#: the parameters every prepared page takes besides the filters' operands
PAGE_LIMIT, PAGE_OFFSET, COUNT_LIMIT, READ_OWNER = (
    "page_limit",
    "page_offset",
    "count_limit",
    "read_owner",
)


class PageStatements:
    """The statements of one shape (one, or one per segment of a page by cursor, the first
    with the count), and each compiled for a dialect to run on the driver's cursor (see
    ``records.direct``), once per dialect."""

    def __init__(self, selects: tuple[Select[Any], ...]) -> None:
        self.selects = selects
        self._direct: dict[Dialect, tuple[DirectSelect, ...]] = {}

    def direct(self, dialect: Dialect) -> tuple[DirectSelect, ...]:
        found = self._direct.get(dialect)
        if found is None:
            found = self._direct[dialect] = tuple(DirectSelect(s, dialect) for s in self.selects)
        return found


@dataclass(frozen=True)
class PreparedPage:
    """A page's statements and the values of its filters' and cursor's parameters for one
    request."""

    statements: PageStatements
    params: dict[str, Any]


@dataclass(frozen=True)
class PageQuery:
    """What a list asks for, checked: the entity type (of ``model``), its checked filters
    (see ``checked_filters``) and sort keys, and the caller's read scope (``scope(owner)``
    makes the scope's condition, ``scope_kind`` names it); with the capped count when
    ``capped_count(conditions, limit)`` is given."""

    ent: CompiledEntity
    model: CompiledModel
    checked: Sequence[tuple[Filter, Any]]
    keys: Sequence[SortKey]
    scope: Callable[[Any], ColumnElement[bool] | None]
    scope_kind: str
    capped_count: Callable[[list[Any], Any], Any] | None = None


def prepared_page(query: PageQuery, after: Sequence[Any] | None = None) -> PreparedPage | None:
    """The page statements for ``query``, after the cursor values ``after`` (decoded) if
    given; or None when a filter cannot be prepared. Parameters to add when they run:
    :data:`PAGE_LIMIT`, :data:`PAGE_OFFSET` (no cursor), :data:`COUNT_LIMIT` (with a count),
    :data:`READ_OWNER` (scope ``own``)."""
    ent = query.ent
    params: dict[str, Any] = {}
    shape: list[Any] = []
    for i, (item, value) in enumerate(query.checked):
        if bound_column(ent, item, value) is not None:
            params[f"filter_{i}"] = value
            shape.append((item.field, item.op))
        elif value is None or isinstance(value, bool):  # a few values, each its own SQL
            shape.append((item.field, item.op, type(value).__name__, value))
        else:
            return None
    empty = None if after is None else tuple(v is None for v in after)
    for i, value in enumerate(after or ()):
        if value is not None:
            params[f"after_{i}"] = value
    key = (
        tuple(shape),
        tuple((k.name, k.descending) for k in query.keys),
        query.scope_kind,
        query.capped_count is not None,
        empty,
    )
    kept = ent.page_statements
    statements = kept.get(key)
    if statements is None:
        statements = PageStatements(_build(query, empty))
        if len(kept) >= MAX_SHAPES:
            # the oldest shape goes (another thread may be changing the dict too)
            with suppress(RuntimeError, StopIteration):
                kept.pop(next(iter(kept)), None)
        kept[key] = statements
    return PreparedPage(statements, params)


def _build(query: PageQuery, empty: tuple[bool, ...] | None) -> tuple[Select[Any], ...]:
    ent, keys, capped_count = query.ent, query.keys, query.capped_count
    conditions: list[Any] = [
        bound_condition(ent, item, f"filter_{i}")
        if bound_column(ent, item, value) is not None
        else condition(ent, query.model, item, value)
        for i, (item, value) in enumerate(query.checked)
    ]
    owner = query.scope(bindparam(READ_OWNER))
    if owner is not None:
        conditions.append(owner)
    order = order_clauses(keys)
    limit = bindparam(PAGE_LIMIT, type_=Integer)
    if empty is None:
        query = select(ent.table).where(*conditions).order_by(*order)
        if capped_count is not None:
            query = query.add_columns(
                capped_count(conditions, bindparam(COUNT_LIMIT, type_=Integer))
            )
        return (query.limit(limit).offset(bindparam(PAGE_OFFSET, type_=Integer)),)
    values = [
        None if none else bindparam(f"after_{i}", type_=k.column.type)
        for i, (k, none) in enumerate(zip(keys, empty, strict=True))
    ]
    statements = []
    for number, segment in enumerate(after_segments(keys, values)):
        query = select(ent.table).where(*conditions, segment).order_by(*order)
        if number == 0 and capped_count is not None:
            query = query.add_columns(
                capped_count(conditions, bindparam(COUNT_LIMIT, type_=Integer))
            )
        statements.append(query.limit(limit))
    return tuple(statements)
