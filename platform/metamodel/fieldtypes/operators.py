"""The filter operators and the SQL the types share for comparing one column with them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, not_, or_, true

ALL_OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "contains", "isnull")
ORDERING = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "isnull")


def compare(column: ColumnElement[Any], op: str, value: Any) -> ColumnElement[bool]:
    """The common SQL for the ordering operators on one column. A condition on a value
    never holds for an empty one (NULL) and ``ne`` is the whole opposite of ``eq``, empty
    values included (docs/api.md). The ordering comparisons say ``IS NOT NULL`` besides
    (which changes nothing as they stand) so that each is true or false, never unknown:
    put under a NOT, it still gives the records it does not match, empty ones included."""
    if op == "isnull":
        return column.is_(None) if value else column.is_not(None)
    if op == "eq":
        return column.is_(None) if value is None else column == value
    if op == "ne":
        return column.is_not(None) if value is None else or_(column != value, column.is_(None))
    if op == "in":
        return column.in_(list(value)) if value else not_(true())
    if op == "contains":
        return column.icontains(str(value), autoescape=True)
    comparisons = {"lt": column < value, "lte": column <= value, "gt": column > value}
    comparisons["gte"] = column >= value
    return and_(column.is_not(None), comparisons[op])
