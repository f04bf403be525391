"""Filters, sort and text search of record lists, turned into SQL from validated parts.

Only field keys known to the compiled model and each type's own operators get through; the
operand is parsed by the field type. Nothing from the caller is spliced into SQL text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, false, or_

from trellis.errors import BadRequest
from trellis.metamodel.compiled import CompiledEntity, CompiledModel
from trellis.metamodel.fieldtypes.date_time import DateTimeType
from trellis.metamodel.fieldtypes.input_fields import MAX_BIGINT, MAX_INTEGER
from trellis.metamodel.fieldtypes.integer import IntegerType
from trellis.metamodel.fieldtypes.operators import ALL_OPERATORS, compare
from trellis.metamodel.fieldtypes.text import TextType
from trellis.metamodel.physical import NEVER_NULL_COLUMNS

MAX_PER_PAGE = 200
MAX_PAGE = 2**63 // MAX_PER_PAGE
TRUE_TEXTS = {"1", "true", "yes", "on"}
FALSE_TEXTS = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Filter:
    """``field <op> value``; ``value`` may be text (from a query string) or a Python value."""

    field: str
    op: str
    value: Any


LIST_PARAMETERS = ("sort", "page", "per_page", "q", "after", "total")
"""Query parameters of a list that are not filters."""


def parse_filters(args: Any) -> list[Filter]:
    """``f=v`` (eq) and ``f__op=v`` query parameters (a multi-dict such as Flask's
    ``request.args``) as filters; the list parameters (sort, page...) are left out."""
    filters = []
    for name, values in args.lists():
        if name in LIST_PARAMETERS:
            continue
        field, _, op = name.rpartition("__")
        if not field or op not in ALL_OPERATORS:
            field, op = name, "eq"
        filters.extend(Filter(field, op, value) for value in values)
    return filters


@dataclass(frozen=True)
class _SystemField:
    key: str
    column: str
    type: Any
    operators: tuple[str, ...]
    label: str = ""
    settings: Any = None
    #: the largest value the column holds (whole numbers): a bigger operand is a 400 on
    #: every database, not an overflow on PostgreSQL's 32-bit columns
    maximum: int | None = None


_INT = IntegerType()
_TEXT = TextType()
_MOMENT = DateTimeType()
SYSTEM_FIELDS = {
    "id": _SystemField(
        "id", "id", _INT, ("eq", "ne", "lt", "lte", "gt", "gte", "in"), maximum=MAX_BIGINT
    ),
    "version": _SystemField(
        "version", "version", _INT, ("eq", "lt", "lte", "gt", "gte"), maximum=MAX_INTEGER
    ),
    "created_at": _SystemField("created_at", "created_at", _MOMENT, ("lt", "lte", "gt", "gte")),
    "updated_at": _SystemField("updated_at", "updated_at", _MOMENT, ("lt", "lte", "gt", "gte")),
    # user ids (the users table's INTEGER ids)
    "owner": _SystemField(
        "owner", "owner_id", _INT, ("eq", "ne", "in", "isnull"), maximum=MAX_INTEGER
    ),
    "created_by": _SystemField(
        "created_by", "created_by", _INT, ("eq", "ne", "in", "isnull"), maximum=MAX_INTEGER
    ),
    "pipeline": _SystemField("pipeline", "pipeline", _TEXT, ("eq", "ne", "in", "isnull")),
    "stage": _SystemField("stage", "stage", _TEXT, ("eq", "ne", "in", "isnull")),
}


def filter_clauses(
    entity: CompiledEntity,
    model: CompiledModel,
    filters: Iterable[Filter],
    hidden: frozenset[str] = frozenset(),
) -> list[ColumnElement[bool]]:
    """SQL conditions for ``filters``; every bad filter is reported at once (400). A field
    hidden from the caller is as unknown as a field that does not exist."""
    checked = checked_filters(entity, model, filters, hidden)
    return [condition(entity, model, item, value) for item, value in checked]


def checked_filters(
    entity: CompiledEntity,
    model: CompiledModel,
    filters: Iterable[Filter],
    hidden: frozenset[str] = frozenset(),
) -> list[tuple[Filter, Any]]:
    """Each filter with its operand parsed by the field's type; every bad filter is reported
    at once (400). A field hidden from the caller is as unknown as a field that does not
    exist."""
    checked = []
    errors: dict[str, list[str]] = {}
    for item in filters:
        try:
            if item.field in hidden:
                raise ValueError(f"Unknown field {item.field!r}.")
            checked.append((item, _checked_operand(entity, model, item)))
        except ValueError as exc:
            errors.setdefault(item.field, []).append(str(exc))
    if errors:
        raise BadRequest("Invalid filter.", errors)
    return checked


def _checked_operand(entity: CompiledEntity, model: CompiledModel, item: Filter) -> Any:
    system = SYSTEM_FIELDS.get(item.field)
    field = entity.fields.get(item.field)
    if system is None and field is None:
        raise ValueError(f"Unknown field {item.field!r}.")
    operators = system.operators if system else field.type.operators  # type: ignore[union-attr]
    if item.op not in operators:
        raise ValueError(
            f"Operator {item.op!r} is not available here (use: {', '.join(operators)})."
        )
    value = _operand(system or field, item.op, item.value, model)
    if system is not None and system.type is _MOMENT and isinstance(value, str):
        value = _MOMENT.parse_scalar(system, value, model)
    return value


def condition(
    entity: CompiledEntity, model: CompiledModel, item: Filter, value: Any
) -> ColumnElement[bool]:
    """The SQL of a checked filter (see :func:`checked_filters`) and its parsed operand."""
    system = SYSTEM_FIELDS.get(item.field)
    if system is not None:
        return compare(entity.table.c[system.column], item.op, value)
    field = entity.fields[item.field]
    return field.type.filter_clause(field, entity.table, item.op, value, model)


#: the operators whose SQL takes the operand as one bound parameter (see ``bound_condition``)
BOUND_OPERATORS = frozenset({"eq", "ne", "lt", "lte", "gt", "gte", "in"})


def bound_column(entity: CompiledEntity, item: Filter, value: Any) -> ColumnElement[Any] | None:
    """The column a checked filter compares its operand with when its SQL can take the
    operand as a bound parameter (see :func:`bound_condition`): None when the SQL depends on
    the operand itself (no value, true or false, an empty list) or the field's type builds a
    condition of its own."""
    if item.op not in BOUND_OPERATORS or value is None or isinstance(value, bool):
        return None
    if item.op == "in" and (
        not isinstance(value, list)
        or not value
        or any(v is None or isinstance(v, bool) for v in value)
    ):
        return None
    system = SYSTEM_FIELDS.get(item.field)
    if system is not None:
        return entity.table.c[system.column]
    field = entity.fields[item.field]
    return field.type.filter_column(field, entity.table)


def bound_condition(entity: CompiledEntity, item: Filter, name: str) -> ColumnElement[bool]:
    """The SQL of a filter with a :func:`bound_column` and its operand as the bound parameter
    ``name`` (an ``in`` list as an expanding one): what :func:`condition` makes for any
    operand of that kind."""
    system = SYSTEM_FIELDS.get(item.field)
    if system is not None:
        column = entity.table.c[system.column]
    else:
        field = entity.fields[item.field]
        column = field.type.filter_column(field, entity.table)
    if item.op == "in":
        return column.in_(bindparam(name, expanding=True))  # type: ignore[union-attr]
    return compare(column, item.op, bindparam(name))  # type: ignore[arg-type]


def _operand(target: Any, op: str, raw: Any, model: CompiledModel) -> Any:
    if op == "isnull":
        # true or false, as the document's boolean says (the filter forms send these too)
        if isinstance(raw, bool):
            return raw
        if raw in ("true", "false"):
            return raw == "true"
        raise ValueError("isnull takes true or false.")
    if op == "contains" and target.type.name != "multi_list":
        # a part of a value (e.g. "@acme.") is not a valid value of the type itself
        if str(raw) == "":
            raise ValueError("Give a text to look for.")
        return str(raw)
    if op == "in":
        items = raw.split(",") if isinstance(raw, str) else list(raw)
        return [_scalar(target, item, model) for item in items]
    return _scalar(target, raw, model)


def _scalar(target: Any, raw: Any, model: CompiledModel) -> Any:
    if isinstance(raw, str) and not raw.strip():
        # no key is empty, and an empty value is no value (as the document says)
        raise ValueError("Give a value (empty ones are found with __isnull=true).")
    if target.type is _TEXT and isinstance(target, _SystemField):
        return str(raw)
    if isinstance(target.type, TextType) and isinstance(raw, str):
        # compared as text: a value the type would refuse (an e-mail "0") matches nothing
        return raw.strip()
    value = target.type.parse_scalar(target, raw, model)
    system_int = target.type is _INT and isinstance(target, _SystemField)
    if system_int and value is not None and value < 0:
        # ids and versions are never negative (as the document says)
        raise ValueError("Use a number from 0 up.")
    if system_int and value is not None and value > target.maximum:
        raise ValueError(f"Use a number up to {target.maximum}.")
    return value


@dataclass(frozen=True)
class SortKey:
    """One column of a list's order. ``nullable`` is False for the columns the service
    always fills (id, version, created_at, updated_at)."""

    name: str
    column: Any
    descending: bool
    nullable: bool


def sort_keys(
    entity: CompiledEntity, sort: Sequence[str], hidden: frozenset[str] = frozenset()
) -> list[SortKey]:
    """The order of a list: the ``sort`` keys (``-`` for descending), then ``id`` in the
    direction of the last key (newest first without keys), so that an index on
    ``(column, id)`` serves the whole order, scanned forwards or backwards. Unknown keys
    and keys hidden from the caller are refused (400)."""
    keys: list[SortKey] = []
    errors: dict[str, list[str]] = {}
    for item in sort:
        descending = item.startswith("-")
        key = item.lstrip("-+")
        system = SYSTEM_FIELDS.get(key)
        field = entity.fields.get(key) if key not in hidden else None
        if system is not None:
            column = entity.table.c[system.column]
        elif field is not None:
            try:
                column = field.type.sort_column(field, entity.table)
            except ValueError as exc:
                errors.setdefault(key, []).append(str(exc))
                continue
        else:
            errors.setdefault(key or item, []).append(f"Unknown sort field {key!r}.")
            continue
        keys.append(SortKey(key, column, descending, column.name not in NEVER_NULL_COLUMNS))
    if errors:
        raise BadRequest("Invalid sort.", errors)
    if not keys or keys[-1].column.name != "id":
        descending = keys[-1].descending if keys else True
        keys.append(SortKey("id", entity.table.c.id, descending, False))
    return keys


def order_clauses(keys: Sequence[SortKey]) -> list[Any]:
    """ORDER BY terms for ``keys``. Empty values come first going up and last going down
    on both databases: SQLite's own order (an index serves it as it is), and on PostgreSQL
    the list indexes are built ``NULLS FIRST`` on the columns that may be empty so that they
    serve it too (a column that is never empty is ordered plainly, as its index is)."""
    terms = []
    for k in keys:
        term = k.column.desc() if k.descending else k.column.asc()
        if k.nullable:
            term = term.nulls_last() if k.descending else term.nulls_first()
        terms.append(term)
    return terms


def apply_sort(
    entity: CompiledEntity,
    query: Select[Any],
    sort: Sequence[str],
    hidden: frozenset[str] = frozenset(),
) -> Select[Any]:
    """Order by ``sort`` keys (``-`` for descending), then by id (see :func:`sort_keys`)."""
    return query.order_by(*order_clauses(sort_keys(entity, sort, hidden)))


def search_clause(
    entity: CompiledEntity, text: str, hidden: frozenset[str] = frozenset()
) -> ColumnElement[bool]:
    """Records whose searchable fields (those the caller may see) contain ``text``."""
    if "\x00" in text:  # no stored text holds NUL (PostgreSQL refuses it even to compare)
        return false()
    parts = [
        f.type.search_clause(f, entity.table, text)
        for f in entity.fields.values()
        if f.type.searchable and f.key not in hidden
    ]
    return or_(*parts) if parts else false()


#: words of a typed title matched each on its own (the longest ones)
TITLE_WORDS = 8


def title_text_clause(
    entity: CompiledEntity, text: str, hidden: frozenset[str] = frozenset()
) -> ColumnElement[bool]:
    """Records a person may mean by typing ``text`` for their title: the search above, or
    (a title made of several fields, "{first_name} {last_name}") every word of ``text`` in
    one of the title's fields the caller may see, so "Ann Tamm" finds Ann Tamm."""
    if "\x00" in text:  # no stored text holds NUL (PostgreSQL refuses it even to compare)
        return false()
    fields = [
        entity.fields[key]
        for key in entity.title_keys
        if key in entity.fields and entity.fields[key].type.searchable and key not in hidden
    ]
    # the longest distinct words: a pasted page of words must not make a query as long
    words = sorted({w.lower() for w in text.split()}, key=len, reverse=True)[:TITLE_WORDS]
    if not fields or not words:
        return search_clause(entity, text, hidden)
    each_word = and_(
        *(or_(*(f.type.search_clause(f, entity.table, word) for f in fields)) for word in words)
    )
    return or_(search_clause(entity, text, hidden), each_word)


def page_bounds(page: Any, per_page: Any) -> tuple[int, int]:
    """Validated page number and size."""
    errors: dict[str, list[str]] = {}
    try:
        page_number = int(page)
        # the row offset must fit in a 64-bit integer, or the database refuses the query
        if not 1 <= page_number <= MAX_PAGE:
            raise ValueError
    except (TypeError, ValueError):
        errors["page"] = [f"Use a whole number from 1 to {MAX_PAGE}."]
        page_number = 1
    try:
        size = int(per_page)
        if not 1 <= size <= MAX_PER_PAGE:
            raise ValueError
    except (TypeError, ValueError):
        errors["per_page"] = [f"Use a whole number from 1 to {MAX_PER_PAGE}."]
        size = 50
    if errors:
        raise BadRequest("Invalid paging.", errors)
    return page_number, size
