"""Plain columns (``trellis.metamodel.fieldtypes.plain_columns``): a batch's column of plain
inputs loaded at once must give exactly what each value's row loader gives, with no problem,
and anything a screen is not sure of must go value by value. Checked three ways: every
input of the field-type table of ``test_input_loaders`` and many generated ones, alone and
in mixed columns, against the row loader; the common inputs of an import do take the plain
columns; and a batch of creates through the record service reports and stores what single
creates do, odd values among plain ones included."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_create_many import _create_problems, _stored, shop  # noqa: F401 (a fixture)
from test_input_loaders import CASES, thing_of

from trellis.metamodel.changes import Errors
from trellis.records.service import RowsInvalid

#: the types whose fields name a list or a target in their settings
LISTED = ("list", "multi_list", "reference")
#: field key -> (type, options): the settings of ``test_input_loaders`` and the defaults, and
#: a few more that bound or shape the screens (places, digits, bounds, a pattern)
FIELDS: dict[str, tuple[str, dict[str, Any]]] = {
    **{f"{name}_cased": (name, options) for name, (options, _inputs) in CASES.items()},
    **{f"{name}_plain": (name, {}) for name in CASES if name not in LISTED},
    "list_plain": ("list", {"settings": {"list": "colour"}}),
    "multi_list_plain": ("multi_list", {"settings": {"list": "colour"}}),
    "reference_plain": ("reference", {"settings": {"target": "other"}}),
    "short": ("text", {"settings": {"max_length": 3}}),
    "coded": ("text", {"settings": {"pattern": "[A-Z]+"}}),
    "whole": ("decimal", {"settings": {"precision": 5, "scale": 0, "min": "-10"}}),
    "fine": ("decimal", {"settings": {"precision": 20, "scale": 6}}),
    "narrow": ("decimal", {"settings": {"precision": 2, "scale": 2}}),
    "cents": ("money", {"settings": {"scale": 0, "default_currency": "USD", "min": 0}}),
    "bounded": ("integer", {"settings": {"min": -5, "max": 5}}),
}

#: the common inputs of each type as an import gives them: each column must load at once
COMMON: dict[str, list[Any]] = {
    "text": ["Ann", "  Bob Tamm ", "Record 12"],
    "long_text": ["line 1\nline 2", " indented", "Some notes"],
    "integer": ["12", "-3", "0", 7],
    "decimal": ["12.25", "0.5", "-3", "1000"],
    "money": [{"amount": "12.50", "currency": "EUR"}, {"amount": "3"}, {"amount": "1.5"}],
    "boolean": [True, False],
    "date": ["2026-11-24", "2024-02-29"],
    "email": ["ann@acme.example", " user12@example.com ", "a.b+c@mail.example.co"],
    "list": ["red", "blue"],
}

TEXTS = st.text(alphabet=st.sampled_from("aZ9 _-.+@\n\t\x00\u00a0\u0663é'\"[]"), max_size=12)
NUMBER_TEXTS = st.from_regex(r"[ +-]?[0-9]{0,22}(\.[0-9]{0,8})?([eE]-?[0-9])?[ ]?", fullmatch=True)
EMAILS = st.from_regex(
    r"[ ]?[a-zA-Z0-9_.+\-\"]{0,8}@[a-zA-Z0-9\-.\u00fc]{0,12}\.?[a-z]{0,7}[ ]?", fullmatch=True
)
INPUTS = {
    "text": TEXTS,
    "long_text": TEXTS,
    "email": EMAILS | TEXTS,
    "integer": NUMBER_TEXTS | st.integers(-(2**64), 2**64),
    "decimal": NUMBER_TEXTS | st.integers(-(10**6), 10**6),
    "money": st.fixed_dictionaries(
        {"amount": NUMBER_TEXTS},
        optional={"currency": st.sampled_from(["EUR", "USD", "GBP", "eur", "", None, "EU"])},
    ),
    "boolean": st.booleans() | st.sampled_from(["yes", 1, None]),
    "date": st.dates().map(str) | st.sampled_from(["2026-02-30", "20261124", "2026-W48-2"]),
    "list": st.sampled_from(["red", "blue", "retired", "purple", "", "RED"]),
}


@pytest.fixture
def thing(factory, runtime):  # type: ignore[no-untyped-def]
    return thing_of(factory, runtime, FIELDS)


def row_loaded(f: Any, value: Any, model: Any) -> tuple[Any, str] | None:
    """What the row loader gives for ``value``: (value, its repr) when it loads with no
    problem left, else None."""
    try:
        loaded, problems = f.type.new_value_loader(f)(value, model)
    except Exception:  # (a refusal)
        return None
    return None if problems is None or list(problems) else (loaded, repr(loaded))


def assert_plain_is_exact(f: Any, column: list[Any], model: Any) -> bool:
    """A plain column of ``column`` gives each value's row-loaded value; whether it took it."""
    screen = f.type.plain_column(f)
    loaded = None if screen is None else screen(list(column), model)
    if loaded is None:
        return False
    assert len(loaded) == len(column), (f.key, column)
    for value, got in zip(column, loaded, strict=True):
        assert row_loaded(f, value, model) == (got, repr(got)), (f.key, value, got)
    return True


def test_every_table_input_alone_and_mixed_loads_as_its_row_loader(thing) -> None:  # type: ignore[no-untyped-def]
    entity, model = thing
    taken = set()
    for f in entity.fields.values():
        inputs = [*CASES[f.type.name][1], *COMMON.get(f.type.name, [])]
        for value in inputs:
            if assert_plain_is_exact(f, [value], model):
                taken.add(f.type.name)
        for seed in range(30):  # mixed columns: plain only when every value is
            column = random.Random(seed).choices(inputs, k=5)
            assert_plain_is_exact(f, column, model)
        assert_plain_is_exact(f, inputs, model)
    assert taken == set(COMMON)


def test_the_common_inputs_of_an_import_take_the_plain_columns(thing) -> None:  # type: ignore[no-untyped-def]
    entity, model = thing
    for key, f in entity.fields.items():
        common = COMMON.get(f.type.name)
        if common is None or key in ("coded", "short", "narrow", "whole", "cents", "bounded"):
            assert common is not None or f.type.plain_column(f) is None, key
            continue
        if key == "integer_cased":
            common = ["1", 2, "10"]  # (its bounds are 0..10)
        if key == "text_cased" or key == "long_text_cased":
            continue  # (a pattern; a length of 5 or 10)
        if key == "money_cased":
            common = [{"amount": "12.50", "currency": "USD"}, {"amount": "3"}]
        column = [v for v in common if type(v) is type(common[0])]  # (one form per column)
        assert assert_plain_is_exact(f, column, model), (key, column)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_generated_columns_load_as_their_row_loaders(thing, data) -> None:  # type: ignore[no-untyped-def]
    entity, model = thing
    for key, f in entity.fields.items():
        strategy = INPUTS.get(f.type.name)
        if strategy is None:
            assert f.type.plain_column(f) is None, key  # (no screen: value by value)
            continue
        column = data.draw(st.lists(strategy, min_size=1, max_size=4), label=key)
        assert_plain_is_exact(f, column, model)


def test_a_column_with_a_problem_goes_value_by_value(thing) -> None:  # type: ignore[no-untyped-def]
    entity, model = thing
    f = entity.fields["decimal_plain"]
    screen = f.type.plain_column(f)
    assert screen(["1.25", "2"], model) == [Decimal("1.25"), Decimal("2.00")]
    for odd in ("1.234", "1e3", " 1", "9" * 17, "", "1.", "+1"):
        assert screen(["1.25", odd], model) is None, odd
    assert (
        entity.fields["list_plain"].type.plain_column(entity.fields["list_plain"])(
            ["red", "retired"], model
        )
        is None
    )  # (a retired option is refused unless the record had it)


@pytest.mark.usefixtures("shop")  # (test_create_many's item_a and item_b, defined alike)
def test_a_batch_of_plain_and_odd_values_reports_and_stores_as_single_creates(runtime) -> None:  # type: ignore[no-untyped-def]
    rows = [
        {
            "name": f" Item {i} ",
            "code": f"C-{i}",
            "notes": f"notes {i}\nmore",
            "quantity": str(i * 7),
            "rate": f"{i}.5",
            "price": {"amount": f"{i}.25", "currency": "USD" if i % 2 else "EUR"},
            "active": i % 3 == 0,
            "due": f"2026-11-{i % 28 + 1:02d}",
            "email": f"user{i}@example.com",
            "status": "won" if i % 2 else "open",
        }
        for i in range(40)
    ]
    with runtime.transaction() as session:
        singles = [runtime.records(session).create("item_a", row) for row in rows]
    with runtime.transaction() as session:
        batch = runtime.records(session).create_many("item_b", rows)
    assert [r.values for r in batch] == [r.values for r in singles]
    assert _stored(runtime, "item_b", [r.id for r in batch]) == _stored(
        runtime, "item_a", [r.id for r in singles]
    )
    # odd values among plain ones: each refused record as create refuses it, in order
    odd = {
        3: {"quantity": "-1"},
        7: {"rate": "1.234", "due": "2026-02-30"},
        11: {"email": "nope", "quantity": "70"},
        12: {"status": "gone", "price": {"amount": "1", "currency": "GBP"}},
        20: {"name": "   ", "notes": "\x00"},
        25: {"code": "C-24"},  # (taken by row 24 of the batch)
    }
    mixed = [{**row, "code": f"D-{i}", **odd.get(i, {})} for i, row in enumerate(rows)]
    mixed[25]["code"] = "D-24"
    with runtime.transaction() as session, pytest.raises(RowsInvalid) as failure:
        runtime.records(session).create_many("item_b", mixed)
    expected = {
        i: _create_problems(runtime, "item_b", mixed[i], before=[mixed[24]] if i == 25 else [])
        for i in odd
    }
    assert failure.value.rows == expected
    assert all(expected.values())


def test_load_new_many_gives_each_record_what_load_new_gives_in_its_keys_order(thing) -> None:  # type: ignore[no-untyped-def]
    entity, model = thing
    loader = entity.input_loader
    knowns = [
        {"text_plain": "a", "integer_plain": "1", "date_plain": "2026-01-02"},
        {"integer_plain": 2, "text_plain": " b ", "date_plain": "2026-01-03"},  # other order
        {"text_plain": "c"},  # fewer keys
        {"text_plain": "d", "integer_plain": "x", "date_plain": "2026-01-04"},  # a problem
        {"text_plain": "e", "nope": 1},  # a key that is no field
        {"text_plain": "f", "integer_plain": "3", "date_plain": "2026-01-05"},
        {"text_plain": "g", "multi_list_plain": ["red"]},  # checked after loading
    ]
    loaded = loader.load_new_many(knowns, model)
    assert [i for i, values in enumerate(loaded) if values is None] == [3, 4, 6]
    for known, values in zip(knowns, loaded, strict=True):
        if values is None:
            continue
        checked: dict[str, Any] = {}
        single = loader.load_new(known, model, Errors(), checked)
        assert checked == {}
        assert list(values.items()) == list(single.items())
        assert [repr(v) for v in values.values()] == [repr(v) for v in single.values()]
