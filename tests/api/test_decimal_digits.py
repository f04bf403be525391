"""What a decimal or money field holds is the same on SQLite and PostgreSQL: its declared
digits and places, and at most 15 significant digits (what SQLite, which keeps such a
number as a double, gives back exactly). Such a value reads back exactly as written, fitted
to the field's places, alone, listed and found by a filter; a value with more significant
digits is refused with a problem for its field, never stored to come back as another number
(SQLite) or only on one database (PostgreSQL)."""

from __future__ import annotations

from decimal import Context, Decimal
from typing import Any

import pytest
from api_helpers import assert_problem
from configured_fixtures import configured

from trellis.metamodel.fieldtypes.decimal_number import MAX_SIGNIFICANT_DIGITS

FIELDS = {
    "plain": ("decimal", {}),  # precision 18, scale 2
    "fine": ("decimal", {"settings": {"precision": 38, "scale": 18}}),
    "whole": ("decimal", {"settings": {"precision": 38, "scale": 0}}),
    "price": ("money", {"settings": {"precision": 38, "scale": 6}}),
}
PLACES = {"plain": 2, "fine": 18, "whole": 0, "price": 6}

#: (field, value written): each within the field's digits and 15 significant digits
STORABLE = [
    ("plain", "9999999999999.99"),
    ("plain", "-1234567890123.45"),
    ("plain", "12.5"),
    ("fine", "0.1"),
    ("fine", "0.123456789012345"),
    ("fine", "123456789012345"),
    ("fine", "-0.000000000000000001"),
    ("whole", "100000000000000000000000000000000000"),  # 36 digits, one significant
    ("whole", "123456789012345000000"),
    ("price", "123456789.012345"),
    ("price", "1E+30"),
]

#: (field, value written): within the field's digits, but more than 15 significant digits
TOO_PRECISE = [
    ("plain", "1234567890123456.78"),
    ("plain", "99999999999999.99"),
    ("fine", "0.1234567890123456"),
    ("whole", "1234567890123456"),
    ("price", "1234567890.123456"),
]


@configured
def numbers(factory):  # type: ignore[no-untyped-def]
    factory.entity("num", {"name": "text", **FIELDS}, title="{name}")
    return factory


def _body(key: str, value: str) -> dict[str, Any]:
    return {key: {"amount": value, "currency": "EUR"} if key == "price" else value}


def _text(key: str, value: str) -> Any:
    """What the API gives back for ``value`` written to ``key``: the same number with the
    field's places."""
    number = str(Decimal(value).quantize(Decimal(1).scaleb(-PLACES[key]), context=Context(prec=60)))
    return {"amount": number, "currency": "EUR"} if key == "price" else number


def test_the_limit_is_fifteen_significant_digits() -> None:
    assert MAX_SIGNIFICANT_DIGITS == 15


@pytest.mark.parametrize(("key", "value"), STORABLE)
def test_a_value_within_the_digits_reads_back_exactly(numbers, admin, key, value) -> None:  # type: ignore[no-untyped-def]
    created = admin.ok("POST", "/api/records/num", {"name": "n", **_body(key, value)}, 201)
    wanted = _text(key, value)
    assert created[key] == wanted
    alone = admin.ok("GET", f"/api/records/num/{created['id']}")
    assert alone[key] == wanted
    (listed,) = admin.ok("GET", "/api/records/num")["items"]
    assert listed[key] == wanted
    column = f"{key}__gte" if key == "price" else key
    operand = wanted["amount"] if key == "price" else wanted
    found = admin.ok("GET", f"/api/records/num?{column}={operand}")["items"]
    assert [r["id"] for r in found] == [created["id"]]
    changed = admin.ok("PATCH", f"/api/records/num/{created['id']}", {"version": 1, "name": "m"})
    assert changed[key] == wanted  # a write of another field leaves it as it is


@pytest.mark.parametrize(("key", "value"), TOO_PRECISE)
def test_more_significant_digits_are_refused_for_the_field(numbers, admin, key, value) -> None:  # type: ignore[no-untyped-def]
    refused = admin.post("/api/records/num", json={"name": "n", **_body(key, value)})
    body = assert_problem(refused, 422, key)
    assert body["errors"] == {key: ["At most 15 significant digits."]}
    created = admin.ok("POST", "/api/records/num", {"name": "n"}, 201)
    patched = admin.patch(
        f"/api/records/num/{created['id']}", json={"version": 1, **_body(key, value)}
    )
    assert assert_problem(patched, 422, key)["errors"] == {key: ["At most 15 significant digits."]}
    assert admin.ok("GET", f"/api/records/num/{created['id']}")[key] is None
    assert admin.ok("GET", "/api/records/num")["total"] == 1
