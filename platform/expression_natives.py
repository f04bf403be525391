"""Simple expressions as one native Python function each, for the record checks' rules and
conditions (``rate is None or rate >= 0``, ``quantity > 50 and status == 'won'``).

An expression made only of names, short constants of the plain kinds (and tuples or lists of
them), comparisons, ``and``, ``or``, ``not`` and a sign before a constant can do nothing the
budget or the result checks of :mod:`trellis.expression_closures` would stop, as long as the
values of its names are of the plain kinds too: each of its nodes costs one unit of the
budget (far fewer than :data:`MAX_OPERATIONS`), and no value it makes is larger than one it
was given. Such an expression is compiled once into one Python function of the values that
calls the same operator functions (``OPERATORS``) in the same order, with Python's own
``and``/``or`` (which the closures' ``all_of``/``any_of`` reproduce): the same result or
the same exception, without a closure call and a budget check per node. A comparison chain
(``0 < x < 10``) becomes the ``and`` of its comparisons, as the closures' chain stops at the
first false one; its operands are names or constants, so reading one twice changes nothing.

:meth:`trellis.expressions.CompiledExpression.holds` runs the native function, which first
looks at the kinds of its names' values: for a value of another kind (a tuple of choices, an
object), which the closures inspect, it gives :data:`OTHER_KINDS` and the closures run. A
differential test compares the two on generated expressions and values.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from typing import Any

import simpleeval

from trellis.expression_builtins import MAX_OPERATIONS, OPERATORS
from trellis.expression_closures import PLAIN_KINDS

#: the most nodes an expression compiled natively may have (each is one unit of the budget)
MAX_NODES = 200
assert MAX_NODES < MAX_OPERATIONS
#: the kinds of constants a native expression may hold
_CONSTANT_KINDS = frozenset({int, float, str, bool, type(None)})

Native = Callable[[Mapping[str, Any]], Any]


class OtherKinds:
    """What a native function gives when a name's value is not of the plain kinds."""


#: (the one :class:`OtherKinds`)
OTHER_KINDS = OtherKinds()


class _NotSimple(Exception):
    pass


def native(tree: ast.AST, names_used: frozenset[str]) -> Native | None:
    """The checked expression ``tree`` (its body, as ``compile_expression`` keeps it) as
    one function of the values by name, or None when it is not simple (see the module
    docstring)."""
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        return None
    scope: dict[str, Any] = {
        "__builtins__": {},
        "_type": type,
        "_plain": PLAIN_KINDS,
        "_other": OTHER_KINDS,
    }
    try:
        body = _Converter(names_used, scope).convert(tree)
    except _NotSimple:
        return None
    # a value of another kind than the plain ones: OTHER_KINDS (the closures inspect it)
    kinds = [
        ast.Compare(
            ast.Call(ast.Name("_type", ast.Load()), [_value_of(name)], []),
            [ast.NotIn()],
            [ast.Name("_plain", ast.Load())],
        )
        for name in sorted(names_used)
    ]
    if kinds:
        test = kinds[0] if len(kinds) == 1 else ast.BoolOp(ast.Or(), kinds)
        body = ast.IfExp(test, ast.Name("_other", ast.Load()), body)
    function = ast.Lambda(
        args=ast.arguments(
            posonlyargs=[],
            args=[ast.arg(arg="_get")],
            kwonlyargs=[],
            kw_defaults=[],
            defaults=[],
        ),
        body=body,
    )
    code = compile(ast.fix_missing_locations(ast.Expression(body=function)), "<rule>", "eval")
    evaluate = eval(code, scope)  # (the tree of the nodes above, built here)

    def run(values: Mapping[str, Any]) -> Any:
        return evaluate(values.get)

    return run


def _kept(node: ast.AST) -> bool:
    """Whether ``node``'s value is the same object natively as in the closures: a name's
    value, or None, True or False (the compiled code holds one object for equal constants
    written in the expression, the closures one per node)."""
    if isinstance(node, ast.Constant):
        return node.value is None or node.value is True or node.value is False
    return isinstance(node, ast.Name)


def _value_of(name: str) -> ast.expr:
    """``_get(name)``: the value of a name (None for a missing one, as in the closures)."""
    return ast.Call(ast.Name("_get", ast.Load()), [ast.Constant(name)], [])


class _Converter:
    """The nodes of a simple expression as the nodes of the native function's body."""

    def __init__(self, names_used: frozenset[str], scope: dict[str, Any]) -> None:
        self.names_used = names_used
        self.scope = scope

    def convert(self, node: ast.AST) -> ast.expr:
        if isinstance(node, ast.Name):
            if node.id not in self.names_used:  # (a function named without calling it)
                raise _NotSimple
            return _value_of(node.id)
        if isinstance(node, ast.Constant):
            return self._constant(node)
        if isinstance(node, ast.Tuple | ast.List):
            items = [self._constant(item) for item in node.elts]
            return type(node)(items, ast.Load())
        if isinstance(node, ast.BoolOp) and node.values:
            return ast.BoolOp(node.op, [self.convert(value) for value in node.values])
        if isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, ast.Not) and not isinstance(node.operand, ast.Constant):
                raise _NotSimple  # (a sign before a name: arithmetic, left to the closures)
            return self._call(type(node.op), self.convert(node.operand))
        if isinstance(node, ast.Compare):
            nodes = [node.left, *node.comparators]
            for op, left, right in zip(node.ops, nodes, nodes[1:], strict=False):
                if isinstance(op, ast.Is | ast.IsNot) and not (_kept(left) and _kept(right)):
                    raise _NotSimple  # (the identity of a constant the code holds once)
            operands = [self.convert(item) for item in nodes]
            calls = [
                self._call(type(op), left, right)
                for op, left, right in zip(node.ops, operands, operands[1:], strict=False)
            ]
            return calls[0] if len(calls) == 1 else ast.BoolOp(ast.And(), calls)
        raise _NotSimple

    def _constant(self, node: ast.AST) -> ast.expr:
        if not isinstance(node, ast.Constant) or type(node.value) not in _CONSTANT_KINDS:
            raise _NotSimple
        value = node.value
        if isinstance(value, str) and len(value) > simpleeval.MAX_STRING_LENGTH:
            raise _NotSimple  # (the closures refuse it when it is evaluated)
        return ast.Constant(value)

    def _call(self, op: type, *arguments: ast.expr) -> ast.expr:
        function = OPERATORS.get(op)
        if function is None:
            raise _NotSimple
        name = f"_{op.__name__}"
        self.scope[name] = function
        return ast.Call(ast.Name(name, ast.Load()), list(arguments), [])
