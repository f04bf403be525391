"""A filter operand read by its field's fast path (without marshmallow) is what the field's
input field reads: the same value and type, or the same refusal, for every field type and a
table of operands (texts as a query string sends them, and Python values)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from configured_fixtures import configured
from every_field_type import every_type_entity

OPERANDS: list[Any] = [
    "12.5", " 7 ", "7", "-0", "0.10", "1e3", "1E-3", "abc", "1_000", "12.", ".5", "+3",
    "2026-11-24", "2026-11-24T10:30:00+02:00", "true", "False", "yes", "red", "ann@acme.example",
    "https://acme.example", "+372 555-0101", "Ann", "٣", "Infinity", "NaN", "1e400", "x" * 300,
    7, -3, 0, True, False, None, 1.5, Decimal("2.50"), {"amount": "3", "currency": "EUR"},
]  # fmt: skip


@configured
def things(factory):  # type: ignore[no-untyped-def]
    every_type_entity(factory)


def _parsed(f: Any, raw: Any, model: Any) -> Any:
    try:
        value = f.type.parse_scalar(f, raw, model)
    except ValueError as error:
        return ("refused", str(error))
    return (type(value), value, str(value))


def test_the_fast_operand_is_the_input_fields(things, runtime) -> None:  # type: ignore[no-untyped-def]
    with runtime.transaction(read_only=True) as session:
        model = runtime.model(session)
    fields = model.entities["thing"].fields
    fast_ones = 0
    for key, f in fields.items():
        for raw in OPERANDS:
            fast = _parsed(f, raw, model)
            f.__dict__["operand_fast"] = None  # the input field's deserialize only
            try:
                slow = _parsed(f, raw, model)
            finally:
                del f.__dict__["operand_fast"]
            assert fast == slow, (key, raw)
        fast_ones += f.operand_fast is not None
    assert fast_ones >= 8  # text-like, numbers, money, yes/no, dates, options have one
