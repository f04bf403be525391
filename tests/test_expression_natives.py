"""Simple expressions run as one native function (``trellis.expression_natives``): for
every generated expression of names, constants, comparisons (chained too), ``and``, ``or``,
``not``, signs and tuples of constants, and for every set of values, ``holds`` gives what
the closures and simpleeval give; values of other kinds (a tuple of choices) go to the
closures; anything else (arithmetic, calls, a sign before a name) is not compiled natively."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal
from typing import Any

from test_expression_closures import CORPUS, NAMES, VALUE_SETS, _holds_by_simpleeval

from trellis.expression_natives import OTHER_KINDS
from trellis.expressions import ExpressionError, compile_expression

PLAIN_SETS: list[dict[str, Any]] = [
    *VALUE_SETS,
    {"amount": Decimal("-0.5"), "quantity": 51, "name": "Acme", "rate": 0.0, "flag": None},
    {"amount": 3, "quantity": Decimal("3"), "name": "", "due": date(2020, 1, 1), "rate": None},
    {"name": "x", "email": "x", "quantity": True, "amount": 1.5, "tags": "x"},
]
LEAVES = [*NAMES, "0", "1", "2.5", "-3", "+4", "'x'", "'Acme'", "''", "None", "True", "False"]
COMPARISONS = ["<", "<=", ">", ">=", "==", "!=", "in", "not in", "is", "is not"]


def _simple(rng: random.Random, depth: int = 0) -> str:
    if depth > 3 or rng.random() < 0.3:
        return rng.choice(LEAVES)
    a, b = _simple(rng, depth + 1), _simple(rng, depth + 1)
    shapes = [
        f"({a}) {rng.choice(COMPARISONS)} ({b})",
        f"({a}) {rng.choice(COMPARISONS)} ({b}) {rng.choice(COMPARISONS)} ({rng.choice(LEAVES)})",
        f"({a}) {rng.choice(['and', 'or'])} ({b})",
        f"({a}) and ({b}) or ({_simple(rng, depth + 1)})",
        f"not ({a})",
        f"{rng.choice(LEAVES)} in ('x', 1, None, 2.5)",
        f"{rng.choice(LEAVES)} not in ['Acme', 0]",
    ]
    return rng.choice(shapes)


def test_simple_expressions_hold_as_the_closures_and_simpleeval_say() -> None:
    rng = random.Random(7)
    natives = 0
    for _ in range(3000):
        source = _simple(rng)
        try:
            compiled = compile_expression(source, NAMES)
        except ExpressionError:
            continue
        natives += compiled._native is not None
        for values in PLAIN_SETS:
            expected = _holds_by_simpleeval(compiled, values)
            assert compiled.holds_by_closures(values) is expected, (source, values)
            assert compiled.holds(values) is expected, (source, values)
    assert natives > 2500  # (nearly all of them are compiled natively)


def test_values_of_other_kinds_go_to_the_closures() -> None:
    compiled = compile_expression("'vip' in tags or quantity > 5", NAMES)
    assert compiled._native is not None
    assert compiled._native({"tags": ("vip",), "quantity": 1}) is OTHER_KINDS
    assert compiled.holds({"tags": ("vip",), "quantity": 1}) is True
    assert compiled.holds({"tags": "vip", "quantity": 1}) is True  # (a text: natively)
    assert compiled._native({"tags": "no", "quantity": 9}) is True


def test_only_simple_expressions_are_compiled_natively() -> None:
    simple = ["rate is None or rate >= 0", "0 < quantity <= 10", "not flag", "name == 'x'"]
    for source in simple:
        assert compile_expression(source, NAMES)._native is not None, source
    others = ["amount * 2 > 10", "-quantity < 0", "len(name) > 2", "name.lower() == 'x'"]
    others += ["(quantity if flag else 0) > 1", "[quantity][0] > 1", "(1, quantity) == (1, 2)"]
    others += ["'" + "x" * 200_000 + "' == name", "('a b' or name) is ('a b' or name)"]
    for source in others:
        try:
            compiled = compile_expression(source, NAMES)
        except ExpressionError:
            continue
        assert compiled._native is None, source
    corpus_natives = sum(compile_expression(s, NAMES)._native is not None for s in CORPUS)
    assert 0 < corpus_natives < len(CORPUS)
