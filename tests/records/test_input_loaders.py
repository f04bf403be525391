"""A write loads its input values through each compiled entity type's input loader
(``trellis.metamodel.loading``: per field, the type's fast path for the common inputs, its
marshmallow input field for the others). For every field type, a table of good and bad
inputs: the loaded value (type and places too), the refusal messages and the value checks'
problems are what the code before the loaders gave, which is spelled out here as the
reference: the input field's full ``deserialize`` (each refusal reported as the record
service reported it), then ``normalise``, then ``value_errors`` with no old value. The same
inputs through the record service: a create reports or stores what the reference says."""

from __future__ import annotations

from collections import UserDict
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import marshmallow as ma
import pytest

from trellis.errors import ValidationFailed
from trellis.metamodel.fieldtypes import registry
from trellis.metamodel.fieldtypes.input_fields import (
    SLOW,
    InputRefused,
    StrictInteger,
    TrimmedString,
    fast_input_of,
    input_messages,
)


class Text(str):
    """A subclass of str: not the fast path's ``str``, the input field's own way."""


class Number(int):
    """A subclass of int, likewise."""


SPACES = ["", "   ", " \t\n", "\u00a0x\u00a0"]
NOT_SCALARS = [[], ["a"], {}, {"key": "x"}, b"bytes", b"\xff", Text(" sub "), Number(3), 1.5]
NUMBER_TEXTS = [
    "0",
    " 12 ",
    "-0012",
    "+7",
    "1e3",
    "1E+2",
    "12.345",
    "12.5",
    ".5",
    "5.",
    "1,5",
    "0x10",
    "1_000",
    "\u0663",  # an Arabic-Indic digit
    "NaN",
    "Infinity",
    "1e400",
    "1e-400",
    "9" * 25,
    "-" + "9" * 19,
    "9223372036854775807",
    "9223372036854775808",
]
NUMBERS = [0, 1, -1, 7, 11, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 10**120, 2.0, 0.1, 1e300]
NUMBERS += [float("nan"), float("inf"), True, False, Decimal("1.5")]

# type -> (options of the field, inputs: good and bad; None is added to each)
CASES: dict[str, tuple[dict[str, Any], list[Any]]] = {
    "text": (
        {"settings": {"max_length": 5, "pattern": "[A-Za-z ]*", "pattern_message": "Letters."}},
        ["abc", "  ab  ", "toolong", "a1", "a\nb", "a\x00b", 12, *SPACES, *NOT_SCALARS],
    ),
    "long_text": (
        {"settings": {"max_length": 10}},
        ["line 1\nline 2", " keep ", "x" * 11, "nul\x00", 5, *SPACES, *NOT_SCALARS],
    ),
    "integer": ({"settings": {"min": 0, "max": 10}}, [*NUMBERS, *NUMBER_TEXTS, *NOT_SCALARS]),
    "decimal": (
        {"settings": {"precision": 6, "scale": 2, "min": "-5", "max": 1000}},
        [*NUMBERS, *NUMBER_TEXTS, *SPACES, *NOT_SCALARS, "1.234", "-6", "1000.01", "12345"],
    ),
    "money": (
        {"settings": {"currencies": ["EUR", "USD"], "max": 100, "precision": 8}},
        [
            {"amount": "12.50", "currency": "USD"},
            {"amount": "12.5"},
            {"amount": 5, "currency": ""},
            {"amount": "1", "currency": None},
            {"amount": None},
            {"amount": None, "currency": "GBP"},
            {"amount": "1", "currency": "GBP"},
            {"amount": "1", "currency": "eur"},
            {"amount": "1", "currency": "EU"},
            {"amount": "1", "currency": 5},
            {"amount": "x"},
            {"amount": "1.234"},
            {"amount": "101"},
            {"amount": "1e400"},
            {"amount": True},
            {"amount": 1.5},
            {"amount": "1", "note": "x"},
            {"sum": 1},
            UserDict({"amount": "3", "currency": "USD"}),
            *NUMBERS,
            *NUMBER_TEXTS,
            *SPACES,
            "12.50 EUR",
        ],
    ),
    "boolean": ({}, [True, False, "yes", "on", "off", "0", 0, 1, 1.0, 2, "maybe", *SPACES, []]),
    "date": (
        {},
        [
            "2026-11-24",
            "20261124",
            "2026-W48-2",
            "2026-02-30",
            "24.11.2026",
            "2026-11-24T10:00",
            date(2026, 1, 2),
            datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
            5,
            *SPACES,
            *NOT_SCALARS,
        ],
    ),
    "datetime": (
        {},
        [
            "2026-11-24T10:30:00+02:00",
            "2026-11-24 10:30",
            "2026-11-24",
            "yesterday",
            "9999-12-31T23:00-05:00",
            datetime(2026, 1, 2, 3, 4),
            5,
            *SPACES,
        ],
    ),
    "email": (
        {},
        [
            "ann@acme.example",
            " ann@acme.example ",
            "not-an-email",
            "a@",
            "a@b",
            "a" * 300 + "@b.example",
            "  " + "a" * 242 + "@b.example  ",
            "a" * 243 + "@b.example",
            "ann@localhost",
            "ann@b\u00fccher.example",
            '"ann tamm"@acme.example',
            "a@b@acme.example",
            "ann@[127.0.0.1]",
            "ann@-acme.example",
            "ann.@acme.example",
            *SPACES,
            *NOT_SCALARS,
            7,
        ],
    ),
    "phone": (
        {},
        [
            *("+372 555-0101", " 555 0101 ", "+1 (555) 010/0101", "call me", "12", "+"),
            *("\u0663" * 5, "555 0101\n", *SPACES, 5551234),
        ],
    ),
    "url": (
        {},
        [
            "https://acme.example/a?b=1",
            " http://localhost:8000 ",
            "javascript:alert(1)",
            "acme",
            "ftp://acme.example",
            "https://" + "a" * 2000 + ".example",
            *SPACES,
            3,
        ],
    ),
    "list": (
        {"settings": {"list": "colour"}},
        ["red", "retired", "purple", "", {"key": "blue"}, {"id": 1}, *NOT_SCALARS, 5, True],
    ),
    "multi_list": (
        {"settings": {"list": "colour"}},
        [["red", "blue"], ["red", "red"], [], "red", ["red", 5], [None], ["retired"], 3],
    ),
    "reference": (
        {"settings": {"target": "other"}},
        [1, 2, 0, -1, "1", " 2 ", "#1", "abc", {"id": 1}, True, 1.0, 2**63, Number(1), []],
    ),
    "user": ({}, [1, "1", "#1", "ann", " ann ", 0, True, 2**31, "x" * 200, ["ann"], {"id": 1}]),
}


def reported(exc: ma.ValidationError) -> list[str]:
    """A refusal as the record service reported it for the field before the loaders (its
    ``_by_field`` of the input field's messages)."""
    messages = exc.messages
    if isinstance(messages, dict):
        return input_messages(ma.ValidationError(messages))
    if isinstance(messages, list):
        return [str(m) for m in messages]
    return [str(messages)]


def checked_later(f: Any) -> bool:
    """The types whose value checks run after loading (put in order, or resolved)."""
    return f.type.side_table(f, "") is not None or f.type.name == "user"


def reference(f: Any, value: Any, model: Any, *, new: bool) -> tuple[Any, ...]:
    """What a create (``new``) or an update did with ``value`` before the loaders."""
    try:
        loaded = f.type.input_field(f, model).deserialize(value, f.key, {f.key: value})
    except ma.ValidationError as exc:
        return ("refused", reported(exc))
    normalised = f.type.normalise(f, loaded)
    if not new or checked_later(f):
        return ("value", normalised, repr(normalised))
    problems = f.type.value_errors(f, normalised, None, model)
    return ("value", normalised, repr(normalised), problems)


def outcome(f: Any, value: Any, model: Any, *, new: bool) -> tuple[Any, ...]:
    """What the field type's loader gives for ``value``, in the reference's terms."""
    try:
        if not new:
            loaded = f.type.value_loader(f)(value)
            return ("value", loaded, repr(loaded))
        loaded, problems = f.type.new_value_loader(f)(value, model)
    except InputRefused as refused:
        return ("refused", refused.messages)
    if checked_later(f):
        assert problems is None
        return ("value", loaded, repr(loaded))
    return ("value", loaded, repr(loaded), list(problems))


def thing_of(factory, runtime, fields: dict[str, Any]) -> tuple[Any, Any]:  # type: ignore[no-untyped-def]
    """The entity type ``thing`` with ``fields`` (and ``other``, the target of references,
    with the option list ``colour``: red, green, blue and the retired option ``retired``):
    its compiled form and the model."""
    factory.entity(
        "other",
        {"name": "text"},
        title="{name}",
        lists={"colour": ["red", "green", "blue", "retired"]},
    )
    factory.meta("update_option", "colour", "retired", active=False)
    factory.entity("thing", fields)
    factory.record("other", name="First")
    with runtime.transaction() as session:
        model = runtime.model(session)
        return model.entities["thing"], model


@pytest.fixture
def thing(factory, runtime):  # type: ignore[no-untyped-def]
    return thing_of(factory, runtime, {t: (t, CASES[t][0]) for t in sorted(CASES)})


def test_the_cases_cover_every_field_type() -> None:
    assert set(CASES) == set(registry.names())


def test_each_types_loader_gives_what_the_input_field_normalise_and_checks_gave(thing) -> None:  # type: ignore[no-untyped-def]
    entity, model = thing
    fast = 0
    for key, f in entity.fields.items():
        quick = f.type.fast_input(f)
        for value in [*CASES[key][1], None]:
            for new in (True, False):
                expected = reference(f, value, model, new=new)
                assert outcome(f, value, model, new=new) == expected, (key, value, new)
            if quick is not None and quick(value) is not SLOW:
                fast += 1
    # the common inputs of every type but the multiple-choice, date-and-time and user ones
    # take the fast path
    assert fast > 100
    took_fast = {
        key
        for key, f in entity.fields.items()
        if (quick := f.type.fast_input(f)) is not None
        and any(quick(v) is not SLOW for v in CASES[key][1])
    }
    assert took_fast == set(CASES) - {"multi_list", "datetime", "user"}


def test_a_create_reports_and_stores_what_the_reference_says(factory, thing) -> None:  # type: ignore[no-untyped-def]
    """Each input alone through ``RecordService.create``: refused with the reference's
    messages (or its value checks' problems), or stored as the loaded value."""
    entity, model = thing
    for key, f in entity.fields.items():
        for value in CASES[key][1]:
            expected = reference(f, value, model, new=True)
            try:
                record = factory.record("thing", **{key: value})
            except ValidationFailed as failure:
                errors = failure.errors
                if expected[0] == "refused":
                    assert errors == {key: expected[1]}, (key, value)
                else:  # the value checks (or, for users and references, the lookups)
                    assert set(errors) == {key}, (key, value)
                    if expected[3:4] == ([],):  # a record looked up
                        assert key == "reference", (key, value)
                    elif len(expected) == 4:
                        assert errors[key] == expected[3], (key, value)
                    else:  # checked after loading (in order, or resolved)
                        assert checked_later(f), (key, value)
                continue
            assert expected[0] == "value" and expected[3:] in ((), ([],)), (key, value)
            if key != "multi_list" and key != "user":
                assert record.values[key] == expected[1], (key, value)


def test_fast_paths_are_only_taken_by_the_fields_they_were_written_for() -> None:
    """A subclass of a platform input field with its own ``_deserialize`` (or a field with
    load hooks) goes its own way: no fast path is inherited."""

    class Shouting(TrimmedString):
        def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
            return super()._deserialize(value, attr, data, **kwargs).upper()

    class Doubled(StrictInteger):
        def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
            return 2 * super()._deserialize(value, attr, data, **kwargs)

    assert fast_input_of(Shouting(allow_none=True)) is None
    assert fast_input_of(Doubled(allow_none=True)) is None
    assert fast_input_of(TrimmedString(allow_none=True, pre_load=[str.lower])) is None
    assert fast_input_of(TrimmedString(allow_none=False)) is None
    assert fast_input_of(TrimmedString(allow_none=True))(" a ") == "a"
    assert fast_input_of(ma.fields.Boolean(allow_none=True, truthy={0, True})) is not None
    assert fast_input_of(ma.fields.Boolean(allow_none=True, truthy={0, True}))(False) is SLOW


def test_a_refused_create_reports_every_problem_at_once_as_before(factory, thing) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationFailed) as failure:
        factory.record(
            "thing",
            text="a1",
            long_text=5,
            integer="11",
            decimal="1.234",
            money={"amount": "1", "currency": "GBP"},
            boolean="maybe",
            date="24.11.2026",
            email=" a@ ",
            list="retired",
            multi_list=["red", "red"],
            reference=0,
            nope=1,
        )
    assert failure.value.errors == {
        "nope": ["Unknown field."],
        "long_text": ["Not a valid string."],
        "boolean": ["Not a valid boolean."],
        "date": ["Not a date: use year-month-day, e.g. 2026-03-31."],
        "email": ["Not a valid e-mail."],
        "reference": ["Not a record id."],
        "decimal": ["At most 2 decimal places."],
        "integer": ["Must be at most 10."],
        "list": ["Option 'Retired' is retired and cannot be chosen any more."],
        "money": ["currency: must be one of EUR, USD."],
        "multi_list": ["An option is chosen twice."],
        "text": ["Letters."],
    }
