"""Inputs built to take the server's time are checked in linear time or refused
(issue 9 items 7 and 8): a long money cell in an import, an administrator's pattern that
backtracks, a rule that builds nested repeated lists."""

from __future__ import annotations

import time

import pytest

from trellis.accounts import SYSTEM
from trellis.errors import ValidationFailed
from trellis.expressions import (
    ExpressionError,
    ExpressionRuntimeError,
    compile_expression,
)
from trellis.records.importer import import_csv

#: generous: each of these took 2 to 10 seconds before
QUICK = 1.0


def test_a_long_money_cell_is_read_in_linear_time(factory, runtime) -> None:  # type: ignore[no-untyped-def]
    factory.entity("deal", {"name": "text", "amount": "money"})
    content = "name,amount\nx,1" + " " * 30000 + '!\ny,"EUR 1\u00a0200,50"\n'
    started = time.monotonic()
    with runtime.transaction() as session:
        report = import_csv(runtime.records(session, SYSTEM), "deal", content, dry_run=True)
    assert time.monotonic() - started < QUICK
    assert list(report.errors) == ["row 2"] and "amount" in report.errors["row 2"]
    with runtime.transaction() as session:
        report = import_csv(
            runtime.records(session, SYSTEM), "deal", 'amount\n"EUR 1\u00a0200,50"\n'
        )
    assert report.ok
    assert factory.records("get", "deal", report.created[0]).values["amount"].amount == 1200.50


def test_a_backtracking_pattern_is_checked_in_linear_time(factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("part", {"code": ("text", {"settings": {"pattern": r"([A-Za-z0-9]+)+-\d+"}})})
    started = time.monotonic()
    with pytest.raises(ValidationFailed) as failure:
        factory.record("part", code="a" * 26 + "!")
    assert time.monotonic() - started < QUICK
    assert failure.value.errors == {"code": ["Does not match the pattern."]}
    assert factory.record("part", code="abc-12").values["code"] == "abc-12"
    with pytest.raises(ValidationFailed):
        factory.record("part", code="abc-12 x")  # the whole value matches, not a part of it


@pytest.mark.parametrize(
    "pattern", [r"(a+)\1", r"(?=a)\w+", r"(?<!x)y", r"((a{1000}){1000}){1000}", r"[a-"]
)
def test_a_pattern_that_cannot_be_checked_in_linear_time_is_refused_when_saved(
    factory, pattern: str
) -> None:
    factory.entity("part", {"name": "text"})
    with pytest.raises(ValidationFailed) as failure:
        factory.meta("add_field", "part", "code", "Code", "text", settings={"pattern": pattern})
    (message,) = failure.value.errors["settings"]
    assert message.startswith("pattern: not a regular expression this platform can check")
    with pytest.raises(ValidationFailed):
        factory.meta("update_field", "part", "name", settings={"pattern": pattern})


def test_nested_repeated_lists_are_refused_when_a_rule_is_saved(factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("deal", {"name": "text"})
    for expression in (
        "len([[[1] * 10000] * 10000] * 10000) > 0",
        "len([[1] * 10000] * 10000) > 0",
        "len(([1] * 100,) * 100) > 0",
    ):
        with pytest.raises(ValidationFailed) as failure:
            factory.meta("add_rule", "deal", "validation", expression=expression, message="m")
        assert "must not hold another repeated list" in str(failure.value.errors)


@pytest.mark.parametrize(
    "source",
    [
        "len([tags] * 5000) > 0",  # 5000 lists of 3 option keys: 20000 items in all
        "len([[1] * 4000, [1] * 4000, [1] * 4000]) > 0",
        " + ".join(["len([1] * 9000)"] * 12) + " > 0",
    ],
)
def test_evaluation_has_a_size_and_an_operation_budget(source: str) -> None:
    expression = compile_expression(source, ["tags"])
    started = time.monotonic()
    with pytest.raises(ExpressionRuntimeError):
        expression.evaluate({"tags": ("a", "b", "c")})
    assert time.monotonic() - started < QUICK
    assert compile_expression("len([1] * 9000) > 0", []).holds({})


def test_an_expression_error_is_a_value_error_for_the_administrator() -> None:
    with pytest.raises(ExpressionError):
        compile_expression("[[0] * 2] * 2", [])


@pytest.mark.parametrize(
    ("type_name", "value", "limit"),
    [
        ("email", "a@" + "a." * 300_000 + "!", 254),
        ("url", "http://" + "a." * 300_000 + "!", 2000),
    ],
)
def test_an_overlong_address_is_refused_before_any_pattern_reads_it(
    factory, type_name: str, value: str, limit: int
) -> None:
    factory.entity("contact", {"address": type_name})
    started = time.monotonic()
    with pytest.raises(ValidationFailed) as failure:
        factory.record("contact", address=value)
    assert time.monotonic() - started < QUICK
    assert failure.value.errors == {"address": [f"At most {limit} characters."]}


def test_a_long_typed_reference_is_resolved_in_linear_time(factory, runtime) -> None:  # type: ignore[no-untyped-def]
    from trellis.records.titles import records_titled

    factory.entity("contact", {"name": "text"}, title="{name}")
    ann = factory.record("contact", name="Ann")
    with runtime.transaction() as session:
        service = runtime.records(session, SYSTEM)
        started = time.monotonic()
        assert records_titled(service, "contact", "a" + " " * 30000 + "x") == []
        assert time.monotonic() - started < QUICK
        assert records_titled(service, "contact", f"Ann  (#{ann.id})") == [ann.id]
