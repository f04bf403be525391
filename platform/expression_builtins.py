"""What an expression computes with (see :mod:`trellis.expressions` for the language): the
functions it may call, the operators with their guards (sizes, powers, the work budget) and
the errors of evaluation. Each function takes plain values and treats an empty one
(``None``) as the table in that module says."""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

#: the longest text or list a function or operator may return (and an expression may build)
MAX_SEQUENCE_LENGTH = 10_000
MAX_POWER_EXPONENT = 100
MAX_RESULT_BITS = 4000
#: work one evaluation may do: a unit per node, plus a unit per item of every list it builds
#: (simpleeval walks each one); an expression of at most 1000 characters needs far less
MAX_OPERATIONS = 100_000
BUDGET_SPENT = "The expression needs too much work to evaluate."


class ExpressionError(ValueError):
    """An expression cannot be compiled; ``message`` is a sentence for an administrator."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ExpressionRuntimeError(ExpressionError):
    """Evaluating a compiled expression failed (a result too large, a bad argument type...)."""


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, tuple | list):
        return not value
    return False


def _len(value: Any) -> int:
    return 0 if value is None else len(value)


def _days_between(a: Any, b: Any) -> int | None:
    if a is None or b is None:
        return None
    if isinstance(a, datetime) != isinstance(b, datetime):
        a = a.date() if isinstance(a, datetime) else a
        b = b.date() if isinstance(b, datetime) else b
    return (b - a).days


def _add_days(value: Any, days: Any) -> Any:
    if value is None:
        return None
    return value + timedelta(days=int(days))


def _part(name: str) -> Callable[[Any], int | None]:
    def part(value: Any) -> int | None:
        return None if value is None else getattr(value, name)

    part.__name__ = name
    return part


def _contains(haystack: Any, needle: Any) -> bool:
    if haystack is None or needle is None:
        return False
    if isinstance(haystack, str):
        return str(needle).lower() in haystack.lower()
    return needle in haystack


def _count(items: Any, value: Any) -> int:
    if items is None:
        return 0
    if not isinstance(items, tuple | list):
        raise ValueError("count() needs a list.")
    return sum(1 for item in items if item == value)


def _text(function: Callable[[str], str]) -> Callable[[Any], str]:
    def call(value: Any) -> str:
        return "" if value is None else function(str(value))

    return call


def _round(value: Any, digits: int = 0) -> Any:
    if not -20 <= int(digits) <= 20:
        raise ValueError("round() takes at most 20 digits.")
    return round(value, int(digits))


def _str(value: Any) -> str:
    text = "" if value is None else str(value)
    if len(text) > MAX_SEQUENCE_LENGTH:
        raise ValueError("Text too long.")
    return text


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "today": lambda: datetime.now(UTC).date(),
    "now": lambda: datetime.now(UTC),
    "date": date,
    "len": _len,
    "is_empty": _is_empty,
    "lower": _text(str.lower),
    "upper": _text(str.upper),
    "abs": abs,
    "min": min,
    "max": max,
    "round": _round,
    "int": int,
    "float": float,
    "str": _str,
    "add_days": _add_days,
    "days_between": _days_between,
    "year": _part("year"),
    "month": _part("month"),
    "day": _part("day"),
    "contains": _contains,
    "count": _count,
}

FUNCTION_DOCS: dict[str, str] = {
    "today": "today(): the current date (UTC)",
    "now": "now(): the current date and time (UTC)",
    "date": "date(year, month, day): a date",
    "len": "len(x): length of a text or a choice list; empty is 0",
    "is_empty": "is_empty(x): true for an empty value, blank text or no choices",
    "lower": "lower(text): the text in lower case",
    "upper": "upper(text): the text in upper case",
    "abs": "abs(n): the absolute value",
    "min": "min(a, b, ...): the smallest",
    "max": "max(a, b, ...): the largest",
    "round": "round(n, digits=0): rounded",
    "int": "int(x): as a whole number",
    "float": "float(x): as a number",
    "str": "str(x): as text",
    "add_days": "add_days(d, n): the date n days later (negative: earlier)",
    "days_between": "days_between(a, b): whole days from a to b",
    "year": "year(d): the year of a date",
    "month": "month(d): the month of a date",
    "day": "day(d): the day of the month of a date",
    "contains": "contains(h, n): whether n is in the text or choice list h",
    "count": "count(xs, v): how many items of the list xs equal v",
}


# -- guarded operators -------------------------------------------------------------------


def _coerce(a: Any, b: Any) -> tuple[Any, Any]:
    # Decimal and float do not mix in arithmetic; a float literal meets a Decimal field often.
    if isinstance(a, Decimal) and isinstance(b, float):
        return a, Decimal(repr(b))
    if isinstance(b, Decimal) and isinstance(a, float):
        return Decimal(repr(a)), b
    return a, b


def _ordering(compare: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def guarded(a: Any, b: Any) -> bool:
        if a is None or b is None:
            return False
        return compare(*_coerce(a, b))

    return guarded


def _arith(function: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def guarded(a: Any, b: Any) -> Any:
        result = function(*_coerce(a, b))
        check_size(result)
        return result

    return guarded


def check_size(value: Any) -> None:
    if isinstance(value, str | tuple | list) and len(value) > MAX_SEQUENCE_LENGTH:
        raise ExpressionRuntimeError(f"Result longer than {MAX_SEQUENCE_LENGTH} items.")
    if isinstance(value, tuple | list) and items_in(value) > MAX_SEQUENCE_LENGTH:
        raise ExpressionRuntimeError(f"Result of more than {MAX_SEQUENCE_LENGTH} items in all.")
    if isinstance(value, int) and value.bit_length() > MAX_RESULT_BITS:
        raise ExpressionRuntimeError("Number too large.")


def items_in(value: Any, limit: int = MAX_SEQUENCE_LENGTH) -> int:
    """How many items ``value`` holds at every depth (lists in lists count theirs too); the
    count stops just past ``limit``, so this never walks a huge nested structure."""
    count, pending = 0, [value]
    while pending and count <= limit:
        item = pending.pop()
        if isinstance(item, tuple | list):
            count += len(item)
            pending.extend(x for x in item if isinstance(x, tuple | list))
    return count


def _mult(a: Any, b: Any) -> Any:
    a, b = _coerce(a, b)
    for seq, count in ((a, b), (b, a)):
        repeats = isinstance(seq, str | tuple | list) and isinstance(count, int)
        if repeats and len(seq) * max(count, 0) > MAX_SEQUENCE_LENGTH:
            raise ExpressionRuntimeError(f"Result longer than {MAX_SEQUENCE_LENGTH} items.")
        # [[1] * 10000] * 10000 is short, but holds 10**8 items once nested lists count
        nested = repeats and isinstance(seq, tuple | list) and count > 0
        if nested and items_in(seq) * count > MAX_SEQUENCE_LENGTH:
            raise ExpressionRuntimeError(f"Result of more than {MAX_SEQUENCE_LENGTH} items in all.")
    both_int = isinstance(a, int) and isinstance(b, int)
    if both_int and a.bit_length() + b.bit_length() > MAX_RESULT_BITS:
        raise ExpressionRuntimeError("Number too large.")
    return a * b


def _power(a: Any, b: Any) -> Any:
    a, b = _coerce(a, b)
    if abs(b) > MAX_POWER_EXPONENT:
        raise ExpressionRuntimeError(f"Exponent larger than {MAX_POWER_EXPONENT}.")
    if isinstance(a, int) and isinstance(b, int) and a.bit_length() * abs(b) > MAX_RESULT_BITS:
        raise ExpressionRuntimeError("Number too large.")
    return a**b


OPERATORS: dict[type, Callable[..., Any]] = {
    ast.Add: _arith(operator.add),
    ast.Sub: _arith(operator.sub),
    ast.Mult: _mult,
    ast.Div: _arith(operator.truediv),
    ast.FloorDiv: _arith(operator.floordiv),
    ast.Mod: _arith(operator.mod),
    ast.Pow: _power,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Gt: _ordering(operator.gt),
    ast.Lt: _ordering(operator.lt),
    ast.GtE: _ordering(operator.ge),
    ast.LtE: _ordering(operator.le),
    ast.Not: operator.not_,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
    ast.In: lambda a, b: b is not None and a in b,
    ast.NotIn: lambda a, b: b is None or a not in b,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}
