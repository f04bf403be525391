"""Every field type, table-driven: its columns, a round trip, the input it refuses (with a
message under its key), and each of its filter operators, on a real database."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import inspect

from trellis.accounts import create_user
from trellis.errors import BadRequest, ValidationFailed
from trellis.metamodel.fieldtypes import Money, registry
from trellis.metamodel.fieldtypes.operators import ALL_OPERATORS
from trellis.records.query import Filter

# type -> (options for the field, columns it makes, good input, value read back, bad inputs)
CASES: dict[str, tuple[dict[str, Any], set[str], Any, Any, list[Any]]] = {
    "text": ({"settings": {"max_length": 5}}, {"x"}, "abc", "abc", ["toolong", 12, "a\nb"]),
    "long_text": ({}, {"x"}, "line 1\nline 2", "line 1\nline 2", [["list"]]),
    "integer": ({"settings": {"min": 0, "max": 10}}, {"x"}, "7", 7, [1.5, "abc", True, 11, -1]),
    "decimal": (
        {"settings": {"precision": 6, "scale": 2}},
        {"x"},
        "12.5",
        Decimal("12.50"),
        ["1.234", "abc", "NaN", "12345.6", True],
    ),
    "money": (
        {"settings": {"currencies": ["EUR", "USD"]}},
        {"x_amount", "x_currency"},
        {"amount": "12.50", "currency": "USD"},
        Money(Decimal("12.50"), "USD"),
        [
            {"amount": "1", "currency": "GBP"},
            {"amount": "1", "currency": "eu"},
            {"amount": "x"},
            "1.001",
            {"sum": 1},
        ],
    ),
    "boolean": ({}, {"x"}, "yes", True, ["maybe", 2]),
    "date": ({}, {"x"}, "2026-11-24", date(2026, 11, 24), ["24.11.2026", "2026-02-30", 5]),
    "datetime": (
        {},
        {"x"},
        "2026-11-24T10:30:00+02:00",
        datetime(2026, 11, 24, 8, 30, tzinfo=UTC),
        ["yesterday", "2026-13-01T00:00:00"],
    ),
    "email": ({}, {"x"}, "ann@acme.example", "ann@acme.example", ["not-an-email", "a@"]),
    "phone": ({}, {"x"}, "+372 555-0101", "+372 555-0101", ["call me", "12"]),
    "url": (
        {},
        {"x"},
        "https://acme.example/a?b=1",
        "https://acme.example/a?b=1",
        ["javascript:alert(1)", "acme"],
    ),
    "list": ({"settings": {"list": "colour"}}, {"x"}, "red", "red", ["purple", 5]),
    "multi_list": (
        {"settings": {"list": "colour"}},
        set(),
        ["red", "blue"],
        ("red", "blue"),
        [["red", "red"], ["pink"], "red"],
    ),
    "reference": ({"settings": {"target": "other"}}, {"x_id"}, None, None, [0, "abc", 999]),
    "user": ({}, {"x_id"}, None, None, [0, "nobody", 999, True, ["ann"]]),
}


@pytest.fixture
def typed(factory):  # type: ignore[no-untyped-def]
    """An entity type ``thing`` with one field ``x`` of the type under test."""

    def make(type_name: str) -> None:
        factory.entity(
            "other", {"name": "text"}, title="{name}", lists={"colour": ["red", "green", "blue"]}
        )
        factory.entity("thing", {"label": "text", "x": (type_name, CASES[type_name][0])})

    return make


def test_every_registered_type_is_covered() -> None:
    assert set(CASES) == set(registry.names())


@pytest.mark.parametrize("type_name", sorted(CASES))
def test_columns_round_trip_and_refusals(typed, factory, runtime, type_name: str) -> None:  # type: ignore[no-untyped-def]
    typed(type_name)
    _options, columns, good, read_back, bad_inputs = CASES[type_name]
    real = {c["name"] for c in inspect(runtime.engine).get_columns("rec_thing")}
    assert columns <= real
    if type_name == "multi_list":
        assert "rec_thing__x" in inspect(runtime.engine).get_table_names()
    if type_name == "reference":
        good = read_back = factory.record("other", name="Target").id
    if type_name == "user":
        with runtime.transaction() as session:
            read_back = create_user(session, "ann", "ann-password-long", ["user"]).id
        good = "ann"  # or the id
    created = factory.record("thing", label="one", x=good)
    assert factory.records("get", "thing", created.id).values["x"] == read_back
    for bad in bad_inputs:
        with pytest.raises(ValidationFailed) as failure:
            factory.record("thing", label="bad", x=bad)
        assert list(failure.value.errors) == ["x"], (bad, failure.value.errors)
    assert factory.records("list", "thing").total == 1  # nothing bad was stored


def test_a_settings_problem_is_reported_under_settings(factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("thing", {"label": "text"})
    for type_name, settings in [
        ("text", {"max_length": "long"}),
        ("text", {"pattern": "("}),
        ("decimal", {"precision": 4, "scale": 6}),
        ("money", {"currencies": ["euro"]}),
        ("list", {"list": "missing"}),
        ("reference", {"target": "missing"}),
        ("integer", {"min": 5, "max": 1}),
        ("boolean", {"unknown": 1}),
    ]:
        with pytest.raises(ValidationFailed) as failure:
            factory.meta("add_field", "thing", "y", "Y", type_name, settings=settings)
        assert "settings" in failure.value.errors, (type_name, settings)


def test_an_unknown_type_is_refused(factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("thing", {"label": "text"})
    with pytest.raises(ValidationFailed) as failure:
        factory.meta("add_field", "thing", "y", "Y", "colour")
    assert "Unknown field type 'colour'" in failure.value.errors["type"][0]


# type -> [(op, operand, expected labels)] on records a/b/c with values below
FILTER_DATA: dict[str, tuple[list[Any], list[tuple[str, Any, set[str]]]]] = {
    "text": (
        ["apple", "berry", None],
        [
            ("eq", "apple", {"a"}),
            ("ne", "apple", {"b", "c"}),
            ("contains", "ER", {"b"}),
            ("in", "apple,berry", {"a", "b"}),
            ("isnull", "true", {"c"}),
            ("gt", "b", {"b"}),
            ("lt", "b", {"a"}),
            ("gte", "berry", {"b"}),
            ("lte", "apple", {"a"}),
        ],
    ),
    "integer": (
        [1, 5, None],
        [
            ("eq", "5", {"b"}),
            ("gt", "1", {"b"}),
            ("gte", "1", {"a", "b"}),
            ("lt", "5", {"a"}),
            ("lte", "5", {"a", "b"}),
            ("in", "1,5", {"a", "b"}),
            ("isnull", "false", {"a", "b"}),
            ("ne", "1", {"b", "c"}),
        ],
    ),
    "decimal": (
        ["1.50", "2.25", None],
        [("gt", "1.5", {"b"}), ("lte", "2.25", {"a", "b"}), ("eq", "1.5", {"a"})],
    ),
    "money": (
        [{"amount": "10", "currency": "EUR"}, {"amount": "20", "currency": "EUR"}, None],
        [
            ("gte", "15", {"b"}),
            ("lt", "15", {"a"}),
            ("isnull", "true", {"c"}),
        ],
    ),
    "boolean": (
        [True, False, None],
        [
            ("eq", "true", {"a"}),
            ("eq", "false", {"b"}),
            ("isnull", "true", {"c"}),
            ("ne", "true", {"b", "c"}),
        ],
    ),
    "date": (
        ["2026-01-01", "2026-06-01", None],
        [
            ("gt", "2026-03-01", {"b"}),
            ("lte", "2026-01-01", {"a"}),
            ("in", "2026-01-01,2026-06-01", {"a", "b"}),
        ],
    ),
    "datetime": (
        ["2026-01-01T00:00:00Z", "2026-06-01T12:00:00Z", None],
        [("gte", "2026-06-01T12:00:00+00:00", {"b"}), ("lt", "2026-02-01T00:00:00Z", {"a"})],
    ),
    "email": (
        ["a@x.example", "b@y.example", None],
        [("contains", "@Y.", {"b"}), ("eq", "a@x.example", {"a"})],
    ),
    "phone": (["+372 1111", "5555 22", None], [("contains", "1111", {"a"})]),
    "url": (["https://a.example", "https://b.example", None], [("contains", "b.ex", {"b"})]),
    "long_text": (
        ["first line", "second", None],
        [("contains", "LINE", {"a"}), ("isnull", "true", {"c"})],
    ),
    "list": (
        ["red", "blue", None],
        [
            ("eq", "red", {"a"}),
            ("in", "red,blue", {"a", "b"}),
            ("ne", "red", {"b", "c"}),
            ("isnull", "true", {"c"}),
        ],
    ),
    "multi_list": (
        [["red", "green"], ["blue"], None],
        [
            ("contains", "green", {"a"}),
            ("in", "blue,green", {"a", "b"}),
            ("isnull", "true", {"c"}),
            ("isnull", "false", {"a", "b"}),
        ],
    ),
}


@pytest.mark.parametrize("type_name", sorted(FILTER_DATA))
def test_filter_operators(typed, factory, type_name: str) -> None:  # type: ignore[no-untyped-def]
    typed(type_name)
    values, checks = FILTER_DATA[type_name]
    for label, value in zip("abc", values, strict=True):
        factory.record("thing", label=label, **({} if value is None else {"x": value}))
    for op, operand, expected in checks:
        page = factory.records("list", "thing", filters=[Filter("x", op, operand)])
        assert {r.values["label"] for r in page.items} == expected, (op, operand)
        assert page.total == len(expected)
    supported = registry.get(type_name).operators
    unsupported = [op for op in ALL_OPERATORS if op not in supported]
    for op in unsupported:
        with pytest.raises(BadRequest):
            factory.records("list", "thing", filters=[Filter("x", op, "1")])
    with pytest.raises(BadRequest):
        factory.records("list", "thing", filters=[Filter("x", "between", "1")])


def test_reference_filters_and_titles(factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("company", {"name": "text"}, title="{name}")
    factory.entity(
        "person", {"name": "text", "company": ("reference", {"settings": {"target": "company"}})}
    )
    acme = factory.record("company", name="Acme")
    globex = factory.record("company", name="Globex")
    factory.record("person", name="Ann", company=acme.id)
    factory.record("person", name="Bob", company=globex.id)
    factory.record("person", name="Cid")

    def names(*filters: Filter) -> set[str]:
        return {
            r.values["name"] for r in factory.records("list", "person", filters=list(filters)).items
        }

    assert names(Filter("company", "eq", str(acme.id))) == {"Ann"}
    assert names(Filter("company", "in", f"{acme.id},{globex.id}")) == {"Ann", "Bob"}
    assert names(Filter("company", "isnull", "true")) == {"Cid"}
    assert factory.records("titles", "company", [acme.id, globex.id, 999]) == {
        acme.id: "Acme",
        globex.id: "Globex",
    }


def test_search_covers_searchable_fields_only(factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("thing", {"label": "text", "note": "long_text", "mail": "email", "n": "integer"})
    factory.record("thing", label="Alpha", note="about bananas", mail="x@fruit.example", n=42)
    factory.record("thing", label="Beta", note="nothing", mail="y@veg.example", n=7)

    def found(q: str) -> set[str]:
        return {r.values["label"] for r in factory.records("list", "thing", q=q).items}

    assert found("banana") == {"Alpha"}
    assert found("VEG") == {"Beta"}
    assert found("alp") == {"Alpha"}
    assert found("42") == set()  # numbers are not text-searched
    assert found("100%") == set()  # LIKE wildcards are escaped
