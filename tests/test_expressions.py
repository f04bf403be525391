"""The expression language: checked when compiled, guarded when evaluated, table-driven."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from trellis.expressions import (
    FUNCTION_DOCS,
    FUNCTIONS,
    MAX_EXPRESSION_LENGTH,
    ExpressionError,
    ExpressionRuntimeError,
    compile_expression,
)

NAMES = ["amount", "name", "tags", "due", "moment", "flag"]
VALUES = {
    "amount": Decimal("15000.50"),
    "name": "Acme Ltd",
    "tags": ("vip", "eu"),
    "due": date(2026, 11, 24),
    "moment": datetime(2026, 11, 24, 12, 0, tzinfo=UTC),
    "flag": True,
}

#: expressions with what they evaluate to on VALUES (None: refused when compiled); the
#: closures' parity corpus (tests/test_expression_closures.py) takes these tables too
FUNCTION_CASES = [
    ("amount > 10000 and flag", True),
    ("amount * 2 > 30000.5", True),
    ("amount + 0.5 == 15001", True),
    ("len(name)", 8),
    ("len(tags)", 2),
    ("'vip' in tags", True),
    ("contains(name, 'acme')", True),
    ("contains(tags, 'us')", False),
    ("is_empty(name)", False),
    ("lower(name)", "acme ltd"),
    ("upper(name)", "ACME LTD"),
    ("name.lower().startswith('acme')", True),
    ("abs(-3) + min(1, 2) + max(1, 2) + round(2.6)", 9),
    ("int('7') + float('0.5')", 7.5),
    ("str(1) + 'x'", "1x"),
    ("date(2026, 1, 2)", date(2026, 1, 2)),
    ("add_days(due, 7)", date(2026, 12, 1)),
    ("days_between(date(2026, 11, 20), due)", 4),
    ("year(due) * 100 + month(due)", 202611),
    ("day(due)", 24),
    ("add_days(moment, -1).day", None),  # attribute access is refused at compile time
]

#: comparisons of an empty ``amount``, and whether they hold
EMPTY_VALUE_CASES = [
    ("amount > 10000", None, False),
    ("amount < 10000", None, False),
    ("amount >= 0", None, False),
    ("amount is None", None, True),
    ("is_empty(amount)", None, True),
    ("len(amount) == 0", None, True),
    ("contains(amount, 'x')", None, False),
]

#: expressions whose result would be too large to make
HUGE_RESULTS = [
    "9**9**9",
    "4000000**4000000",
    "2**100000",
    "'a' * 10**8",
    "'abc' * 100000",
    "tags * 100000",
    "10**1000 * 10**1000",
    "str(10**50) * 1000",
]

#: expressions that compile but fail when evaluated
RUNTIME_FAILURES = ["name + 5", "int('x')", "date(2026, 13, 1)", "1 / 0", "round(1, 99)"]

#: an expression of functions and names
NAMES_AND_FUNCTIONS = "is_empty(name) or amount > len(tags)"


@pytest.mark.parametrize(("source", "expected"), FUNCTION_CASES)
def test_functions_and_operators(source, expected) -> None:  # type: ignore[no-untyped-def]
    if expected is None:
        with pytest.raises(ExpressionError):
            compile_expression(source, NAMES)
        return
    assert compile_expression(source, NAMES).evaluate(VALUES) == expected


def test_today_and_now() -> None:
    assert compile_expression("today()", []).evaluate({}) == datetime.now(UTC).date()
    now = compile_expression("now()", []).evaluate({})
    assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)


@pytest.mark.parametrize(("source", "value", "holds"), EMPTY_VALUE_CASES)
def test_empty_values_make_comparisons_false_not_errors(source, value, holds) -> None:  # type: ignore[no-untyped-def]
    compiled = compile_expression(source, ["amount"])
    assert compiled.holds({"amount": value}) is holds
    assert compiled.holds({}) is holds  # a missing name is empty too


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "amout > 1",
            "Unknown name 'amout' (known fields: amount, due, flag, moment, name, tags).",
        ),
        ("amount >", "Syntax error"),
        ("", "empty"),
        ("x" * (MAX_EXPRESSION_LENGTH + 1), "longer than"),
        ("open('/etc/passwd')", "Function 'open' is not available."),
        ("__import__('os')", "not available"),
        ("name.__class__", "Attribute '__class__' is not available."),
        ("''.__class__.__mro__", "not available"),
        ("().__class__", "not available"),
        ("name.center(10)", "Only the documented functions"),
        ("name.format(1)", "Only the documented functions"),
        ("(lambda: 1)()", "Only the documented functions"),
        ("(lambda: 1)", "not allowed"),
        ("[x for x in tags]", "not allowed"),
        ("{'a': 1}", "not allowed"),
        ("tags[name]", "constant whole-number index"),
        ("(y := 1)", "not allowed"),
        ("f'{name}'", "not allowed"),
        ("round(amount, ndigits=1)", "Keyword arguments"),
    ],
)
def test_refused_when_compiled_with_a_clear_message(source, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ExpressionError) as failure:
        compile_expression(source, NAMES)
    assert message in failure.value.message


@pytest.mark.parametrize("source", HUGE_RESULTS)
def test_huge_results_fail_fast(source) -> None:  # type: ignore[no-untyped-def]
    compiled = compile_expression(source, NAMES)
    began = time.perf_counter()
    with pytest.raises(ExpressionRuntimeError):
        compiled.evaluate(VALUES)
    assert time.perf_counter() - began < 2  # a hang would be the bug
    assert compiled.holds(VALUES) is False


@pytest.mark.parametrize("source", RUNTIME_FAILURES)
def test_runtime_failures_are_one_kind_of_error(source) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ExpressionRuntimeError):
        compile_expression(source, NAMES).evaluate(VALUES)


def test_names_used_excludes_functions() -> None:
    compiled = compile_expression(NAMES_AND_FUNCTIONS, NAMES)
    assert compiled.names_used == {"name", "amount", "tags"}


def test_every_function_is_documented() -> None:
    assert set(FUNCTIONS) == set(FUNCTION_DOCS)


def test_one_compiled_expression_from_many_threads() -> None:
    compiled = compile_expression("amount * 2", ["amount"])
    results: dict[int, int] = {}

    def work(n: int) -> None:
        for _ in range(2000):
            results[n] = compiled.evaluate({"amount": n})

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {n: n * 2 for n in range(8)}
