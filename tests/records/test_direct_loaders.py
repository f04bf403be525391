"""The field types' loaders fall back on direct loaders (``direct_loader``: a field's own
``_deserialize`` and validators without marshmallow's per-call machinery) for the inputs
their fast paths leave alone: every value, and every refusal message, is what the field's
``deserialize`` gives, for each field type, good inputs and bad ones. (The loaders
themselves: test_input_loaders.py.)"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import marshmallow as ma
import pytest

from trellis.errors import ValidationFailed
from trellis.metamodel.fieldtypes import registry
from trellis.metamodel.fieldtypes.base import Money
from trellis.metamodel.fieldtypes.input_fields import direct_loader


class Text(str):
    """A subclass of str (goes marshmallow's own way, not the fast one for ``str``)."""


# type -> (options of the field, inputs: good and bad, None always among them)
CASES: dict[str, tuple[dict[str, Any], list[Any]]] = {
    "text": (
        {"settings": {"max_length": 5}},
        ["abc", "  padded ", "", "toolong", 12, "a\nb", b"bytes", b"\xff", Text(" sub ")],
    ),
    "long_text": ({}, ["line 1\nline 2", ["list"]]),
    "integer": ({"settings": {"min": 0, "max": 10}}, ["7", " 12 ", 3.0, 1.5, "abc", True, 2**63]),
    "decimal": (
        {"settings": {"precision": 6, "scale": 2, "min": "-5", "max": 1000}},
        ["12.5", 0.1, "1.234", "abc", "NaN", "1e400", "Infinity", True],
    ),
    "money": (
        {"settings": {"currencies": ["EUR", "USD"], "max": 100}},
        [
            {"amount": "12.50", "currency": "USD"},
            5,
            {"amount": None},
            {"amount": "1", "currency": None},
            {"amount": "1", "currency": "eu"},
            {"amount": "x"},
            {"sum": 1},
        ],
    ),
    "boolean": ({}, ["yes", "on", 0, "maybe", 2]),
    "date": ({}, ["2026-11-24", "24.11.2026", "2026-02-30", 5]),
    "datetime": ({}, ["2026-11-24T10:30:00+02:00", "yesterday", "2026-13-01T00:00:00"]),
    "email": (
        {},
        [
            "ann@acme.example",
            " ann@acme.example ",
            "not-an-email",
            "a@",
            7,
            b"a@b.example",
            "a" * 300 + "@b.example",
            "  " + "a" * 250 + "@b.example  ",
        ],
    ),
    "phone": ({}, ["+372 555-0101", "call me", "12"]),
    "url": ({}, ["https://acme.example/a?b=1", "javascript:alert(1)", "acme"]),
    "list": ({"settings": {"list": "colour"}}, ["red", {"key": "red"}, "purple", 5]),
    "multi_list": ({"settings": {"list": "colour"}}, [["red", "blue"], [], "red", ["red", 5]]),
    "reference": ({"settings": {"target": "other"}}, [1, 0, "abc", True]),
    "user": ({}, [1, "ann", 0, True, ["ann"]]),
}


def _direct(thing: Any) -> dict[str, Any]:
    """Each field's direct loader (what a field type's loader falls back to)."""
    return {key: direct_loader(f) for key, f in thing.input_schema.fields.items()}


def _outcome(load: Any, value: Any, key: str, data: Any) -> tuple[str, Any]:
    try:
        return "value", load(value, key, data)
    except ma.ValidationError as exc:
        return "refused", exc.messages


@pytest.fixture
def thing(factory, runtime):  # type: ignore[no-untyped-def]
    factory.entity(
        "other", {"name": "text"}, title="{name}", lists={"colour": ["red", "green", "blue"]}
    )
    factory.entity("thing", {t: (t, CASES[t][0]) for t in sorted(CASES)})
    with runtime.transaction() as session:
        return runtime.model(session).entities["thing"]


def test_each_types_direct_loader_gives_what_deserialize_gives(thing) -> None:  # type: ignore[no-untyped-def]
    assert set(_direct(thing)) == set(registry.names())
    for key, field in thing.input_schema.fields.items():
        for value in [*CASES[key][1], None]:
            data = {key: value}
            direct = _outcome(_direct(thing)[key], value, key, data)
            full = _outcome(field.deserialize, value, key, data)
            assert direct == full, (key, value)


def test_a_refused_create_reports_what_it_reported_before(factory, thing) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationFailed) as failure:
        factory.record(
            "thing", text="toolong", integer=1.5, decimal="NaN", money={"sum": 1}, email="a@"
        )
    assert failure.value.errors == {
        "text": ["At most 5 characters (7 given)."],
        "integer": ["Not a whole number."],
        "decimal": ["Not a finite number."],
        "money": ['Expected {"amount": "12.50", "currency": "EUR"}.'],
        "email": ["Not a valid e-mail."],
    }


#: values (as loaded) the value checks meet, by type, besides the loaded inputs above
CHECKED: dict[str, list[Any]] = {
    "text": ["x" * 6, "a\nb", "nul\x00", ""],
    "long_text": ["x" * 100_001, "nul\x00", "two\nlines"],
    "integer": [-1, 0, 10, 11],
    "decimal": [Decimal("1.234"), Decimal("12345.6"), Decimal("-6"), Decimal("1000.01")],
    "money": [
        Money(Decimal("1.234"), "EUR"),
        Money(Decimal("100.01"), "USD"),
        Money(Decimal("5"), "GBP"),
        Money(None, "EUR"),
    ],
    "email": ["a" * 300 + "@b.example"],
}


def test_each_types_value_checker_gives_what_value_errors_gives(thing, runtime) -> None:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        model = runtime.model(session)
    for key, f in thing.fields.items():
        loaded = []
        for value in [*CASES[key][1], None]:
            outcome = _outcome(_direct(thing)[key], value, key, {key: value})
            if outcome[0] == "value":
                loaded.append(f.type.normalise(f, outcome[1]))
        checker = thing.value_hooks.checkers.get(key)
        for value in [*loaded, *CHECKED.get(key, [])]:
            expected = f.type.value_errors(f, value, None, model)
            got = [] if checker is None else checker(value, None, model)
            assert got == expected, (key, value)


#: loaded values the fused checks of decimal and money meet besides the above: places they
#: fit to, too many digits for the context, the finest number, negative zero
FITTED: dict[str, list[Any]] = {
    "decimal": [
        Decimal("12"),
        Decimal("-0.0"),
        Decimal("9999.999"),
        Decimal("1E+2"),
        Decimal("1E-101"),
        Decimal("9" * 40),
        Decimal("-5.001"),
    ],
    "money": [
        Money(Decimal("12"), "EUR"),
        Money(Decimal("1E+2"), "USD"),
        Money(Decimal("9" * 40), "EUR"),
        Money(Decimal("100.001"), "GBP"),
        Money(Decimal("101"), "GBP"),
        Money(None, "GBP"),
    ],
}


def test_each_types_new_value_check_gives_what_normalise_and_value_checker_give(
    thing, runtime
) -> None:  # type: ignore[no-untyped-def]
    """A create normalises and checks each loaded value in one call (``new_value_check``,
    decimal's and money's fused): the value and the problems are what ``normalise`` and then
    the value checker give."""
    with runtime.transaction() as session:
        model = runtime.model(session)
    fused = 0
    for key, f in thing.fields.items():
        loaded = []
        for value in [*CASES[key][1], None]:
            outcome = _outcome(_direct(thing)[key], value, key, {key: value})
            if outcome[0] == "value":
                loaded.append(outcome[1])
        check = f.type.new_value_check(f)
        checker = thing.value_hooks.checkers.get(key)
        for value in [*loaded, *CHECKED.get(key, []), *FITTED.get(key, [])]:
            normalised = f.type.normalise(f, value)
            expected = (normalised, [] if checker is None else checker(normalised, None, model))
            if check is None:
                assert expected == (value, []), (key, value)
                continue
            got = check(value, model)
            assert (got[0], list(got[1])) == expected, (key, value)
            assert repr(got[0]) == repr(expected[0]), (key, value)  # type and places too
            fused += 1
    assert fused > 40
