"""A small, safe expression language for administrator-written rules.

Used for required-when conditions, validation rules and (later) route conditions and computed
defaults. An expression is parsed and checked once, when the rule is saved: a syntax error, an
unknown name or a forbidden construct is an :class:`ExpressionError` for the administrator,
never a crash for a user later. Evaluation uses simpleeval with the guards its own limits leave
out (huge powers, huge repeated strings, dangerous string methods).

Names are the entity's field keys, bound to plain values (text, numbers, ``Decimal``, booleans,
dates, datetimes, ``None``, tuples of option keys). Comparisons with an empty value (``None``)
by ``<``, ``<=``, ``>``, ``>=`` are simply false, so ``amount > 10000`` does not hold on an
empty amount.

Functions:

==================  =============================================================
``today()``         the current date (UTC)
``now()``           the current date and time (UTC)
``date(y, m, d)``   a date
``len(x)``          length of a text or a choice list (empty -> 0)
``is_empty(x)``     empty value, blank text or no choices
``lower(s)``        ``upper(s)``: change case (empty -> empty text)
``abs min max``     the usual numeric helpers; ``round(x, n)``, ``int(x)``, ``float(x)``, ``str(x)``
``add_days(d, n)``  a date or datetime ``n`` days later (negative: earlier)
``days_between``    ``days_between(a, b)``: whole days from ``a`` to ``b``
``year month day``  parts of a date
``contains(h, n)``  ``n`` in the text or choice list ``h`` (empty -> false)
``count(xs, v)``    how many items of the list ``xs`` equal ``v`` (empty -> 0)
==================  =============================================================

String methods allowed on text: ``lower upper strip startswith endswith title``.
"""

from __future__ import annotations

import ast
import operator
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any

import simpleeval

MAX_EXPRESSION_LENGTH = 1000
MAX_SEQUENCE_LENGTH = 10_000
MAX_POWER_EXPONENT = 100
MAX_RESULT_BITS = 4000
#: work one evaluation may do: a unit per node, plus a unit per item of every list it builds
#: (simpleeval walks each one); an expression of at most 1000 characters needs far less
MAX_OPERATIONS = 100_000
ALLOWED_METHODS = frozenset({"lower", "upper", "strip", "startswith", "endswith", "title"})
CONSTANTS = {"True": True, "False": False, "None": None}


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
        _check_size(result)
        return result

    return guarded


def _check_size(value: Any) -> None:
    if isinstance(value, str | tuple | list) and len(value) > MAX_SEQUENCE_LENGTH:
        raise ExpressionRuntimeError(f"Result longer than {MAX_SEQUENCE_LENGTH} items.")
    if isinstance(value, tuple | list) and _items(value) > MAX_SEQUENCE_LENGTH:
        raise ExpressionRuntimeError(f"Result of more than {MAX_SEQUENCE_LENGTH} items in all.")
    if isinstance(value, int) and value.bit_length() > MAX_RESULT_BITS:
        raise ExpressionRuntimeError("Number too large.")


def _items(value: Any, limit: int = MAX_SEQUENCE_LENGTH) -> int:
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
        if nested and _items(seq) * count > MAX_SEQUENCE_LENGTH:
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

_ALLOWED_NODES = (
    ast.Expression,
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.BinOp,
    ast.UnaryOp,
    ast.Compare,
    ast.IfExp,
    ast.Call,
    ast.Attribute,
    ast.Subscript,
    ast.Tuple,
    ast.List,
    *OPERATORS,
)


# -- compiling ---------------------------------------------------------------------------


class CompiledExpression:
    """A checked, parsed expression. Evaluate it as often as needed, from any thread."""

    def __init__(self, source: str, tree: ast.AST, names_used: frozenset[str]) -> None:
        self.source = source
        self.names_used = names_used
        self._tree = tree

    def __repr__(self) -> str:
        return f"<CompiledExpression {self.source!r}>"

    def evaluate(self, values: Mapping[str, Any]) -> Any:
        """Evaluate with field values; a missing name is None. Raises only
        :class:`ExpressionRuntimeError`."""
        evaluator = _evaluator()
        evaluator.names = {name: values.get(name) for name in self.names_used}
        try:
            result = evaluator.eval(self.source, previously_parsed=self._tree)
        except ExpressionRuntimeError:
            raise
        except Exception as exc:  # every failure of a user's data is the same kind of error
            raise ExpressionRuntimeError(f"{self.source}: {exc}") from exc
        _check_size(result)
        return result

    @cached_property  # the tree never changes: walked once, not on every record checked
    def tests_emptiness(self) -> bool:
        """Whether the expression asks itself whether a value is there (``is_empty(x)``,
        ``x is None``), so it means something for empty fields too."""
        for node in ast.walk(self._tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "is_empty"
            ):
                return True
            if isinstance(node, ast.Compare) and any(
                isinstance(side, ast.Constant) and side.value is None
                for side in (node.left, *node.comparators)
            ):
                return True
        return False

    def holds(self, values: Mapping[str, Any]) -> bool:
        """Whether the expression is true for ``values``; a failure counts as false."""
        try:
            return bool(self.evaluate(values))
        except ExpressionRuntimeError:
            return False


def compile_expression(source: str, names: Iterable[str]) -> CompiledExpression:
    """Parse and check ``source`` against the allowed ``names`` (field keys)."""
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError("The expression is empty.")
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"Expression is longer than {MAX_EXPRESSION_LENGTH} characters.")
    source = source.strip()
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        column = f" at column {exc.offset}" if exc.offset else ""
        raise ExpressionError(f"Syntax error{column}: {exc.msg}.") from None
    known = set(names)
    used: set[str] = set()
    for node in ast.walk(tree):
        _check_node(node, known, used)
    parsed = tree.body  # simpleeval evaluates the expression node itself
    return CompiledExpression(source, parsed, frozenset(used))


def _check_node(node: ast.AST, known: set[str], used: set[str]) -> None:
    if not isinstance(node, _ALLOWED_NODES):
        raise ExpressionError(f"{type(node).__name__} is not allowed in an expression.")
    if isinstance(node, ast.Call):
        if node.keywords:
            raise ExpressionError("Keyword arguments are not allowed.")
        function = node.func
        if isinstance(function, ast.Name):
            if function.id not in FUNCTIONS:
                raise ExpressionError(f"Function {function.id!r} is not available.")
        elif not (isinstance(function, ast.Attribute) and function.attr in ALLOWED_METHODS):
            raise ExpressionError("Only the documented functions and text methods can be called.")
    elif isinstance(node, ast.Attribute):
        if node.attr not in ALLOWED_METHODS:
            raise ExpressionError(f"Attribute {node.attr!r} is not available.")
    elif isinstance(node, ast.Subscript):
        if not isinstance(node.slice, ast.Constant) or not isinstance(node.slice.value, int):
            raise ExpressionError("Only a constant whole-number index is allowed.")
    elif isinstance(node, ast.Name):
        if node.id in FUNCTIONS or node.id in CONSTANTS:
            return
        if node.id not in known:
            listing = ", ".join(sorted(known)) or "none"
            raise ExpressionError(f"Unknown name {node.id!r} (known fields: {listing}).")
        used.add(node.id)
    elif isinstance(node, ast.Constant) and isinstance(node.value, bytes):
        raise ExpressionError("Byte strings are not allowed.")
    elif isinstance(node, ast.BinOp) and _repeats_a_repetition(node):
        raise ExpressionError("A repeated list must not hold another repeated list.")


def _repeats_a_repetition(node: ast.BinOp) -> bool:
    """Whether an operand of ``node`` (a ``*``) is a list or tuple built with ``*`` inside:
    each level multiplies the size, so the result outgrows any bound on the text."""
    for operand in (node.left, node.right):
        for inner in ast.walk(operand):
            if isinstance(inner, ast.List | ast.Tuple):
                for part in inner.elts:
                    if any(
                        isinstance(x, ast.BinOp) and isinstance(x.op, ast.Mult)
                        for x in ast.walk(part)
                    ):
                        return True
    return False


# -- evaluating --------------------------------------------------------------------------

_local = threading.local()


class BudgetedEval(simpleeval.EvalWithCompoundTypes):
    """simpleeval with an operation budget per evaluation (:data:`MAX_OPERATIONS`) and lists
    and tuples bounded in their total size before simpleeval walks them."""

    spent = 0

    def eval(self, expr: str, previously_parsed: Any = None) -> Any:
        self.spent = 0
        return super().eval(expr, previously_parsed)

    def _eval(self, node: ast.AST) -> Any:
        self._charge(1)
        return super()._eval(node)

    def _eval_list(self, node: ast.List) -> Any:
        return self._sized(super()._eval_list(node))

    def _eval_tuple(self, node: ast.Tuple) -> Any:
        return self._sized(super()._eval_tuple(node))

    def _check_disallowed_items(self, item: Any) -> None:
        if type(item) in (list, tuple):  # simpleeval walks it: that is work too
            self._charge(_items(item))
        super()._check_disallowed_items(item)

    def _sized(self, value: Any) -> Any:
        _check_size(value)
        return value

    def _charge(self, units: int) -> None:
        self.spent += units
        if self.spent > MAX_OPERATIONS:
            raise ExpressionRuntimeError("The expression needs too much work to evaluate.")


def _evaluator() -> BudgetedEval:
    """One evaluator per thread: a SimpleEval instance holds state between calls."""
    evaluator = getattr(_local, "evaluator", None)
    if evaluator is None:
        evaluator = BudgetedEval(operators=dict(OPERATORS), functions=dict(FUNCTIONS), names={})
        _local.evaluator = evaluator
    return evaluator
