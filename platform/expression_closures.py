"""Compiled evaluation of a checked expression: its tree as Python closures, built once.

Each node kind :func:`trellis.expressions.compile_expression` allows becomes a closure doing
what simpleeval's handler of that kind does, wrapped as :class:`trellis.expressions.BudgetedEval`
wraps it (a unit of the work budget first, the result checked last), with the same
operators, functions, limits and messages, without simpleeval's dispatch per node. A parity
test compares the two on the rule corpus.
"""

from __future__ import annotations

import ast
import types
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
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

#: an expression nested deeper than this runs through simpleeval (whose walk takes several
#: Python frames per level, so it fails on deep nesting where closures would not: such an
#: expression keeps simpleeval's outcome)
MAX_CLOSURE_DEPTH = 60
#: results simpleeval's check of a node's result lets pass without looking further (its own
#: primitive types, and value types that are neither containers, modules nor callables)
PLAIN_KINDS = frozenset({int, float, str, bool, type(None), bytes, complex, Decimal})
PLAIN_KINDS |= {date, datetime, timedelta}


class Run:
    """One evaluation: the values of the names and the work spent so far."""

    __slots__ = ("spent", "values")

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = values
        self.spent = 0


Node = Callable[[Run], Any]


def _charge(run: Run, units: int) -> None:
    run.spent += units
    if run.spent > MAX_OPERATIONS:
        raise ExpressionRuntimeError(BUDGET_SPENT)


def _inspect(run: Run, item: Any) -> None:
    """simpleeval's check of every node's result with :class:`BudgetedEval`'s charge for
    the lists and tuples it walks (nested ones charged again at each level, as there)."""
    kind = type(item)
    if kind is list or kind is tuple:
        _charge(run, items_in(item))
    if kind in PLAIN_KINDS or isinstance(item, simpleeval.ModuleWrapper):
        return
    if isinstance(item, types.ModuleType):
        raise simpleeval.FeatureNotAvailable("Sorry, modules are not allowed")
    if isinstance(item, list | tuple | set | frozenset):
        for element in item:
            _inspect(run, element)
    elif isinstance(item, dict):
        for value in item.values():
            _inspect(run, value)
    elif callable(item) and item in simpleeval.DISALLOW_FUNCTIONS:
        raise simpleeval.FeatureNotAvailable("This function is forbidden")


def closure(tree: ast.AST, source: str, names_used: frozenset[str]) -> Node | None:
    """The checked tree as closures, or None when it is nested too deep (see above)."""
    if _depth(tree) > MAX_CLOSURE_DEPTH:
        return None
    return _Compiler(source, names_used).node(tree)


def _depth(tree: ast.AST) -> int:
    deepest, pending = 0, [(tree, 1)]
    while pending:
        node, depth = pending.pop()
        deepest = max(deepest, depth)
        pending.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


class _Compiler:
    """Turns each node kind :func:`compile_expression` allows into a closure doing what
    simpleeval's handler of that kind does, wrapped as its ``_eval`` is: one unit of the
    budget first, the result checked last (:func:`_inspect`)."""

    def __init__(self, source: str, names_used: frozenset[str]) -> None:
        self.source = source
        self.names_used = names_used

    def node(self, node: ast.AST) -> Node:
        build = getattr(self, f"_{type(node).__name__.lower()}", None)
        if build is None:  # compile_expression allows no other node: a bug if reached
            raise ExpressionError(f"{type(node).__name__} is not allowed in an expression.")
        return build(node)

    @staticmethod
    def _charged(compute: Node) -> Node:
        def evaluate(run: Run) -> Any:
            run.spent += 1
            if run.spent > MAX_OPERATIONS:
                raise ExpressionRuntimeError(BUDGET_SPENT)
            result = compute(run)
            if type(result) not in PLAIN_KINDS:
                _inspect(run, result)
            return result

        return evaluate

    def _constant(self, node: ast.Constant) -> Node:
        value = node.value
        if hasattr(value, "__len__") and len(value) > simpleeval.MAX_STRING_LENGTH:
            size = len(value)

            def too_long(_run: Run) -> Any:
                raise simpleeval.IterableTooLong(
                    f"Literal in statement is too long! ({size}, when "
                    f"{simpleeval.MAX_STRING_LENGTH} is max)"
                )

            return self._charged(too_long)
        if type(value) not in PLAIN_KINDS:
            return self._charged(lambda _run: value)

        def constant(run: Run) -> Any:
            run.spent += 1
            if run.spent > MAX_OPERATIONS:
                raise ExpressionRuntimeError(BUDGET_SPENT)
            return value

        return constant

    def _name(self, node: ast.Name) -> Node:
        key = node.id
        if key not in self.names_used:  # a function named without calling it
            function = FUNCTIONS[key]
            return self._charged(lambda _run: function)

        def name(run: Run) -> Any:
            run.spent += 1
            if run.spent > MAX_OPERATIONS:
                raise ExpressionRuntimeError(BUDGET_SPENT)
            value = run.values.get(key)
            if type(value) not in PLAIN_KINDS:
                _inspect(run, value)
            return value

        return name

    def _boolop(self, node: ast.BoolOp) -> Node:
        parts = [self.node(value) for value in node.values]
        if isinstance(node.op, ast.And):

            def all_of(run: Run) -> Any:
                result: Any = False
                for part in parts:
                    result = part(run)
                    if not result:
                        break
                return result

            return self._charged(all_of)

        def any_of(run: Run) -> Any:
            result: Any = False
            for part in parts:
                result = part(run)
                if result:
                    break
            return result

        return self._charged(any_of)

    def _binop(self, node: ast.BinOp) -> Node:
        function, left, right = (
            OPERATORS[type(node.op)],
            self.node(node.left),
            self.node(node.right),
        )
        return self._charged(lambda run: function(left(run), right(run)))

    def _unaryop(self, node: ast.UnaryOp) -> Node:
        function, operand = OPERATORS[type(node.op)], self.node(node.operand)
        return self._charged(lambda run: function(operand(run)))

    def _compare(self, node: ast.Compare) -> Node:
        first = self.node(node.left)
        steps = [
            (OPERATORS[type(op)], self.node(comparator))
            for op, comparator in zip(node.ops, node.comparators, strict=True)
        ]
        if len(steps) == 1:
            ((function, second),) = steps
            return self._charged(lambda run: function(first(run), second(run)))

        def chain(run: Run) -> Any:
            right = first(run)
            result: Any = True
            for function, comparator in steps:
                if not result:
                    break
                left, right = right, comparator(run)
                result = function(left, right)
            return result

        return self._charged(chain)

    def _ifexp(self, node: ast.IfExp) -> Node:
        test, body, orelse = self.node(node.test), self.node(node.body), self.node(node.orelse)
        return self._charged(lambda run: body(run) if test(run) else orelse(run))

    def _call(self, node: ast.Call) -> Node:
        arguments = [self.node(argument) for argument in node.args]
        if isinstance(node.func, ast.Name):
            function = FUNCTIONS[node.func.id]
            return self._charged(lambda run: function(*(a(run) for a in arguments)))
        method = self.node(node.func)
        return self._charged(lambda run: method(run)(*(a(run) for a in arguments)))

    def _attribute(self, node: ast.Attribute) -> Node:
        owner, attribute, source = self.node(node.value), node.attr, self.source

        # (simpleeval's refusal of names starting with "_" or "func_" and of its disallowed
        # methods cannot apply: compile_expression allows ALLOWED_METHODS only)
        def look_up(run: Run) -> Any:
            value = owner(run)
            try:
                item = getattr(value, attribute)
            except (AttributeError, TypeError):
                try:  # simpleeval's ATTR_INDEX_FALLBACK
                    item = value[attribute]
                except (KeyError, TypeError):
                    raise simpleeval.AttributeDoesNotExist(attribute, source) from None
            if isinstance(item, types.ModuleType):
                raise simpleeval.FeatureNotAvailable(
                    "Sorry, modules are not allowed in attribute access"
                )
            if callable(item) and item in simpleeval.DISALLOW_FUNCTIONS:
                raise simpleeval.FeatureNotAvailable("This function is forbidden")
            return item

        return self._charged(look_up)

    def _subscript(self, node: ast.Subscript) -> Node:
        container, key = self.node(node.value), self.node(node.slice)
        return self._charged(lambda run: container(run)[key(run)])

    def _tuple(self, node: ast.Tuple) -> Node:
        items = [self.node(item) for item in node.elts]

        def build(run: Run) -> Any:
            value = tuple(item(run) for item in items)
            check_size(value)
            return value

        return self._charged(build)

    def _list(self, node: ast.List) -> Node:
        items = [self.node(item) for item in node.elts]

        def build(run: Run) -> Any:
            value = [item(run) for item in items]
            check_size(value)
            return value

        return self._charged(build)
