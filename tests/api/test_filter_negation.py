"""Filters over records whose value is empty, through the API, on SQLite and PostgreSQL: a
condition on a value (``eq``, ``lt``..., ``in``, ``contains``) never matches an empty value,
and its negation matches every record it does not match, empty ones included: ``ne`` is all
but ``eq``, and ``lt`` with ``gte`` and ``isnull=true`` split the records between them, for
every field type (docs/api.md, "List, filter, sort")."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from configured_fixtures import configured

from trellis.accounts import create_user
from trellis.metamodel.fieldtypes import registry

#: field -> (type, options, value of record "a", value of record "b")
FIELDS: dict[str, tuple[str, dict[str, Any], Any, Any]] = {
    "name": ("text", {}, "apple", "berry"),
    "notes": ("long_text", {}, "first line", "second"),
    "mail": ("email", {}, "a@x.example", "b@y.example"),
    "phone": ("phone", {}, "+372 1111", "5555 22"),
    "site": ("url", {}, "https://a.example", "https://b.example"),
    "count": ("integer", {}, 1, 5),
    "price": ("decimal", {}, "1.50", "2.25"),
    "budget": ("money", {}, {"amount": "10"}, {"amount": "20"}),
    "due": ("date", {}, "2026-01-01", "2026-06-01"),
    "at": ("datetime", {}, "2026-01-01T00:00:00Z", "2026-06-01T12:00:00Z"),
    "done": ("boolean", {}, True, False),
    "kind": ("list", {"settings": {"list": "kind"}}, "bug", "idea"),
    "tags": ("multi_list", {"settings": {"list": "kind"}}, ["bug"], ["idea"]),
    "company": ("reference", {"settings": {"target": "company"}}, "A", "B"),
    "person": ("user", {}, "ann", "bob"),
}
#: each condition and what matches exactly where it does not (together with isnull=true)
OPPOSITES = {"eq": "ne", "ne": "eq", "lt": "gte", "gte": "lt", "gt": "lte", "lte": "gt"}


@configured
def things(factory, runtime):  # type: ignore[no-untyped-def]
    """Records ``a`` and ``b`` with a value in every field, ``c`` and ``d`` with none (``d``
    given empty texts and an empty list)."""
    factory.entity("company", {"name": "text"}, title="{name}")
    factory.entity(
        "thing",
        {"label": "text", **{k: (t, o) for k, (t, o, *_rest) in FIELDS.items()}},
        title="{label}",
        lists={"kind": ["bug", "idea"]},
    )
    with runtime.transaction() as session:
        users = {n: create_user(session, n, f"{n}-password", ["user"]).id for n in ("ann", "bob")}
    companies = {n: factory.record("company", name=n).id for n in ("A", "B")}
    for label, column in (("a", 2), ("b", 3)):
        values: dict[str, Any] = {}
        for key, spec in FIELDS.items():
            value = spec[column]
            if spec[0] == "reference":
                value = companies[value]
            elif spec[0] == "user":
                value = users[value]
            values[key] = value
        factory.record("thing", label=label, **values)
    factory.record("thing", label="c")
    factory.record("thing", label="d", name="", notes="", tags=[])
    return users, companies


def _labels(admin, **filters: str) -> set[str]:  # type: ignore[no-untyped-def]
    query = urlencode({**filters, "per_page": 200})
    return {r["label"] for r in admin.ok("GET", f"/api/records/thing?{query}")["items"]}


ALL = {"a", "b", "c", "d"}


def _operand(things, key: str, which: int) -> str:  # type: ignore[no-untyped-def]
    """Record ``a``'s (0) or ``b``'s (1) value of ``key`` as a filter's operand."""
    _users, companies = things
    kind, _options, *values = FIELDS[key]
    value = values[which]
    if kind == "reference":
        return str(companies[value])
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return str(value["amount"])
    if isinstance(value, list):
        return str(value[0])
    return str(value)


@pytest.mark.parametrize("key", sorted(FIELDS))
def test_empty_values_match_no_condition_on_a_value_and_every_negation(
    things, admin, key: str
) -> None:  # type: ignore[no-untyped-def]
    empty = _labels(admin, **{f"{key}__isnull": "true"})
    assert empty == {"c", "d"}  # an empty text and an empty list are no value either
    assert _labels(admin, **{f"{key}__isnull": "false"}) == {"a", "b"}
    operators = registry.get(FIELDS[key][0]).operators
    for which, (label, other) in enumerate((("a", "b"), ("b", "a"))):
        operand = _operand(things, key, which)
        for op in operators:
            if op == "isnull":
                continue
            found = _labels(admin, **{f"{key}__{op}": operand})
            if op == "ne":
                assert found == {other, *empty}, (key, op, operand)
                continue
            assert not found & empty, (key, op, operand, found)
            if op in ("eq", "in", "contains"):
                assert found == {label}, (key, op, operand)
            opposite = OPPOSITES.get(op)
            if opposite is not None and opposite in operators:
                rest = _labels(admin, **{f"{key}__{opposite}": operand})
                together = found | rest | (empty if "ne" not in (op, opposite) else set())
                assert together == ALL and not found & rest, (key, op, opposite, found, rest)


@pytest.mark.parametrize(("key", "operand"), [("person", "nobody"), ("company", "999999")])
def test_ne_of_what_no_record_holds_is_every_record(things, admin, key: str, operand: str) -> None:  # type: ignore[no-untyped-def]
    """A username no user has, an id no record has: no record's value is it."""
    assert _labels(admin, **{key: operand}) == set()
    assert _labels(admin, **{f"{key}__ne": operand}) == ALL
    assert _labels(admin, **{f"{key}__in": operand}) == set()
