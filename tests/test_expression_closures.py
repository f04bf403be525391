"""Compiled expressions (closures) evaluate exactly as simpleeval's walk does: the same value
or the same error with the same message, on the rule corpus of the test suite and on
generated expressions; the same work budget and limits; deep nesting keeps simpleeval."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from test_expressions import (
    EMPTY_VALUE_CASES,
    FUNCTION_CASES,
    HUGE_RESULTS,
    NAMES_AND_FUNCTIONS,
    RUNTIME_FAILURES,
)

from trellis.expression_closures import MAX_CLOSURE_DEPTH
from trellis.expressions import ExpressionError, ExpressionRuntimeError, compile_expression

NAMES = ["amount", "name", "tags", "due", "moment", "flag", "quantity", "rate", "email"]
VALUE_SETS: list[dict[str, Any]] = [
    {
        "amount": Decimal("15000.50"),
        "name": "Acme Ltd",
        "tags": ("vip", "eu"),
        "due": date(2026, 11, 24),
        "moment": datetime(2026, 11, 24, 12, 0, tzinfo=UTC),
        "flag": True,
        "quantity": 60,
        "rate": Decimal("-1.25"),
        "email": "a@b.example",
    },
    {},  # every name empty
    {"amount": Decimal("0"), "name": "  ", "tags": (), "quantity": 0, "flag": False},
    {"amount": 7, "name": "x" * 600, "tags": ("a",) * 40, "quantity": -3, "rate": 2.5},
    {"name": 12, "tags": "not a tuple", "due": "2026-01-01", "amount": "12"},
]

#: the expressions the test suite and the shipped configuration use (rules, conditions,
#: conversion and action expressions; tests/test_expressions.py's tables of cases), and
#: those built to hit the limits
CORPUS = [
    *(source for source, expected in FUNCTION_CASES if expected is not None),
    *(source for source, _value, _holds in EMPTY_VALUE_CASES),
    *HUGE_RESULTS,
    *RUNTIME_FAILURES,
    NAMES_AND_FUNCTIONS,
    "len([tags] * 5000) > 0",
    "len([[1] * 4000, [1] * 4000, [1] * 4000]) > 0",
    " + ".join(["len([1] * 9000)"] * 12) + " > 0",
    "len([1] * 9000) > 0",
    "'big: ' + name",
    "'now ' + str(amount)",
    "0.5",
    "amount * 2",
    "len(name) * 'x'",
    "name",
    "upper(name) + '!'",
    "amount is None or amount > 0",
    "amount is None or amount >= 0",
    "quantity > 0",
    "quantity is None or quantity > 0",
    "len(name) <= 5",
    "len(name) > 1",
    "quantity is None or amount is None or quantity <= amount * 100000",
    "amount is not None or not is_empty(email)",
    "due >= date(2020, 1, 1) and amount < 1000000",
    "due is None or due >= date(2020, 1, 1)",
    "not (is_empty(name) and is_empty(email))",
    "rate is None or rate >= 0",
    "quantity > 50",
    "email != ''",
    "amount > 1000",
    "amount >= 100",
    "flag",
    "tags[0]",
    "tags[5]",
    "name[0]",
    "name.title().strip()",
    "name.upper",
    "amount.lower()",
    "tags.lower()",
    "len",
    "[len, lower]",
    "(1, (2, (3, tags)))",
    "1 < quantity < 100 < amount",
    "1 < 2 > 0 == 0",
    "quantity if flag else -quantity",
    "not flag",
    "+amount",
    "-rate",
    "count(tags, 'vip') + count(None, 1)",
    "count(name, 'x')",
    "min(tags)",
    "max(tags, tags)",
    "quantity % 7 // 2",
    "amount / 3",
    "2.5 * amount",
    "rate ** 2",
    "quantity ** 0.5",
    "1e308 * 10",
    "[1, 2] + [3]",
    "(1,) * 3",
    "'x' in name",
    "'x' not in tags",
    "None in tags",
    "name is not None and name.endswith('Ltd')",
]


def _outcome(evaluate: Any, values: dict[str, Any]) -> tuple[Any, ...]:
    try:
        result = evaluate(values)
    except ExpressionRuntimeError as exc:
        return ("error", type(exc).__name__, exc.message)
    return ("value", type(result).__name__, repr(result))


def _same(source: str, value_sets: list[dict[str, Any]] = VALUE_SETS) -> int:
    """Compare both evaluators on each value set; how many outcomes were compared."""
    try:
        compiled = compile_expression(source, NAMES)
    except ExpressionError:
        return 0
    for values in value_sets:
        by_closures = _outcome(compiled.evaluate, values)
        by_simpleeval = _outcome(compiled.evaluate_by_simpleeval, values)
        assert by_closures == by_simpleeval, (source, values)
        assert compiled.holds(values) is _holds_by_simpleeval(compiled, values), source
    return len(value_sets)


def _holds_by_simpleeval(compiled: Any, values: dict[str, Any]) -> bool:
    try:
        return bool(compiled.evaluate_by_simpleeval(values))
    except ExpressionRuntimeError:
        return False


@pytest.mark.parametrize("source", CORPUS)
def test_the_corpus_evaluates_as_simpleeval_does(source: str) -> None:
    assert _same(source)
    assert compile_expression(source, NAMES)._run is not None  # by closures, not the fallback


COMPARISONS = ["<", "<=", ">", ">=", "==", "!=", "in", "not in", "is", "is not"]


def _generated(rng: random.Random, depth: int = 0) -> str:
    """A random expression over the language's names, constants, operators and functions."""
    leaves = [
        *NAMES,
        "missing_name_is_refused",
        "0",
        "1",
        "2.5",
        "-3",
        "'x'",
        "'Acme'",
        "None",
        "True",
        "False",
        "1000",
    ]
    if depth > 3 or rng.random() < 0.3:
        return rng.choice(leaves)
    a, b = _generated(rng, depth + 1), _generated(rng, depth + 1)
    shapes = [
        f"({a}) {rng.choice(['+', '-', '*', '/', '//', '%', '**'])} ({b})",
        f"({a}) {rng.choice(COMPARISONS)} ({b})",
        f"({a}) < ({b}) <= ({_generated(rng, depth + 1)})",
        f"({a}) {rng.choice(['and', 'or'])} ({b})",
        f"not ({a})",
        f"-({a})",
        f"({a}) if ({b}) else ({_generated(rng, depth + 1)})",
        f"{rng.choice(['len', 'is_empty', 'lower', 'upper', 'abs', 'str', 'int', 'year'])}({a})",
        f"{rng.choice(['min', 'max', 'contains', 'count', 'add_days', 'days_between'])}({a}, {b})",
        f"({a}).{rng.choice(['lower', 'upper', 'strip', 'title'])}()",
        f"({a}).startswith({b})",
        f"[{a}, {b}]",
        f"({a}, {b})",
        f"({a})[{rng.choice([0, 1, -1])}]",
        f"[{a}] * {rng.choice([2, 100])}",
    ]
    return rng.choice(shapes)


def test_generated_expressions_evaluate_as_simpleeval_does() -> None:
    rng = random.Random(12)
    compared = sum(_same(_generated(rng)) for _ in range(1500))
    assert compared > 2500  # most generated expressions compile


def test_the_work_budget_is_spent_as_simpleeval_spends_it() -> None:
    """Right under and right over the budget, both evaluators agree (lists charged per item,
    nested ones again at each level)."""
    for count in (10, 11, 12):
        assert _same(" + ".join(["len([1] * 9000)"] * count) + " > 0", VALUE_SETS[:1])
    for count in (5, 6, 7):  # 200 tuples of 40 options each, walked item by item
        assert _same(" + ".join(["len([tags, tags] * 100)"] * count), VALUE_SETS[3:4])


def test_an_expression_nested_too_deep_keeps_simpleeval_s_outcome() -> None:
    shallow = "-" * (MAX_CLOSURE_DEPTH - 5) + "quantity"
    deep = "-" * 400 + "quantity"
    assert compile_expression(shallow, NAMES)._run is not None
    compiled = compile_expression(deep, NAMES)
    assert compiled._run is None
    assert _outcome(compiled.evaluate, {"quantity": 2}) == _outcome(
        compiled.evaluate_by_simpleeval, {"quantity": 2}
    )
