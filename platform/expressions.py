"""A small, safe expression language for administrator-written rules.

Used for required-when conditions, validation rules and (later) route conditions and computed
defaults. An expression is parsed and checked once, when the rule is saved: a syntax error, an
unknown name or a forbidden construct is an :class:`ExpressionError` for the administrator,
never a crash for a user later. Evaluation follows simpleeval with the guards its own limits
leave out (huge powers, huge repeated strings, dangerous string methods, a work budget): the
checked tree is compiled once into Python closures that do what simpleeval's walk does
(``expression_closures``), and simpleeval itself walks the rare expression nested too deep.

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
import threading
from collections.abc import Callable, Iterable, Mapping
from functools import cached_property
from typing import Any

import simpleeval

from trellis.expression_builtins import (
    BUDGET_SPENT,
    FUNCTIONS,
    MAX_OPERATIONS,
    OPERATORS,
    ExpressionError,
    ExpressionRuntimeError,
    check_size,
    items_in,
)

# the functions, operators, limits and errors live in expression_builtins; they are named
# here too, as the language's parts
from trellis.expression_builtins import FUNCTION_DOCS as FUNCTION_DOCS
from trellis.expression_builtins import MAX_POWER_EXPONENT as MAX_POWER_EXPONENT
from trellis.expression_builtins import MAX_RESULT_BITS as MAX_RESULT_BITS
from trellis.expression_builtins import MAX_SEQUENCE_LENGTH as MAX_SEQUENCE_LENGTH
from trellis.expression_closures import Node, Run, closure
from trellis.expression_natives import OTHER_KINDS, Native, native

MAX_EXPRESSION_LENGTH = 1000
ALLOWED_METHODS = frozenset({"lower", "upper", "strip", "startswith", "endswith", "title"})
CONSTANTS = {"True": True, "False": False, "None": None}

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
        :class:`ExpressionRuntimeError`.

        The tree runs as Python closures built once per expression (:func:`_closure`): the
        same nodes, operators, functions, budget, checks and messages as simpleeval's walk
        (:meth:`evaluate_by_simpleeval`), without its dispatch per node. An expression
        nested deeper than :data:`MAX_CLOSURE_DEPTH` is walked by simpleeval itself."""
        run = self._run
        if run is None:
            return self.evaluate_by_simpleeval(values)
        return self._checked(run, Run(values))

    def evaluate_by_simpleeval(self, values: Mapping[str, Any]) -> Any:
        """:meth:`evaluate` through simpleeval's tree walker (the reference the closures are
        compared with in the tests)."""
        evaluator = _evaluator()
        evaluator.names = {name: values.get(name) for name in self.names_used}
        return self._checked(evaluator.eval, self.source, previously_parsed=self._tree)

    def _checked(self, run: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``run(...)``'s result, size-checked; any failure an :class:`ExpressionRuntimeError`."""
        try:
            result = run(*args, **kwargs)
        except ExpressionRuntimeError:
            raise
        except Exception as exc:  # every failure of a user's data is the same kind of error
            raise ExpressionRuntimeError(f"{self.source}: {exc}") from exc
        check_size(result)
        return result

    @cached_property
    def _run(self) -> Node | None:
        return closure(self._tree, self.source, self.names_used)

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
        """Whether the expression is true for ``values``; a failure counts as false. A
        simple expression whose names all have values of the plain kinds runs as one native
        function (see :mod:`trellis.expression_natives`), any other as closures."""
        run_natively = self._native
        if run_natively is not None:
            try:
                result = run_natively(values)
            except Exception:  # (what evaluate turns into an ExpressionRuntimeError)
                return False
            if result is not OTHER_KINDS:
                return self._held(result)
        return self.holds_by_closures(values)

    def holds_by_closures(self, values: Mapping[str, Any]) -> bool:
        """:meth:`holds` by the closures (the reference the native functions are compared
        with in the tests)."""
        run = self._run
        if run is not None:
            # :meth:`evaluate` without its layers (the same run, failures and size check);
            # a yes, a no or nothing (a rule's, a condition's usual answer) needs no check
            try:
                result = run(Run(values))
            except Exception:  # (what evaluate turns into an ExpressionRuntimeError)
                return False
            return self._held(result)
        try:
            return bool(self.evaluate_by_simpleeval(values))
        except ExpressionRuntimeError:
            return False

    @staticmethod
    def _held(result: Any) -> bool:
        """Whether a result counts as true; one too large (see ``check_size``) does not."""
        if result is True or result is False or result is None:
            return result is True
        try:
            check_size(result)
        except ExpressionRuntimeError:
            return False
        return bool(result)

    @cached_property
    def _native(self) -> Native | None:
        return native(self._tree, self.names_used)


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
            self._charge(items_in(item))
        super()._check_disallowed_items(item)

    def _sized(self, value: Any) -> Any:
        check_size(value)
        return value

    def _charge(self, units: int) -> None:
        self.spent += units
        if self.spent > MAX_OPERATIONS:
            raise ExpressionRuntimeError(BUDGET_SPENT)


def _evaluator() -> BudgetedEval:
    """One evaluator per thread: a SimpleEval instance holds state between calls."""
    evaluator = getattr(_local, "evaluator", None)
    if evaluator is None:
        evaluator = BudgetedEval(operators=dict(OPERATORS), functions=dict(FUNCTIONS), names={})
        _local.evaluator = evaluator
    return evaluator
